"""No credential in any log line: the redaction processor on its own, the standard library's
records through it, and a whole OAuth 1.0a sync with the API and a worker logging at DEBUG."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys

import httpx
import pytest
import structlog

from app.core.logging import configure_logging
from app.core.redaction import REDACTED, redact
from tests.helpers import create_connection, start_run, wait_for_run

pytestmark = pytest.mark.timeout(180)
SIGNED_URL = ("http://shop.test/wp-json/wc/v3/products?sku=A-1&oauth_consumer_key=ck_live_1&oauth_nonce=n0nce"
              "&oauth_signature_method=HMAC-SHA256&oauth_timestamp=1700000000&oauth_signature=s1gn%2Bature%3D")


def test_redaction_reaches_every_depth_and_every_string():
    event = redact(None, "info", {
        "event": f"HTTP Request: GET {SIGNED_URL} \"HTTP/1.1 200 OK\"",
        "run_id": "r-1",
        "request": {"headers": {"Authorization": "Zoho-oauthtoken 1000.acc.ess", "Accept": "json"},
                    "form": {"client_id": "1000.CLIENT", "client_secret": "zs3cret", "refresh_token": "1000.r3fresh"}},
        "connections": [{"woocommerce": {"consumer_key": "ck_live_1", "Consumer-Secret": "cs_live_1",
                                         "wp_application_password": "abcd efgh ijkl"}, "name": "Shop"}],
        "error": httpx.HTTPStatusError(f"Client error '401 Unauthorized' for url '{SIGNED_URL}'", request=None,
                                       response=None),
        "exception": "Traceback ...\nValueError: {'access_token': '1000.acc.ess', 'api_domain': 'x'}",
        "dsn": "postgresql+asyncpg://skubridge:pw0rd@db:5432/skubridge",
        "note": "sent Authorization: Bearer t0ken and ?code=gr4nt&state=ok",
        "attempt": 2, "ok": True, "nothing": None,
    })
    text = json.dumps(event)
    for secret in ("ck_live_1", "cs_live_1", "n0nce", "s1gn", "1700000000", "1000.acc.ess", "zs3cret", "1000.r3fresh",
                   "abcd efgh", "pw0rd", "t0ken", "gr4nt"):
        assert secret not in text, secret
    # What is not a credential stays, so the line still says what happened.
    assert event["run_id"] == "r-1" and event["attempt"] == 2 and event["ok"] is True and event["nothing"] is None
    assert event["request"]["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert event["request"]["form"]["client_id"] == "1000.CLIENT"
    assert event["connections"][0]["name"] == "Shop"
    assert event["connections"][0]["woocommerce"] == {"consumer_key": REDACTED, "Consumer-Secret": REDACTED,
                                                      "wp_application_password": REDACTED}
    assert event["event"].startswith("HTTP Request: GET http://shop.test/wp-json/wc/v3/products?sku=A-1&")
    assert f"oauth_signature={REDACTED}" in event["event"] and event["event"].endswith('"HTTP/1.1 200 OK"')
    assert "'api_domain': 'x'" in event["exception"] and "state=ok" in event["note"]
    assert event["dsn"] == f"postgresql+asyncpg://skubridge:{REDACTED}@db:5432/skubridge"


def test_standard_library_records_are_redacted_too(monkeypatch):
    """uvicorn's loggers come with handlers of their own; arq's and httpx's log through the
    root. All of them end in the same redacting renderer."""
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(logging.StreamHandler(out))  # as uvicorn's own logging config does
    uvicorn_error.propagate = False
    try:
        configure_logging("DEBUG")
        uvicorn_error.error("Exception in ASGI application", exc_info=ValueError(f"for url '{SIGNED_URL}'"))
        logging.getLogger("arq.worker").info("job failed: %s", {"client_secret": "zs3cret"})
        logging.getLogger("httpx").info("HTTP Request: GET %s", SIGNED_URL)  # held at WARNING
        structlog.get_logger("test.redaction").info("zoho.call", url=SIGNED_URL)
    finally:
        monkeypatch.undo()
        configure_logging("WARNING")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line.get("logger"), line["event"].split(" ")[0]) for line in lines] == [
        ("uvicorn.error", "Exception"), ("arq.worker", "job"), (None, "zoho.call")]
    assert "ValueError" in lines[0]["exception"]
    for secret in ("ck_live_1", "s1gn", "n0nce", "zs3cret"):
        assert secret not in out.getvalue()


async def test_an_oauth_sync_leaves_no_credential_in_the_api_or_worker_logs(api_server, worker, zoho, store,
                                                                           zoho_server, woo_server, tmp_path):
    assert woo_server.base_url.startswith("http://")  # plain HTTP: the store is called with OAuth 1.0a
    zoho.generate_catalogue(30, seed=5, image_ratio=0.2)
    store.knobs.fail_next = [{"status": 503, "path_contains": "batch"}]  # a retry, logged with its reason
    debug = {"LOG_LEVEL": "DEBUG"}
    server = api_server(env=debug, log_level="debug")
    worker_log = tmp_path / "worker.log"
    worker(env=debug, log_file=worker_log)
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": "Bearer test-token"},
                                 timeout=30) as api:
        conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
        run = await wait_for_run(api, (await start_run(api, conn["id"]))["id"])
        enabled = await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": True})
        assert enabled.status_code == 200, enabled.text  # the API itself calls Zoho with the tokens
    assert run["status"] == "completed" and run["synced"] > 0, run
    await asyncio.sleep(0.5)  # the last lines reach the files

    nonces = list(store.consumer_keys["ck_demo"].nonces.values())
    assert nonces  # the store was called with OAuth 1.0a signatures
    secrets = ["ck_demo", "cs_demo", "demo-secret", "1000.demo-refresh", "demo demo demo", "test-token",
               *zoho.access_tokens, *nonces]
    assert zoho.access_tokens  # Zoho issued at least one token (nonces: one per second is kept, see above)
    logs = {"api": server.log_file.read_text(), "worker": worker_log.read_text()}
    for name, text in logs.items():
        assert run["id"] in text, f"the {name} log does not mention the run"
        for secret in secrets:
            assert secret not in text, f"{secret!r} in the {name} log"
        assert not re.search(r"oauth_signature(=|%3D|\W+:\W*)(?!\[redacted\])", text), name
    assert f"PUT /api/v1/connections/{conn['id']}/webhook" in logs["api"]
    assert "zoho.token_refreshed" in logs["worker"] and "woocommerce.retry" in logs["worker"]
