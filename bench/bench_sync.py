"""Manual-sync benchmark: prints figures, asserts nothing.

A full sync of N simple products (default 10,000) from the Zoho simulator, with Zoho's limit of
100 requests a minute on and 150 ms per call, into the WooCommerce simulator at 30 ms per product
written in a batch; then the same catalogue again, unchanged. Real Postgres, real Redis, a real
worker process. Prints wall time, Zoho calls by endpoint, store requests by endpoint, products/s
and the worker's peak RSS.

    make bench                     # or: .venv/bin/python bench/bench_sync.py --items 2000
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from common import ROOT, prepare_database

os.environ["ZOHO_REQUESTS_PER_MINUTE"] = "100"

import httpx  # noqa: E402

from app.config import get_settings  # noqa: E402
from app.core.context import open_context  # noqa: E402
from app.demo import demo_connection_body  # noqa: E402
from app.integrations.simserver import ServerThread  # noqa: E402
from app.integrations.woocommerce.simulator.app import create_app as create_woo  # noqa: E402
from app.integrations.zoho.simulator.__main__ import build_state  # noqa: E402
from app.integrations.zoho.simulator.app import create_app as create_zoho  # noqa: E402
from app.main import create_app  # noqa: E402

FINAL = {"completed", "failed", "cancelled", "paused"}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_once(api: httpx.AsyncClient, connection_id: str) -> tuple[dict, float]:
    started = time.monotonic()
    run = (await api.post(f"/api/v1/connections/{connection_id}/syncs")).raise_for_status().json()
    while run["status"] not in FINAL:
        await asyncio.sleep(0.25)
        run = (await api.get(f"/api/v1/syncs/{run['id']}")).json()
    return run, time.monotonic() - started


def report(title: str, run: dict, seconds: float, zoho: dict, store: dict, rss: float) -> None:
    zoho_calls = Counter(zoho["requests"])
    store_calls = Counter(store["requests"])
    writes = sum(v for k, v in store_calls.items() if not k.startswith("GET"))
    print(f"\n== {title}")
    print(f"run: {run['status']}  total {run['total']}  synced {run['synced']}  failed {run['failed']}  "
          f"skipped {run['skipped']}  pending {run['pending']}")
    print(f"wall time: {seconds:.1f} s   products/s: {run['synced'] / seconds:.1f}")
    print(f"Zoho calls: {sum(zoho_calls.values())} {dict(sorted(zoho_calls.items()))}")
    print(f"store requests: {sum(store_calls.values())} {dict(sorted(store_calls.items()))}  (writes: {writes})")
    print(f"store objects written: {store.get('objects_written')}")
    print(f"worker peak RSS so far: {rss:.0f} MB")


async def main(args: argparse.Namespace) -> None:
    await prepare_database()
    settings = get_settings()
    zoho_state = build_state(items=args.items, seed=3, latency_ms=args.zoho_latency_ms, rate_limit_per_minute=100)
    zoho = ServerThread(create_zoho(zoho_state)).start()
    woo = ServerThread(create_woo()).start()
    woo.app.state.store.update_knobs({"per_item_latency_ms": args.store_ms_per_product})
    ctx = await open_context(settings)
    await ctx.redis.flushdb()
    worker = subprocess.Popen([str(Path(sys.executable).parent / "skubridge"), "worker"], cwd=ROOT,
                              env=dict(os.environ), stdout=subprocess.DEVNULL)
    app = create_app(settings, ctx=ctx)
    app.state.ctx = ctx
    print(f"benchmark: {args.items} products; Zoho {args.zoho_latency_ms} ms/call, 100 calls/min; store "
          f"{args.store_ms_per_product} ms/product; batch {args.batch_size}, {args.concurrency} batches in flight")
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                     headers={"Authorization": f"Bearer {settings.api_token.get_secret_value()}"},
                                     timeout=60) as api:
            body = demo_connection_body(zoho.base_url, woo.base_url, name="bench", batch_size=args.batch_size,
                                        store_concurrency=args.concurrency)
            connection = (await api.post("/api/v1/connections", json=body)).raise_for_status().json()
            for title in ("full sync", "unchanged re-sync"):
                zoho_state.reset_stats()
                woo.app.state.store.reset_stats()
                run, seconds = await run_once(api, connection["id"])
                report(title, run, seconds, zoho_state.stats(), woo.app.state.store.stats(), peak_rss_mb(worker.pid))
            pages = math.ceil(args.items / 200)
            print(f"\nfloor set by Zoho's limit alone for {pages} list calls: "
                  f"{max(0, pages - 100) * 0.6:.1f} s of waiting (100 calls fit the first minute)")
    finally:
        worker.terminate()
        worker.wait(timeout=10)
        await ctx.close()
        zoho.stop()
        woo.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--zoho-latency-ms", type=int, default=150)
    parser.add_argument("--store-ms-per-product", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    asyncio.run(main(parser.parse_args()))
