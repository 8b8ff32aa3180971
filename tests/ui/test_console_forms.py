"""The console's forms over HTTP, in-process: adding a connection (the API's model, service and
target checks, errors at the field, secrets never echoed, CSRF) and the settings page (saved
through the API's PATCH path, the README's presets, errors at the field)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from sqlalchemy import select

from app.connections.schemas import ConnectionSettings
from app.connections.service import credentials_of
from app.integrations.targets import TargetPolicy
from app.models import Connection
from app.ui import connections as connections_page
from tests.helpers import ROOT, create_connection
from tests.ui.console import sign_in

SECRETS = {"zoho.client_id": "1000.FORMCLIENT", "zoho.client_secret": "form-client-secret-4711",
           "zoho.refresh_token": "1000.form-refresh-4711", "woocommerce.consumer_key": "ck_form4711",
           "woocommerce.consumer_secret": "cs_form4711", "woocommerce.wp_application_password": "abcd efgh ijkl mnop"}


def add_form(zoho_url: str, woo_url: str, **changes: str | None) -> dict[str, str]:
    """A valid add-connection form; a change of None leaves the field out."""
    form = {"name": "Form store", "zoho.data_center": "eu", "zoho.organization_id": "20020",
            "zoho.api_base_url": zoho_url, "zoho.accounts_base_url": zoho_url, "woocommerce.base_url": woo_url,
            "woocommerce.verify_tls": "true", "woocommerce.wp_username": "editor", **SECRETS}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def invalid_fields(html: str) -> dict[str, str]:
    """Each field marked invalid (by its name) with the text of the message it points to."""
    out: dict[str, str] = {}
    for tag in re.findall(r"<(?:input|select)\b[^>]*>", html):
        if 'aria-invalid="true"' not in tag:
            continue
        name = re.search(r'name="([^"]+)"', tag).group(1)
        described = re.search(r'aria-describedby="([^"]+)"', tag).group(1).split()
        error_id = next(i for i in described if i.startswith("e-"))
        message = re.search(rf'<p class="error" id="{error_id}">(.*?)</p>', html, re.DOTALL)
        out[name] = message.group(1).strip()
    return out


async def stored(ctx) -> list[Connection]:
    async with ctx.sessionmaker() as db:
        return list((await db.scalars(select(Connection))).all())


async def test_a_valid_form_adds_the_connection_and_opens_its_status_page(console, api, ctx, zoho_server, woo_server):
    csrf = await sign_in(console)
    page = await console.get("/ui/")
    assert 'href="#add-connection">Add connection</a>' in page.text and 'id="add-connection"' in page.text
    # Pasted values keep no stray whitespace.
    form = add_form(zoho_server.base_url, woo_server.base_url, name="  Form store ",
                    **{"zoho.refresh_token": " 1000.form-refresh-4711\n"})
    response = await console.post("/ui/connections", data={"csrf": csrf, **form})
    assert response.status_code == 303
    made = (await api.get("/api/v1/connections")).json()
    assert len(made) == 1 and response.headers["location"] == f"/ui/connections/{made[0]['id']}"
    assert made[0]["name"] == "Form store"
    zoho = made[0]["zoho"]
    assert (zoho["organization_id"], zoho["data_center"]) == ("20020", "eu")
    assert zoho["api_base_url"] == zoho["accounts_base_url"] == zoho_server.base_url.rstrip("/")
    assert made[0]["woocommerce"]["base_url"] == woo_server.base_url.rstrip("/")
    assert made[0]["woocommerce"]["verify_tls"] is True and made[0]["woocommerce"]["wp_username"] == "editor"
    assert made[0]["settings"] == ConnectionSettings().model_dump(mode="json")
    [connection] = await stored(ctx)
    credentials = credentials_of(connection, keyring=ctx.keyring)
    assert {k: credentials[k.split(".")[1]] for k in SECRETS} == SECRETS
    assert (await console.get(response.headers["location"])).status_code == 200


async def test_verify_tls_unticked_is_stored_as_off(console, api, zoho_server, woo_server):
    csrf = await sign_in(console)
    form = add_form(zoho_server.base_url, woo_server.base_url, **{"woocommerce.verify_tls": None})
    assert (await console.post("/ui/connections", data={"csrf": csrf, **form})).status_code == 303
    assert (await api.get("/api/v1/connections")).json()[0]["woocommerce"]["verify_tls"] is False


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", None, "Field required"),
    ("name", "x" * 201, "at most 200 characters"),
    ("name", "bad\x00name", "NUL"),
    ("zoho.data_center", "uk", "Input should be"),
    ("zoho.organization_id", "acme org", "should match pattern"),
    ("zoho.client_id", "", "Field required"),
    ("zoho.client_secret", None, "Field required"),
    ("zoho.refresh_token", "   ", "Field required"),
    ("zoho.api_base_url", "not a url", "valid URL"),
    ("zoho.accounts_base_url", "ftp://accounts.example", "URL scheme"),
    ("woocommerce.base_url", None, "Field required"),
    ("woocommerce.consumer_key", "", "Field required"),
    ("woocommerce.consumer_secret", "", "Field required"),
    ("woocommerce.wp_username", "u" * 501, "at most 500 characters"),
])
async def test_an_invalid_field_is_shown_at_the_field_and_nothing_is_added(console, api, zoho_server, woo_server,
                                                                           field, value, message):
    csrf = await sign_in(console)
    form = add_form(zoho_server.base_url, woo_server.base_url, **{field: value})
    response = await console.post("/ui/connections", data={"csrf": csrf, **form})
    assert response.status_code == 422
    errors = invalid_fields(response.text)
    assert list(errors) == [field] and message in errors[field], errors
    assert 'role="alert"' in response.text
    assert (await api.get("/api/v1/connections")).json() == []


async def test_the_form_comes_back_filled_in_except_the_secrets(console, zoho_server, woo_server):
    csrf = await sign_in(console)
    form = add_form(zoho_server.base_url, woo_server.base_url, **{"zoho.organization_id": "acme org"})
    response = await console.post("/ui/connections", data={"csrf": csrf, **form})
    assert response.status_code == 422
    for secret in SECRETS.values():
        assert secret not in response.text
    for name in ("zoho.client_id", "zoho.client_secret", "woocommerce.consumer_key"):
        tag = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', response.text).group(0)
        assert not re.search(r'value="[^"]', tag), tag  # empty or absent
    for name, value in (("name", "Form store"), ("zoho.organization_id", "acme org"), ("woocommerce.wp_username", "editor"),
                        ("woocommerce.base_url", woo_server.base_url)):
        assert re.search(rf'name="{re.escape(name)}" type="\w+"\s+value="{re.escape(value)}"', response.text), name
    assert re.search(r'<option value="eu" selected>', response.text)
    assert re.search(r'name="woocommerce.verify_tls" type="checkbox" value="true" checked', response.text)


async def test_a_store_address_the_target_policy_refuses_is_an_error_at_its_field(console, api, monkeypatch):
    """The API's SSRF guard, through the same service function: a production deployment refuses
    a store on loopback (the test deployment allows it, for the simulators)."""
    monkeypatch.setattr(connections_page, "target_policy", lambda ctx: TargetPolicy(enforce=True))
    csrf = await sign_in(console)
    form = add_form("https://zoho.example", "http://127.0.0.1:9/", **{"zoho.api_base_url": None,
                                                                      "zoho.accounts_base_url": None})
    response = await console.post("/ui/connections", data={"csrf": csrf, **form})
    assert response.status_code == 422
    errors = invalid_fields(response.text)
    assert list(errors) == ["woocommerce.base_url"] and "loopback" in errors["woocommerce.base_url"]
    assert (await api.get("/api/v1/connections")).json() == []


async def test_adding_without_the_csrf_token_is_refused(console, api, zoho_server, woo_server):
    csrf = await sign_in(console)
    form = add_form(zoho_server.base_url, woo_server.base_url)
    assert (await console.post("/ui/connections", data=form)).status_code == 403
    assert (await console.post("/ui/connections", data={"csrf": csrf[:-1] + "x", **form})).status_code == 403
    assert (await api.get("/api/v1/connections")).json() == []


# Settings.

def readme_presets() -> dict[str, dict]:
    """The README's "Settings presets" table, as the settings each preset sets."""
    section = (ROOT / "README.md").read_text().split("## Settings presets", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and cells[0] not in ("preset", "---"):
            rows[cells[0]] = re.findall(r"`([^`]+)`", cells[1])
    presets = {name: json.loads(code[0]) for name, code in rows.items() if code and code[0].startswith("{")}
    # "Ongoing (webhook)": the same fields with `"new_product_status": "publish"` (then the webhook, a separate step).
    assert rows["Ongoing (webhook)"][0] == '"new_product_status": "publish"'
    presets["Ongoing (webhook)"] = presets["Initial import"] | json.loads("{" + rows["Ongoing (webhook)"][0] + "}")
    assert list(presets) == ["Initial import", "Update only", "Stock only", "Ongoing (webhook)"]
    return presets


CUSTOM = {"create_missing_products": False, "create_missing_variations": True, "new_product_status": "pending",
          "sync_fields": ["price"], "batch_size": 10, "store_concurrency": 3, "warehouse_ids": ["w1"],
          "schedule": {"cron": "0 3 * * 1", "mode": "verify", "timezone": "Europe/Berlin"}}


def settings_form(settings: dict) -> dict[str, str | list[str]]:
    """The settings form as a browser posts it for these settings (checkboxes only when ticked)."""
    full = ConnectionSettings.model_validate(settings).model_dump(mode="json")
    form: dict[str, str | list[str]] = {}
    for name, value in full.items():
        if name == "schedule":
            form |= {f"schedule.{k}": v for k, v in (value or {"cron": "", "mode": "standard", "timezone": ""}).items()}
        elif isinstance(value, bool):
            if value:
                form[name] = "true"
        elif name == "warehouse_ids":
            form[name] = ", ".join(value or [])
        elif isinstance(value, list):
            form[name] = value
        else:
            form[name] = str(value)
    return form


async def settings_of(api, connection_id: str) -> dict:
    return (await api.get(f"/api/v1/connections/{connection_id}")).json()["settings"]


async def test_the_settings_page_shows_the_settings_and_no_secret(console, api, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, **CUSTOM)
    await sign_in(console)
    status = await console.get(f"/ui/connections/{conn['id']}")
    assert f'<a href="/ui/connections/{conn["id"]}/settings">Settings</a>' in status.text
    page = await console.get(f"/ui/connections/{conn['id']}/settings")
    assert page.status_code == 200
    assert re.search(r'name="batch_size" type="number"\s+value="10"', page.text)
    assert re.search(r'name="sync_fields" value="price" checked', page.text)
    assert not re.search(r'name="sync_fields" value="stock" checked', page.text)
    assert re.search(r'name="warehouse_ids" type="text"\s+value="w1"', page.text)
    assert re.search(r'name="schedule.cron" type="text"\s+value="0 3 \* \* 1"', page.text)
    assert '<option value="verify" selected>' in page.text and '<option value="pending" selected>' in page.text
    for secret in ("demo-secret", "1000.demo-refresh", "ck_demo", "cs_demo", "demo demo demo", "1000.DEMOCLIENT"):
        assert secret not in page.text


async def test_saving_the_settings_goes_through_the_api_patch(console, api, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    csrf = await sign_in(console)
    wanted = {**CUSTOM, "image_format": "webp", "sku_match": "case_insensitive", "catchup_interval_minutes": 60}
    form = settings_form(wanted) | {"warehouse_ids": " w1 ,", "schedule.timezone": "Europe/Berlin"}
    response = await console.post(f"/ui/connections/{conn['id']}/settings/save", data={"csrf": csrf, **form})
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/connections/{conn['id']}/settings?saved=true"
    assert await settings_of(api, conn["id"]) == ConnectionSettings.model_validate(wanted).model_dump(mode="json")
    assert "Settings saved." in (await console.get(response.headers["location"])).text
    # Emptied: no schedule, every warehouse, no field synced.
    form |= {"schedule.cron": "", "warehouse_ids": ""}
    form.pop("sync_fields")
    assert (await console.post(f"/ui/connections/{conn['id']}/settings/save",
                               data={"csrf": csrf, **form})).status_code == 303
    after = await settings_of(api, conn["id"])
    assert after["schedule"] is None and after["warehouse_ids"] is None and after["sync_fields"] == []


@pytest.mark.parametrize(("field", "value", "message"), [
    ("batch_size", "101", "less than or equal to 100"),
    ("batch_size", "", "valid integer"),
    ("store_concurrency", "0", "greater than or equal to 1"),
    ("image_quality", "high", "valid integer"),
    ("new_product_status", "live", "Input should be"),
    ("sync_fields", ["price", "colour"], "Input should be"),
    ("warehouse_ids", "w1, w 2; x", "should match pattern"),
    ("schedule.cron", "61 * * * *", "not a cron expression"),
    ("schedule.cron", "0 3 * * 1 2026", "five fields"),
    ("schedule.timezone", "Mars/Olympus", "unknown time zone"),
    ("schedule.mode", "fast", "Input should be"),
])
async def test_an_invalid_setting_is_shown_at_its_field_and_nothing_changes(console, api, zoho_server, woo_server,
                                                                            field, value, message):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, **CUSTOM)
    before = await settings_of(api, conn["id"])
    csrf = await sign_in(console)
    form = settings_form(CUSTOM) | {"batch_size": "20", field: value}
    response = await console.post(f"/ui/connections/{conn['id']}/settings/save", data={"csrf": csrf, **form})
    assert response.status_code == 422
    errors = invalid_fields(response.text)
    assert set(errors) == {field} and message in errors[field], errors
    assert "Nothing was changed" in response.text
    # The form comes back as posted, not as stored.
    assert re.search(r'name="batch_size" type="number"\s+value="20"', response.text) or field == "batch_size"
    assert await settings_of(api, conn["id"]) == before


async def test_each_preset_applies_exactly_the_readme_values(console, api, zoho_server, woo_server):
    presets = readme_presets()
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, **CUSTOM)
    csrf = await sign_in(console)
    page = (await console.get(f"/ui/connections/{conn['id']}/settings")).text
    buttons = dict(re.findall(r'<button type="submit" name="preset" value="([^"]+)"[^>]*>([^<]+)</button>', page))
    assert sorted(buttons.values()) == sorted(presets)
    for key, label in buttons.items():
        before = await settings_of(api, conn["id"])
        response = await console.post(f"/ui/connections/{conn['id']}/settings/preset",
                                      data={"csrf": csrf, "preset": key})
        assert response.status_code == 303
        assert await settings_of(api, conn["id"]) == before | presets[label], label
        shown = (await console.get(response.headers["location"])).text
        assert f"Preset “{label}” applied." in shown.replace("&#34;", '"')
        # Back to the custom settings, so the next preset shows what it changes and keeps.
        assert (await api.patch(f"/api/v1/connections/{conn['id']}", json={"settings": CUSTOM})).status_code == 200


async def test_preset_and_save_refuse_a_missing_csrf_token_or_an_unknown_preset(console, api, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, **CUSTOM)
    before = await settings_of(api, conn["id"])
    csrf = await sign_in(console)
    base = f"/ui/connections/{conn['id']}/settings"
    assert (await console.post(f"{base}/preset", data={"preset": "stock-only"})).status_code == 403
    assert (await console.post(f"{base}/save", data=settings_form({}))).status_code == 403
    unknown = await console.post(f"{base}/preset", data={"csrf": csrf, "preset": "everything"})
    assert unknown.status_code == 400 and "Choose one of the presets" in unknown.text
    assert await settings_of(api, conn["id"]) == before
    missing = f"/ui/connections/{uuid.uuid4()}/settings"
    assert (await console.get(missing)).status_code == 404
    assert (await console.post(f"{missing}/save", data={"csrf": csrf, **settings_form({})})).status_code == 404
