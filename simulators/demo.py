"""`python -m simulators demo` (`make demo`): the whole service on the bundled simulators, no accounts anywhere.

Starts the Zoho Inventory simulator (a generated catalogue), the WooCommerce simulator, the API
and a worker as separate processes, creates a connection in the console with "Link by signing
in" and links its Zoho side through the sign-in flow (the simulator's consent page, accepted over
HTTP as a browser would), gives it the store's keys over the API, runs a full sync with a live
progress bar, then keeps everything serving until Ctrl-C.

The demo runs with ENVIRONMENT=development, and so do the processes it starts: it talks only
to its own simulators, so the development API token and SECRET_KEY are accepted (anywhere
else an unset ENVIRONMENT means production, which refuses them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
        _step(f"Starting the WooCommerce simulator (port {ports['woo']})")
        # A store that takes 10 ms per product written, so the progress bar has something to show.
        children.append(_spawn(["-m", "simulators", "woocommerce", "--port", str(ports["woo"]), "--per-item-latency-ms", "10"], env))
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
        connection = client.patch(f"/api/v1/connections/{connection_id}", json={
            "woocommerce": {k: v for k, v in body["woocommerce"].items() if k not in ("base_url", "verify_tls")},
            "settings": body["settings"]}).raise_for_status().json()
        _step(f"Connection {connection['id']}: Zoho linked by signing in (organization "
              f"{connection['zoho']['organization_id']}), store keys set; starting a full sync")
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
    """What an operator does in the console, over HTTP: sign in, "Link by signing in", "Connect
    Zoho", Accept on Zoho's consent page, and back through the callback. The new connection's id."""
    import re

    with httpx.Client(base_url=api_url, timeout=30) as browser:
        if browser.post("/ui/login", data={"token": token}).status_code != 303:
            raise RuntimeError("the console refused the API token")
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/ui/").text)
        assert csrf is not None, "the console did not sign in"
        form = {"csrf": csrf.group(1)}
        created = browser.post("/ui/link", data=form | {"name": name, "store_url": store_url,
                                                        "platform": "woocommerce"})
        connection_id = created.headers["location"].split("/")[-2]
        consent_url = browser.post(f"/ui/connections/{connection_id}/connect/zoho", data=form).headers["location"]
        _step(f"Connect Zoho: consent at {consent_url.split('?')[0]}")
        page = browser.get(consent_url)
        fields = {k: v.replace("&amp;", "&") for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)}
        back = browser.post(str(page.url.join("/oauth/v2/auth/approve")), data=fields).headers["location"]
        landed = browser.get(back)  # the callback: exchange, organizations, token sealed
        if "result=linked" not in landed.text:
            raise RuntimeError(f"Zoho sign-in did not link the connection: {landed.text[:300]}")
    return connection_id


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
