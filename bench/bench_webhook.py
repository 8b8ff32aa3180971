"""Webhook benchmark: prints figures, asserts nothing.

1. Intake: valid signed webhooks against one API process (`skubridge api`, its own process) from
   a keep-alive load generator: requests/s and p50/p99 latency.
2. End to end: 200 item changes made one by one in the Zoho simulator, which delivers signed
   webhooks to the API; a worker fetches each item and writes it to the WooCommerce simulator.
   Time from the simulator's POST to the store's write: p50 and p95. Zero-latency simulators.

    make bench-webhook             # or: .venv/bin/python bench/bench_webhook.py --requests 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from common import ROOT, prepare_database

os.environ["WEBHOOK_COALESCE_SECONDS"] = "0.05"

import httpx  # noqa: E402
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402

from app.config import get_settings  # noqa: E402
from app.core.crypto import Keyring  # noqa: E402
from app.webhooks.signature import sign  # noqa: E402
from simulators.demo import demo_connection_body  # noqa: E402
from simulators.server import ServerThread, free_port  # noqa: E402
from simulators.woocommerce.app import create_app as create_woo  # noqa: E402
from simulators.zoho.__main__ import build_state  # noqa: E402
from simulators.zoho.app import create_app as create_zoho  # noqa: E402

BIN = Path(sys.executable).parent


class WriteClock:
    """ASGI middleware around the store simulator: when each SKU was written (batch answered)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.written = app, {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/products/batch"):
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []

        async def tap() -> dict:
            message = await receive()
            chunks.append(message.get("body", b""))
            return message

        await self.app(scope, tap, send)
        body = json.loads(b"".join(chunks) or b"{}")
        now = time.time()
        for row in body.get("create", []) + body.get("update", []):
            self.written.setdefault(str(row.get("sku", "")).lower(), []).append(now)

    def __getattr__(self, name: str):  # ServerThread reads app.state
        return getattr(self.app, name)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def load(port: int, path: str, bodies: list[tuple[bytes, str]], total: int, concurrency: int) -> list[float]:
    """A minimal HTTP/1.1 keep-alive client (asyncio streams): the generator must not be the bottleneck."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in counter:
            body, signature = bodies[n % len(bodies)]
            head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"X-Zoho-Webhook-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            started = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if b" 202 " not in status_line:
                raise RuntimeError(f"unexpected answer: {status_line!r}")
        writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "skubridge"), *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def wait_ready(url: str) -> None:
    for _ in range(150):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def main(args: argparse.Namespace) -> None:
    await prepare_database()
    settings = get_settings()
    api_port = free_port()
    env = dict(os.environ, PUBLIC_BASE_URL=f"http://127.0.0.1:{api_port}")
    zoho_state = build_state(items=args.items, seed=5, rate_limit_per_minute=None)
    zoho = ServerThread(create_zoho(zoho_state)).start()
    clock = WriteClock(create_woo())
    woo = ServerThread(clock).start()
    api = spawn(["api", "--port", str(api_port)], env)
    processes = [api]
    try:
        wait_ready(f"http://127.0.0.1:{api_port}/readyz")
        headers = {"Authorization": f"Bearer {settings.api_token.get_secret_value()}"}
        client = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers=headers, timeout=120)
        body = demo_connection_body(zoho.base_url, woo.base_url, name="bench")
        conn = client.post("/api/v1/connections", json=body).raise_for_status().json()
        client.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": True}).raise_for_status()
        secret = await read_secret(settings, conn["id"])
        await intake(args, api_port, conn["id"], secret, zoho_state)

        processes.append(spawn(["worker"], env))
        run = client.post(f"/api/v1/connections/{conn['id']}/syncs").raise_for_status().json()
        while client.get(f"/api/v1/syncs/{run['id']}").json()["status"] not in ("completed", "failed"):
            time.sleep(0.2)
        drain(client, conn["id"])  # the intake phase's jobs must not queue ahead of the measured changes
        end_to_end(args, zoho_state, clock)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        zoho.stop()
        woo.stop()


def drain(client: httpx.Client, connection_id: str, timeout: float = 300.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        queued = client.get(f"/api/v1/connections/{connection_id}/webhook/events",
                            params={"outcome": "queued", "limit": 1}).json()["total"]
        if queued == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("the intake phase's events did not drain")


async def read_secret(settings, connection_id: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(settings.database_url)
    async with engine.connect() as conn:
        token = await conn.scalar(text("SELECT webhook_secret FROM connections WHERE id = :id"), {"id": connection_id})
    await engine.dispose()
    return Keyring.from_settings(settings).open(token, connection_id=uuid.UUID(connection_id),
                                                purpose="webhook_secret")["secret"]


async def intake(args: argparse.Namespace, port: int, connection_id: str, secret: str, zoho_state) -> None:
    items = [i for i in zoho_state.all_items()][:500]
    bodies = []
    for item in items:
        raw = json.dumps({"item": item}, separators=(",", ":")).encode()
        bodies.append((raw, sign(secret, [], raw)))
    path = f"/webhooks/zoho/{connection_id}"
    await load(port, path, bodies, 200, 8)  # warm-up
    started = time.perf_counter()
    latencies = await load(port, path, bodies, args.requests, args.concurrency)
    elapsed = time.perf_counter() - started
    print(f"== intake: {args.requests} signed webhooks ({len(bodies)} distinct items, "
          f"{len(bodies[0][0])} bytes each), {args.concurrency} connections, one API process")
    print(f"throughput: {args.requests / elapsed:.0f} requests/s")
    print(f"latency: p50 {statistics.median(latencies) * 1000:.1f} ms   p99 {percentile(latencies, 0.99) * 1000:.1f} ms   "
          f"max {max(latencies) * 1000:.1f} ms")


def end_to_end(args: argparse.Namespace, zoho_state, clock: WriteClock) -> None:
    items = [i for i in zoho_state.all_items() if i["status"] == "active" and i.get("sku")][: args.changes]
    latencies = []
    for n, item in enumerate(items):
        sku = item["sku"].lower()
        before = len(clock.written.get(sku, []))
        marker = len(zoho_state.deliveries)
        zoho_state.patch_item(item["item_id"], {"rate": 1000 + n})
        deadline = time.time() + 30
        while len(clock.written.get(sku, [])) == before and time.time() < deadline:
            time.sleep(0.002)
        sent = [d for d in zoho_state.deliveries[marker:] if d["item_id"] == item["item_id"]]
        if sent and len(clock.written.get(sku, [])) > before:
            latencies.append(clock.written[sku][before] - sent[0]["sent_at"])
            if latencies[-1] > 2 and os.environ.get("BENCH_DEBUG"):
                print(f"slow change {n}: {latencies[-1]:.1f}s delivery {sent[0]['status']} attempts {sent[0]['attempts']}",
                      file=sys.stderr)
    print(f"\n== end to end: {len(items)} item changes, one by one (Zoho's POST → the store's write)")
    print(f"measured: {len(latencies)}   p50 {statistics.median(latencies) * 1000:.0f} ms   "
          f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms   max {max(latencies) * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--changes", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
