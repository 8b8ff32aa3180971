"""`python -m simulators demo` (`make demo`): the whole service on the bundled simulators, no accounts anywhere.

Starts the Zoho Inventory simulator (a generated catalogue), the WooCommerce simulator, the API
and a worker as separate processes, then links a connection as an operator would in the console,
driven over HTTP as a browser would (`link_by_signing_in`): "Link by signing in" creates it,
"Connect Zoho" accepts on the Zoho simulator's consent page, "Connect store" approves on the
store's WooCommerce key grant page (the store POSTs the key to the service's callback), and
"Connect media uploads" approves on WordPress's authorize-application.php. Only the settings
go over the API (PATCH). Then a full sync with a live progress bar, and everything keeps serving
until Ctrl-C.

The demo serves plain http, so the WooCommerce simulator runs with its `connect_http_callbacks`
knob on: the real plugin posts keys to an https:// callback_url only.

The demo runs with ENVIRONMENT=development, and so do the processes it starts: it talks only
to its own simulators, so the development API token and SECRET_KEY are accepted (anywhere
else an unset ENVIRONMENT means production, which refuses them).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from html import unescape
from pathlib import Path

import httpx
from rich.console import Console

from app.config import get_settings
from simulators.server import free_port

console = Console()
BIN = Path(sys.executable).parent


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (a supervisor, `timeout`) stops the children as Ctrl-C does


def run_demo(*, items: int, api_port: int) -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ["ENVIRONMENT"] = "development"  # inherited by every process started below
    get_settings.cache_clear()
    settings = get_settings()
    ports = {name: _port(default) for name, default in (("zoho", 8101), ("woo", 8102), ("api", api_port))}
    # The deployment's Zoho OAuth client is the simulator's demo client; consent starts there.
    env = dict(os.environ, PUBLIC_BASE_URL=f"http://127.0.0.1:{ports['api']}", ZOHO_CLIENT_ID=DEMO_CLIENT[0],
               ZOHO_CLIENT_SECRET=DEMO_CLIENT[1], ZOHO_ACCOUNTS_URL=f"http://127.0.0.1:{ports['zoho']}")
    children: list[subprocess.Popen] = []
    try:
        _step("Applying database migrations")
        subprocess.run([str(BIN / "skubridge"), "migrate"], check=True, env=env)
        groups = max(1, items // 20)
        _step(f"Starting the Zoho Inventory simulator with {items} items, {groups} of them item groups, "
              f"10% with pictures (port {ports['zoho']})")
        children.append(_spawn(["-m", "simulators", "zoho", "--port", str(ports["zoho"]), "--items", str(items),
                                "--groups", str(groups), "--image-ratio", "0.1"], env))
        _step(f"Starting the WooCommerce simulator (port {ports['woo']}) with connect_http_callbacks on: the demo "
              "serves plain http, and real WooCommerce posts keys to https:// callbacks only")
        # A store that takes 10 ms per product written, so the progress bar has something to show.
        children.append(_spawn(["-m", "simulators", "woocommerce", "--port", str(ports["woo"]), "--per-item-latency-ms", "10",
                                "--connect-http-callbacks"], env))
        _step(f"Starting the API (port {ports['api']}) and a worker")
        children.append(_spawn(["-m", "app.cli", "api", "--port", str(ports["api"])], env))
        children.append(_spawn(["-m", "app.cli", "worker"], env))
        api_url = f"http://127.0.0.1:{ports['api']}"
        for url in (f"http://127.0.0.1:{ports['zoho']}/__sim__/stats", f"http://127.0.0.1:{ports['woo']}/__sim__/stats",
                    f"{api_url}/readyz"):
            _wait_for(url)
        _sync(api_url, settings.api_token.get_secret_value(), ports)
        console.print(f"\n[bold green]Serving.[/] API docs: {api_url}/docs  (token: {settings.api_token.get_secret_value()})")
        console.print("Press Ctrl-C to stop.")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        console.print("[red]a demo process stopped unexpectedly[/]")
    except KeyboardInterrupt:
        console.print("\nstopping")
    finally:
        _stop(children)


def _sync(api_url: str, token: str, ports: dict[str, int]) -> None:
    from app.cli import follow_run

    zoho_url, woo_url = f"http://127.0.0.1:{ports['zoho']}", f"http://127.0.0.1:{ports['woo']}"
    body = demo_connection_body(zoho_url, woo_url, name="Demo store", new_product_status="publish")
    connection_id = link_by_signing_in(api_url, token, name="Demo store", store_url=woo_url)
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        connection = client.patch(f"/api/v1/connections/{connection_id}",
                                  json={"settings": body["settings"]}).raise_for_status().json()
        if not connection["linked"]:
            raise RuntimeError(f"the connection is not linked after the connect flows: {connection}")
        shown = ", ".join(f"{k}={v}" for k, v in body["settings"].items())
        _step(f"Settings by PATCH: {shown}; starting a full sync")
        started = time.monotonic()
        run = client.post(f"/api/v1/connections/{connection['id']}/syncs").raise_for_status().json()
        run = follow_run(client, run["id"])
        elapsed = time.monotonic() - started
        zoho_stats = httpx.get(f"{zoho_url}/__sim__/stats").json()
        woo_stats = httpx.get(f"{woo_url}/__sim__/stats").json()
    console.print(f"\nRun {run['id']}: [bold]{run['status']}[/] in {elapsed:.1f}s — synced {run['synced']}, "
                  f"failed {run['failed']}, skipped {run['skipped']} of {run['total']}")
    console.print(f"Zoho calls: {zoho_stats.get('requests')}")
    console.print(f"Store requests: {woo_stats.get('requests')}")
    console.print(f"Try again: skubridge sync start --connection {connection['id']} --follow "
                  f"--api-url {api_url}  (an unchanged catalogue makes no store writes)")


DEMO_CLIENT = ("1000.DEMOCLIENT", "demo-secret")


def link_by_signing_in(api_url: str, token: str, *, name: str, store_url: str) -> str:
    """What an operator does in the console, over HTTP as a browser would: sign in, "Link by
    signing in", then "Connect Zoho" (Accept on Zoho's consent page, back through the callback),
    "Connect store" (Approve on WooCommerce's key grant page: the store POSTs the key to the
    service's callback, then the browser returns) and "Connect media uploads" (approve on
    WordPress's authorize-application.php). Each step prints one line. The new connection's id."""
    with httpx.Client(base_url=api_url, timeout=30) as browser:
        if browser.post("/ui/login", data={"token": token}).status_code != 303:
            raise RuntimeError("the console refused the API token")
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/ui/").text)
        assert csrf is not None, "the console did not sign in"
        form = {"csrf": csrf.group(1)}
        created = browser.post("/ui/link", data=form | {"name": name, "store_url": store_url,
                                                        "platform": "woocommerce"})
        connection_id = created.headers["location"].split("/")[-2]
        _step(f"Console: signed in; \"Link by signing in\" created {name!r} ({connection_id})")
        _connect_zoho(browser, form, connection_id)
        _connect_store(browser, form, connection_id)
        _connect_media(browser, form, connection_id)
    return connection_id


def _connect_zoho(browser: httpx.Client, form: dict[str, str], connection_id: str) -> None:
    consent_url = browser.post(f"/ui/connections/{connection_id}/connect/zoho", data=form).headers["location"]
    page = browser.get(consent_url)
    fields = {k: unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)}
    back = browser.post(str(page.url.join("/oauth/v2/auth/approve")), data=fields).headers["location"]
    landed = browser.get(back)  # the callback: code exchange, organizations, token sealed
    if "result=linked" not in landed.text:
        raise RuntimeError(f"Zoho sign-in did not link the connection: {landed.text[:300]}")
    _step(f"Connect Zoho: accepted at {consent_url.split('?')[0]}; the callback exchanged the code and linked "
          "the account's organization")


def _connect_store(browser: httpx.Client, form: dict[str, str], connection_id: str) -> None:
    grant_url = browser.post(f"/ui/connections/{connection_id}/connect/store", data=form).headers["location"]
    page = browser.get(grant_url)
    approve = re.search(r'<a href="([^"]+)"[^>]*>Approve</a>', page.text)
    if approve is None:
        raise RuntimeError(f"WooCommerce showed no grant page: {page.text[:300]}")
    granted = browser.get(unescape(approve.group(1)))  # the store makes the key and POSTs it to the callback
    if granted.status_code != 302:
        raise RuntimeError(f"WooCommerce could not deliver the key to the service: {granted.text[:300]}")
    _follow_back(browser, granted.headers["location"], "linked=store")
    _step(f"Connect store: approved at {grant_url.split('?')[0]}; the store POSTed its key to "
          "/oauth/woocommerce/callback, then sent the browser back")


def _connect_media(browser: httpx.Client, form: dict[str, str], connection_id: str) -> None:
    authorize_url = browser.post(f"/ui/connections/{connection_id}/connect/media", data=form).headers["location"]
    page = browser.get(authorize_url)
    fields = {unescape(k): unescape(v) for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)}
    if not fields:
        raise RuntimeError(f"WordPress showed no authorize form: {page.text[:300]}")
    approved = browser.post(str(page.url), data=fields | {"approve": "1"})
    if approved.status_code != 302:
        raise RuntimeError(f"WordPress did not approve the application password: {approved.text[:300]}")
    _follow_back(browser, approved.headers["location"], "linked=media")
    _step(f"Connect media uploads: approved at {authorize_url.split('?')[0]}; the application password came "
          "back on success_url")


def _follow_back(browser: httpx.Client, url: str, expected: str) -> None:
    """The service's return page moves the browser on to the status page; `expected` in its address."""
    landed = browser.get(url)
    moved_on = re.search(r'url=([^"]+)"', landed.text)
    target = unescape(moved_on.group(1)) if moved_on else ""
    if expected not in target:
        raise RuntimeError(f"the connect flow did not finish ({landed.status_code}): {landed.text[:300]}")


def demo_connection_body(zoho_url: str, woo_url: str, *, name: str = "Demo store",
                         organization_id: str = "10234695", verify_tls: bool = True, **settings: object) -> dict:
    """A connection to the bundled simulators with their default credentials (used by the
    demo, the benchmarks and the tests)."""
    return {
        "name": name,
        "zoho": {"organization_id": organization_id, "client_id": "1000.DEMOCLIENT", "client_secret": "demo-secret",
                 "refresh_token": "1000.demo-refresh", "data_center": "com", "api_base_url": zoho_url,
                 "accounts_base_url": zoho_url},
        "woocommerce": {"base_url": woo_url, "consumer_key": "ck_demo", "consumer_secret": "cs_demo",
                        "verify_tls": verify_tls, "wp_username": "admin",
                        "wp_application_password": "demo demo demo demo demo demo"},
        "settings": settings,
    }


def _port(preferred: int) -> int:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`python <args>` in its own session (so Ctrl-C reaches only the demo), logging to .run/."""
    logs = Path(".run")
    logs.mkdir(exist_ok=True)
    log_file = open(logs / f"demo-{'-'.join(args[1:3]).replace('.', '-')}.log", "ab")
    return subprocess.Popen([sys.executable, *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=log_file)


def _wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up within {timeout}s (logs in .run/)")


def _step(message: str) -> None:
    console.print(f"[bold cyan]>[/] {message}")


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
