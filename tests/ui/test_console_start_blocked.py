"""The status and preview pages disable the buttons that start something (Start sync, Verify
store, Retry failed, Start preview) while the connection is not linked or Zoho needs
reconnecting, with a short reason next to them; the services still refuse such a start (409,
shown as a notice). The run's reason is not repeated where the page shows it already, and the
webhook's state is shown once, in the Real-time sync panel."""

from __future__ import annotations

import re
import uuid
from html import unescape

from app.connections.links import mark_needs_reconnect
from app.models import Connection
from app.syncs.runner import plan_run
from app.ui.router import _read_snapshot
from simulators.zoho import DEMO_CREDENTIALS as DEMO
from tests.helpers import create_connection, start_run
from tests.ui.console import sign_in

STARTS = ("start", "verify", "retry")


def controls(page: str) -> dict[str, bool]:
    """Each status page control: True when it can be clicked."""
    return {key: not disabled for key, disabled in
            re.findall(r'<button type="submit" data-control="(\w+)"\s*(disabled)?', page)}


def blocked_line(page: str) -> str | None:
    """The reason next to the start buttons, None when it is hidden."""
    found = re.search(r'<p class="meta" id="run-blocked"( hidden)?>([^<]*)</p>', page)
    assert found is not None
    return None if found.group(1) else unescape(found.group(2))


def preview_button(page: str) -> tuple[bool, str | None]:
    button = re.search(r'<button type="submit"( disabled[^>]*)?>Start preview</button>', page)
    assert button is not None
    reason = re.search(r'<p class="meta" id="preview-blocked">([^<]*)</p>', page)
    return not button.group(1), unescape(reason.group(1)) if reason else None


async def unlinked(console, csrf: str, store_url: str) -> str:
    """A connection made with "Link by signing in": a name and a store URL only."""
    created = await console.post("/ui/link", data={"csrf": csrf, "name": "Unlinked store", "store_url": store_url,
                                                   "platform": "woocommerce"})
    assert created.status_code == 303, created.text
    return created.headers["location"].split("/")[-2]


async def test_start_buttons_are_disabled_with_the_reason_until_the_connection_is_linked(
        console, api, ctx, zoho, store, zoho_server, woo_server):
    csrf = await sign_in(console)
    connection_id = await unlinked(console, csrf, woo_server.base_url)

    page = (await console.get(f"/ui/connections/{connection_id}")).text
    assert controls(page) == {"start": False, "verify": False, "pause": False, "resume": False, "cancel": False,
                              "retry": False}
    assert blocked_line(page) == "Zoho is not linked yet: syncs and previews start once it is."
    assert page.count('aria-describedby="run-blocked"') == 3  # the three start buttons
    assert preview_button((await console.get(f"/ui/connections/{connection_id}/preview")).text) == (
        False, "Zoho is not linked yet: syncs and previews start once it is.")
    live = await _read_snapshot(ctx, uuid.UUID(connection_id), failed_only=False)  # the live feed says the same
    assert live["blocked"] == blocked_line(page) and not any(live["controls"][key] for key in STARTS)

    # The server stays the judge: a post anyway (an old page, a script) is refused, said as a notice.
    for path, data in (("syncs", {"mode": "standard"}), ("syncs", {"mode": "verify"}), ("retry-failed", {})):
        refused = await console.post(f"/ui/connections/{connection_id}/{path}", data={"csrf": csrf, **data})
        assert refused.status_code == 303 and "notice=" in refused.headers["location"], path
        assert "Zoho is not linked yet" in (await console.get(refused.headers["location"])).text
    refused = await console.post(f"/ui/connections/{connection_id}/preview/start", data={"csrf": csrf})
    assert "Zoho is not linked yet" in (await console.get(refused.headers["location"])).text
    assert (await api.get(f"/api/v1/connections/{connection_id}/syncs")).json()["total"] == 0


async def test_a_connection_without_a_store_key_says_so(console, api, ctx, zoho, store, zoho_server, woo_server):
    connection = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    async with ctx.sessionmaker() as db:
        row = await db.get(Connection, connection["id"])
        row.credentials = ctx.keyring.seal({"refresh_token": DEMO.refresh_token}, connection_id=row.id,
                                           purpose="credentials")
        await db.commit()
    await sign_in(console)
    page = (await console.get(f"/ui/connections/{connection['id']}")).text
    assert not controls(page)["start"] and not controls(page)["verify"]
    assert blocked_line(page) == "The store is not linked yet: syncs and previews start once it is (Store access)."


async def test_a_linked_connection_has_its_start_buttons_and_no_reason(console, api, zoho, store, zoho_server,
                                                                        woo_server):
    connection = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await sign_in(console)
    page = (await console.get(f"/ui/connections/{connection['id']}")).text
    assert controls(page) == {"start": True, "verify": True, "pause": False, "resume": False, "cancel": False,
                              "retry": False}
    assert blocked_line(page) is None and 'aria-describedby="run-blocked"' not in page
    assert preview_button((await console.get(f"/ui/connections/{connection['id']}/preview")).text) == (True, None)


async def test_needs_reconnect_disables_the_starts_and_says_zohos_refusal_once(console, api, ctx, zoho, store,
                                                                                zoho_server, woo_server):
    zoho.generate_catalogue(3)
    connection = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    assert zoho.revoke_token(DEMO.refresh_token)
    run = await start_run(api, connection["id"])
    await plan_run(ctx, uuid.UUID(run["id"]))  # fails the run, marks the connection
    read = (await api.get(f"/api/v1/connections/{connection['id']}")).json()
    refusal = read["zoho"]["reconnect_reason"]
    assert read["needs_reconnect"] is True and refusal in (await api.get(f"/api/v1/syncs/{run['id']}")).json()["reason"]

    await sign_in(console)
    page = (await console.get(f"/ui/connections/{connection['id']}")).text
    assert page.count(refusal) == 1  # in the banner, not again in the status words
    status = re.search(r'<strong id="run-status" data-status="failed">([^<]*)</strong>', page)
    assert status is not None and status.group(1) == "Failed"
    assert not any(controls(page)[key] for key in STARTS) and ">Reconnect Zoho</button>" in page
    assert blocked_line(page) == "Zoho needs reconnecting: syncs and previews start once it is."


async def test_a_reason_the_page_does_not_show_elsewhere_stays_in_the_status(console, api, ctx, zoho, store,
                                                                              zoho_server, woo_server):
    connection = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    run = await start_run(api, connection["id"])
    await mark_needs_reconnect(ctx, uuid.UUID(connection["id"]), "Zoho refused the refresh token (invalid_code)")
    await plan_run(ctx, uuid.UUID(run["id"]))  # refused at planning: the link state is its reason
    await sign_in(console)
    page = (await console.get(f"/ui/connections/{connection['id']}")).text
    assert page.count("Zoho refused the refresh token (invalid_code)") == 1
    assert re.search(r'data-status="failed">Failed</strong>', page)

    # Once Zoho is connected again (the banner gone), the old run's reason is the page's only mention.
    async with ctx.sessionmaker() as db:
        row = await db.get(Connection, connection["id"])
        row.zoho_reconnect_reason = row.zoho_reconnect_at = None
        await db.commit()
    page = (await console.get(f"/ui/connections/{connection['id']}")).text
    assert "Failed (Zoho needs reconnecting: Zoho refused the refresh token (invalid_code)" in unescape(page)
    assert controls(page)["start"] and blocked_line(page) is None


async def test_the_webhook_state_is_shown_once_in_its_panel(console, api, zoho, store, zoho_server, woo_server):
    connection = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await sign_in(console)
    page = (await console.get(f"/ui/connections/{connection['id']}")).text
    header = page[page.index("<h1>"):page.index('<nav aria-label="Connection">')]
    assert "Webhook" not in header and "badge" not in header
    assert page.count('role="switch"') == 1 and "Not set up in Zoho" in page


async def test_the_live_feed_opens_the_credentials_only_when_they_or_the_link_columns_change(
        ctx, api, zoho_server, woo_server, monkeypatch):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    connection_id = uuid.UUID(conn["id"])
    opened = []
    real_open = type(ctx.keyring).open
    monkeypatch.setattr(type(ctx.keyring), "open", lambda self, *a, **k: opened.append(1) or real_open(self, *a, **k))
    links: dict = {}
    for _ in range(3):  # three ticks of the feed, nothing changed: opened once
        assert (await _read_snapshot(ctx, connection_id, failed_only=False, links=links))["blocked"] == ""
    assert len(opened) == 1
    await mark_needs_reconnect(ctx, connection_id, "Zoho refused the refresh token (invalid_code)")
    live = await _read_snapshot(ctx, connection_id, failed_only=False, links=links)
    assert live["blocked"] and "reconnect" in live["blocked"].lower() and len(opened) == 2
    assert len(links) == 1  # only the current state is kept
