"""Manual-sync benchmark: prints figures, asserts nothing.

Two scenarios against the bundled simulators, with real Postgres, real Redis and a real worker
process; each runs a full sync, then the same catalogue again, unchanged.

- `simple` (the default): N simple products (default 10,000) from the Zoho simulator, with Zoho's
  limit of 100 requests a minute on and 150 ms per call, into the WooCommerce simulator at 30 ms
  per product written in a batch. Prints wall time, Zoho calls by endpoint, store requests by
  endpoint, products/s and the worker's peak RSS.
- `catalogue`: 2,000 products of which 300 item groups of 2–6 variants and 40% with an image,
  same limit and latencies; images go to the store through /wp/v2/media. Prints wall time, Zoho
  calls by kind (list, details, image, token), store requests by endpoint, media uploads and
  peak RSS, next to the targets: image downloads = images in the catalogue on the first sync and
  0 on the re-sync, media uploads = distinct images, and a first-sync wall time within 1.2x of
  the time Zoho's limit alone imposes (Zoho calls / 100 a minute).
- `plan100k`: the plan alone for 100,000 Zoho items (2,000 item groups among them), with Zoho's
  limit raised to 1,000 requests a minute so the 500 list pages do not wait five minutes. Each
  plan runs in a fresh worker; the run is cancelled as soon as its items are saved. First a plan
  with nothing in the store, then a re-plan with every planned product linked (links written
  straight into Postgres, as a finished sync leaves them). Prints plan time, Zoho calls, store
  lookups and the worker's peak RSS next to the target (< 300 MB).
- `verify`: verify runs (`{"mode": "verify"}`), each after a standard full sync that sets the
  store up (not measured). First over N simple products (default 10,000) left unchanged: store
  reads by endpoint (target: ceil(N / 100) record reads + ceil(N / 100) orphan listing), 0 store
  writes, wall time. Then over the `catalogue` scenario's catalogue (2,000 items, 300 groups,
  40% images) with 1% of the store's objects tampered by hand (prices, stock, names, a product
  deleted, one trashed): store reads, and objects written against the tampered count, 0 image
  downloads. The catalogue's set-up sync runs with Zoho's limit raised to 1,000 a minute, as
  `plan100k` does, so its 786 image downloads do not take eight minutes; the verify run's own
  Zoho calls fit in the first minute at any limit.

    make bench                     # every scenario, one after the other
    make bench-catalogue           # or: .venv/bin/python bench/bench_sync.py --scenario catalogue
    .venv/bin/python bench/bench_sync.py --scenario plan100k
    .venv/bin/python bench/bench_sync.py --items 2000
    .venv/bin/python bench/bench_sync.py --scenario verify [--items 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import ROOT, prepare_database

ZOHO_PER_MINUTE = 100
os.environ["ZOHO_REQUESTS_PER_MINUTE"] = str(ZOHO_PER_MINUTE)

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

from app.config import get_settings  # noqa: E402
from app.core.context import open_context  # noqa: E402
from app.main import create_app  # noqa: E402
from simulators.demo import demo_connection_body  # noqa: E402
from simulators.server import ServerThread  # noqa: E402
from simulators.woocommerce.app import create_app as create_woo  # noqa: E402
from simulators.zoho.__main__ import build_state  # noqa: E402
from simulators.zoho.app import create_app as create_zoho  # noqa: E402

FINAL = {"completed", "failed", "cancelled", "paused"}
DEFAULT_ITEMS = {"simple": 10_000, "catalogue": 2_000, "plan100k": 100_000, "verify": 10_000}
DEFAULT_GROUPS = {"catalogue": 300, "plan100k": 2_000}
#: plan100k: Zoho's limit, raised in the simulator and the worker alike.
PLAN_PER_MINUTE = 1_000
PLAN_RSS_TARGET_MB = 300

#: Zoho endpoints by kind, as the simulator names them in its stats.
ZOHO_KINDS = {
    "GET /items": "list",
    "GET /itemdetails": "details",
    "GET /items/{item_id}": "details",
    "GET /items/{item_id}/image": "image",
    "POST /oauth/v2/token": "token",
}
KIND_ORDER = ("list", "details", "image", "token", "other")
MEDIA_UPLOAD = "POST /wp/v2/media"
_ZOHO_PATHS = (
    (re.compile(r"^/inventory/v1/items/?$"), "list"),
    (re.compile(r"^/inventory/v1/itemdetails/?$"), "details"),
    (re.compile(r"^/inventory/v1/items/[^/]+/?$"), "details"),
    (re.compile(r"^/inventory/v1/items/[^/]+/image/?$"), "image"),
    (re.compile(r"^/oauth/v2/token/?$"), "token"),
)


class ZohoAnswers:
    """ASGI middleware around the Zoho simulator: its answers by kind and HTTP status.

    The simulator counts a request before its rate-limit gate, so a call refused with 429 and
    retried counts twice there; a 200 from `GET /items/{item_id}/image` is one image downloaded.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.counts = app, Counter[tuple[str, int]]()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__sim__"):
            return await self.app(scope, receive, send)
        kind = next((k for pattern, k in _ZOHO_PATHS if pattern.match(scope["path"])), "other")

        async def tap(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.counts[(kind, message["status"])] += 1
            await send(message)

        await self.app(scope, receive, tap)

    def reset(self) -> None:
        self.counts = Counter()

    def by_kind(self, kind: str) -> dict[int, int]:
        return {status: n for (k, status), n in sorted(self.counts.items()) if k == kind}

    def __getattr__(self, name: str) -> Any:  # ServerThread and the bench read app.state
        return getattr(self.app, name)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_once(api: httpx.AsyncClient, connection_id: str, mode: str | None = None) -> tuple[dict, float]:
    started = time.monotonic()
    body = {"json": {"mode": mode}} if mode else {}
    run = (await api.post(f"/api/v1/connections/{connection_id}/syncs", **body)).raise_for_status().json()
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


def zoho_by_kind(requests: dict[str, int]) -> dict[str, dict[str, int]]:
    """{"list": {"GET /items": n}, "details": {...}, "image": {...}, "token": {...}, "other": {...}}."""
    kinds: dict[str, dict[str, int]] = {kind: {} for kind in KIND_ORDER}
    for endpoint, count in sorted(requests.items()):
        kinds[ZOHO_KINDS.get(endpoint, "other")][endpoint] = count
    return kinds


async def run_items(api: httpx.AsyncClient, run_id: str, status: str) -> list[dict]:
    """Every item of a run with this status (the API pages 500 at a time)."""
    rows: list[dict] = []
    while True:
        page = (await api.get(f"/api/v1/syncs/{run_id}/items",
                              params={"status": status, "limit": 500, "offset": len(rows)})).raise_for_status().json()
        rows += page["items"]
        if not page["items"] or len(rows) >= page["total"]:
            return rows


async def catalogue_report(title: str, api: httpx.AsyncClient, run: dict, seconds: float, zoho: dict,
                           answers: ZohoAnswers, store: dict, rss: float) -> dict[str, Any]:
    """Print one sync's figures; returns the ones the targets compare."""
    kinds = zoho_by_kind(zoho["requests"])
    zoho_total = sum(zoho["requests"].values())
    store_calls = Counter(store["requests"])
    writes = sum(v for k, v in store_calls.items() if not k.startswith("GET"))
    print(f"\n== {title}")
    print(f"run: {run['status']}  total {run['total']}  synced {run['synced']}  failed {run['failed']}  "
          f"skipped {run['skipped']}  pending {run['pending']}  cancelled {run['cancelled']}")
    print(f"wall time: {seconds:.1f} s")
    print(f"Zoho calls: {zoho_total}  (throttled by the simulator: {zoho['throttled']})")
    for kind in KIND_ORDER:
        if kinds[kind] or kind != "other":
            statuses = ", ".join(f"{n} x {status}" for status, n in answers.by_kind(kind).items())
            print(f"  {kind:<8} {sum(kinds[kind].values()):>5}  {kinds[kind]}  answered: {statuses or '-'}")
    print(f"store requests: {sum(store_calls.values())} {dict(sorted(store_calls.items()))}  (writes: {writes})")
    print(f"media uploads ({MEDIA_UPLOAD}): {store_calls.get(MEDIA_UPLOAD, 0)}   media_created: {store['media_created']}   "
          f"store objects written: {store['objects_written']}")
    print(f"worker peak RSS so far: {rss:.0f} MB")
    for status in ("failed", "skipped"):
        if run[status]:
            rows = await run_items(api, run["id"], status)
            reasons = Counter(f"{r['error_code'] or '-'}: {(r['error'] or '-')[:100]}" for r in rows)
            print(f"{status} items by reason: " + "; ".join(f"{n} x {why}" for why, n in reasons.most_common(8)))
    return {
        "zoho_total": zoho_total,
        "image_calls": sum(kinds["image"].values()),
        "image_downloads": answers.by_kind("image").get(200, 0),
        "image_answers": ", ".join(f"{n} x {status}" for status, n in answers.by_kind("image").items()) or "-",
        "media_uploads": store_calls.get(MEDIA_UPLOAD, 0),
        "media_created": store["media_created"],
        "seconds": seconds,
    }


def catalogue_images(zoho_state: Any) -> int:
    """Items the sync should fetch an image for: active, with a SKU and an image name."""
    return sum(1 for item in zoho_state.items.values()
               if item.fields.get("image_name") and item.fields.get("status", "active") == "active"
               and str(item.fields.get("sku") or "").strip())


def check(measured: float, expected: float, ok: bool) -> str:
    return f"measured {measured:g}  expected {expected:g}  {'ok' if ok else 'MISSED'}"


async def run_catalogue(api: httpx.AsyncClient, connection_id: str, zoho_state: Any, answers: ZohoAnswers,
                        woo: ServerThread, worker: subprocess.Popen) -> None:
    images = catalogue_images(zoho_state)
    figures, media = [], []
    for title in ("full sync", "unchanged re-sync"):
        zoho_state.reset_stats()
        answers.reset()
        woo.app.state.store.reset_stats()
        run, seconds = await run_once(api, connection_id)
        figures.append(await catalogue_report(title, api, run, seconds, zoho_state.stats(), answers,
                                              woo.app.state.store.stats(), peak_rss_mb(worker.pid)))
        if title == "full sync":
            async with httpx.AsyncClient(base_url=woo.base_url, timeout=60) as sim:
                media = (await sim.get("/__sim__/media")).raise_for_status().json()
    first, again = figures
    distinct = len({m["sha256"] for m in media})
    limit_seconds = first["zoho_total"] * 60 / ZOHO_PER_MINUTE
    ratio = first["seconds"] / limit_seconds if limit_seconds else float("nan")
    print(f"\n== targets (images in the catalogue: {images} active items with a SKU and an image; "
          f"distinct images: {distinct} sha256 among {len(media)} media items in the store after the first sync)")
    print(f"full sync  image downloads: {check(first['image_downloads'], images, first['image_downloads'] == images)}"
          f"  (image calls {first['image_calls']}, answered {first['image_answers']})")
    print(f"full sync  media uploads:   {check(first['media_uploads'], distinct, first['media_uploads'] == distinct)}"
          f"  (media_created {first['media_created']})")
    print(f"full sync  wall time: {first['seconds']:.1f} s; Zoho limit alone: {first['zoho_total']} calls / "
          f"{ZOHO_PER_MINUTE} a minute = {limit_seconds:.1f} s; ratio {ratio:.2f} (target <= 1.2) "
          f"{'ok' if ratio <= 1.2 else 'MISSED'}")
    print(f"re-sync    image downloads: {check(again['image_downloads'], 0, again['image_downloads'] == 0)}"
          f"  (image calls {again['image_calls']}, answered {again['image_answers']})")
    print(f"re-sync    media uploads:   {check(again['media_uploads'], 0, again['media_uploads'] == 0)}"
          f"  (media_created {again['media_created']})")
    print(f"re-sync    wall time: {again['seconds']:.1f} s for {again['zoho_total']} Zoho calls "
          f"({again['zoho_total'] * 60 / ZOHO_PER_MINUTE:.1f} s at {ZOHO_PER_MINUTE} a minute)")


# Links for every product a plan meant to create, under made-up store ids: what a finished sync
# leaves behind, without writing 100,000 products to the store first. A variation points at its
# parent's made-up id; links the cancelled run really wrote are kept.
_SEED_LINKS = text("""
    INSERT INTO product_links (connection_id, kind, zoho_id, store_id, store_parent_id, sku, content_hash)
    SELECT r.connection_id, i.kind, i.zoho_item_id,
           :base + i.id, CASE WHEN i.kind = 'variation' THEN :base + h.id END, i.sku, i.content_hash
    FROM sync_run_items i
    JOIN sync_runs r ON r.id = i.run_id
    LEFT JOIN sync_run_items h ON h.run_id = i.run_id AND h.kind = 'variable' AND h.group_id = i.group_id
                              AND i.kind = 'variation'
    WHERE i.run_id = :run_id AND i.action = 'create'
    ON CONFLICT DO NOTHING
""")


def start_worker(args: argparse.Namespace) -> subprocess.Popen:
    return subprocess.Popen([str(Path(sys.executable).parent / "skubridge"), "worker"], cwd=ROOT,
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=args.worker_log)


async def worker_ready(ctx: Any) -> None:
    """Wait for a new worker's first health check, so its start-up is not counted as plan time."""
    key = f"{ctx.settings.queue_name}:health-check"
    await ctx.redis.delete(key)
    for _ in range(600):
        if await ctx.redis.exists(key):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the worker did not start within a minute")


def stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    worker.wait(timeout=30)


async def plan_once(api: httpx.AsyncClient, connection_id: str, worker: subprocess.Popen) -> tuple[dict, float, float]:
    """Start a run and wait for its plan to be saved (the run leaves `queued`); the run as then,
    the plan time and the worker's peak RSS. The run is cancelled right after."""
    started = time.monotonic()
    run = (await api.post(f"/api/v1/connections/{connection_id}/syncs")).raise_for_status().json()
    while run["status"] == "queued":
        await asyncio.sleep(0.1)
        run = (await api.get(f"/api/v1/syncs/{run['id']}")).raise_for_status().json()
    seconds, rss = time.monotonic() - started, peak_rss_mb(worker.pid)
    if run["status"] == "running":
        await api.post(f"/api/v1/syncs/{run['id']}/cancel")
    while (await api.get(f"/api/v1/syncs/{run['id']}")).json()["status"] not in FINAL:
        await asyncio.sleep(0.25)
    return run, seconds, rss


async def run_plan100k(api: httpx.AsyncClient, connection_id: str, zoho_state: Any, woo: ServerThread,
                       args: argparse.Namespace, ctx: Any) -> None:
    for title in ("plan, nothing in the store", "re-plan, every product linked"):
        zoho_state.reset_stats()
        woo.app.state.store.reset_stats()
        worker = start_worker(args)
        try:
            await worker_ready(ctx)
            run, seconds, rss = await plan_once(api, connection_id, worker)
        finally:
            stop_worker(worker)
        zoho_calls = Counter(zoho_state.stats()["requests"])
        store_calls = Counter(woo.app.state.store.stats()["requests"])
        print(f"\n== {title}")
        print(f"run: {run['status']}  total {run['total']}  to write {run['pending']}  unchanged {run['synced']}  "
              f"skipped {run['skipped']}  failed {run['failed']}")
        print(f"plan time: {seconds:.1f} s   items planned/s: {run['total'] / seconds:.0f}")
        print(f"Zoho calls: {sum(zoho_calls.values())} {dict(sorted(zoho_calls.items()))}")
        print(f"store requests: {sum(store_calls.values())} {dict(sorted(store_calls.items()))}")
        print(f"worker peak RSS: {rss:.0f} MB (target < {PLAN_RSS_TARGET_MB} MB) "
              f"{'ok' if rss < PLAN_RSS_TARGET_MB else 'MISSED'}")
        async with ctx.sessionmaker() as session:
            await session.execute(_SEED_LINKS, {"run_id": run["id"], "base": 10**12})
            await session.commit()


# --- verify runs -------------------------------------------------------------------------------

#: Share of the store's objects the catalogue part tampers with, and how, in turn.
TAMPERED_SHARE = 0.01
_EDITS = ("price", "stock", "name", "price", "stock", "deleted", "trashed")


def tamper_store(store: Any, share: float, seed: int) -> Counter[str]:
    """Edit `share` of the store's objects by hand, straight in the simulator's state, a fixed
    sample; what was done, by kind of edit. Variable products are only renamed (deleting one
    would take its variations along and write more objects than were tampered); variations are
    never renamed (the store derives their names) nor deleted (trashed instead)."""
    with store.lock:
        ids = sorted(i for i, r in store.products.items() if r.status != "trash" and r.sku)
        chosen = random.Random(seed).sample(ids, max(1, round(len(ids) * share)))
        done: Counter[str] = Counter()
        for n, object_id in enumerate(chosen):
            record = store.get(object_id)
            edit = "name" if record.type == "variable" else _EDITS[n % len(_EDITS)]
            if record.is_variation and edit in ("name", "deleted"):  # the store names variations itself
                edit = "price" if edit == "name" else "trashed"
            match edit:
                case "price":
                    record.regular_price = "999.00"
                case "stock":
                    record.stock_quantity = 987
                case "name":
                    record.name = f"{record.name} (edited by hand)"
                case "deleted":
                    store.delete(record)
                case "trashed":
                    store.trash(record)
            done[edit] += 1
    return done


def verify_report(title: str, run: dict, seconds: float, zoho: dict, answers: ZohoAnswers, store: dict,
                  rss: float) -> dict[str, int]:
    """Print one verify run's figures; returns store reads, write requests and objects written."""
    calls = Counter(store["requests"])
    reads = {k: v for k, v in sorted(calls.items()) if k.startswith("GET")}
    writes = {k: v for k, v in sorted(calls.items()) if not k.startswith("GET")}
    print(f"\n== {title}")
    print(f"run: {run['status']} ({run['mode']})  total {run['total']}  synced {run['synced']}  failed {run['failed']}  "
          f"skipped {run['skipped']}")
    print(f"wall time: {seconds:.1f} s")
    print(f"Zoho calls: {sum(zoho['requests'].values())} {dict(sorted(zoho['requests'].items()))}  "
          f"image downloads: {answers.by_kind('image').get(200, 0)}")
    print(f"store reads: {sum(reads.values())} {reads}")
    print(f"store writes: {sum(writes.values())} requests {writes}; objects written {store['objects_written']}; "
          f"media created {store['media_created']}")
    print(f"worker peak RSS so far: {rss:.0f} MB")
    return {"reads": sum(reads.values()), "product_reads": calls["GET /products"], "writes": sum(writes.values()),
            "objects": store["objects_written"]}


async def verify_part(args: argparse.Namespace, settings: Any, ctx: Any, *, catalogue: bool) -> None:
    """One part of the verify scenario: its own simulators, connection and worker; a standard
    sync to set the store up, then (tampered, for the catalogue) a verify run, measured."""
    per_minute = PLAN_PER_MINUTE if catalogue else ZOHO_PER_MINUTE
    os.environ["ZOHO_REQUESTS_PER_MINUTE"] = str(per_minute)  # read by the worker started below
    if catalogue:
        zoho_state = build_state(items=DEFAULT_ITEMS["catalogue"], seed=args.seed, groups=DEFAULT_GROUPS["catalogue"],
                                 image_ratio=args.image_ratio, latency_ms=args.zoho_latency_ms,
                                 rate_limit_per_minute=per_minute)
    else:
        zoho_state = build_state(items=args.items or DEFAULT_ITEMS["verify"], seed=3, latency_ms=args.zoho_latency_ms,
                                 rate_limit_per_minute=per_minute)
    answers = ZohoAnswers(create_zoho(zoho_state))
    zoho, woo = ServerThread(answers).start(), ServerThread(create_woo()).start()
    woo.app.state.store.update_knobs({"per_item_latency_ms": args.store_ms_per_product})
    worker = start_worker(args)
    app = create_app(settings, ctx=ctx)
    app.state.ctx = ctx
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                     headers={"Authorization": f"Bearer {settings.api_token.get_secret_value()}"},
                                     timeout=60) as api:
            body = demo_connection_body(zoho.base_url, woo.base_url, name=f"bench-verify-{catalogue}",
                                        batch_size=args.batch_size, store_concurrency=args.concurrency)
            connection = (await api.post("/api/v1/connections", json=body)).raise_for_status().json()
            setup, seconds = await run_once(api, connection["id"])
            print(f"\nset-up sync: {setup['status']}, {setup['synced']} synced, {setup['failed']} failed, "
                  f"{seconds:.1f} s (Zoho limit {per_minute} a minute)")
            store = woo.app.state.store
            objects = sum(1 for r in store.products.values() if r.status != "trash" and r.sku)
            edits = tamper_store(store, TAMPERED_SHARE, args.seed) if catalogue else Counter[str]()
            if edits:
                print(f"tampered {sum(edits.values())} of {objects} store objects: {dict(sorted(edits.items()))}")
            zoho_state.reset_stats()
            answers.reset()
            store.reset_stats()
            run, seconds = await run_once(api, connection["id"], "verify")
            title = (f"verify run, catalogue with 1% tampered ({objects} store objects)" if catalogue
                     else f"verify run, {objects} unchanged products")
            got = verify_report(title, run, seconds, zoho_state.stats(), answers, store.stats(), peak_rss_mb(worker.pid))
            drift = (await api.get(f"/api/v1/connections/{connection['id']}/drift")).raise_for_status().json()
            print(f"drift: checked {drift['checked']}, repaired {drift['repaired']}, recreated {drift['recreated']}, "
                  f"fields {drift['fields_repaired']}, orphans {drift['orphan_count']}")
            expected = sum(edits.values())
            print(f"target: objects written = tampered: {check(got['objects'], expected, got['objects'] == expected)}")
            if not catalogue:
                reads = 2 * math.ceil(objects / 100)
                print(f"target: GET /products = {reads} (records 100 a call, then the id,sku listing): "
                      f"{check(got['product_reads'], reads, got['product_reads'] <= reads)}")
    finally:
        stop_worker(worker)
        zoho.stop()
        woo.stop()


async def run_verify(args: argparse.Namespace, settings: Any, ctx: Any) -> None:
    items = args.items or DEFAULT_ITEMS["verify"]
    print(f"benchmark (verify): {items} simple products unchanged, then the catalogue scenario's catalogue with "
          f"{TAMPERED_SHARE:.0%} of the store tampered; Zoho {args.zoho_latency_ms} ms/call; store "
          f"{args.store_ms_per_product} ms/product; batch {args.batch_size}, {args.concurrency} batches in flight")
    await verify_part(args, settings, ctx, catalogue=False)
    await verify_part(args, settings, ctx, catalogue=True)


async def main(args: argparse.Namespace) -> None:
    await prepare_database()
    settings = get_settings()
    if args.scenario == "verify":
        ctx = await open_context(settings)
        await ctx.redis.flushdb()
        try:
            return await run_verify(args, settings, ctx)
        finally:
            await ctx.close()
    catalogue = args.scenario == "catalogue"
    items = args.items or DEFAULT_ITEMS[args.scenario]
    groups = args.groups if args.groups is not None else DEFAULT_GROUPS.get(args.scenario, 0)
    if catalogue:
        zoho_state = build_state(items=items, seed=args.seed, groups=groups, image_ratio=args.image_ratio,
                                 latency_ms=args.zoho_latency_ms, rate_limit_per_minute=ZOHO_PER_MINUTE)
    elif args.scenario == "plan100k":
        os.environ["ZOHO_REQUESTS_PER_MINUTE"] = str(PLAN_PER_MINUTE)  # read by the workers it starts
        zoho_state = build_state(items=items, seed=3, groups=groups, latency_ms=args.zoho_latency_ms,
                                 rate_limit_per_minute=PLAN_PER_MINUTE)
    else:
        zoho_state = build_state(items=items, seed=3, latency_ms=args.zoho_latency_ms,
                                 rate_limit_per_minute=ZOHO_PER_MINUTE)
    answers = ZohoAnswers(create_zoho(zoho_state))
    zoho = ServerThread(answers).start()
    woo = ServerThread(create_woo()).start()
    woo.app.state.store.update_knobs({"per_item_latency_ms": args.store_ms_per_product})
    ctx = await open_context(settings)
    await ctx.redis.flushdb()
    worker = None if args.scenario == "plan100k" else start_worker(args)
    app = create_app(settings, ctx=ctx)
    app.state.ctx = ctx
    if args.scenario == "plan100k":
        print(f"benchmark (plan100k): {items} items of which {groups} item groups; Zoho {args.zoho_latency_ms} "
              f"ms/call, {PLAN_PER_MINUTE} calls/min; the plan only (the run is cancelled once planned)")
    elif catalogue:
        groups = len({item.fields["group_id"] for item in zoho_state.items.values() if item.fields.get("group_id")})
        variants = sum(1 for item in zoho_state.items.values() if item.fields.get("group_id"))
        inactive = sum(1 for item in zoho_state.items.values() if item.fields.get("status") == "inactive")
        print(f"benchmark (catalogue): {items} products, {groups} groups holding {variants} variants, "
              f"{args.image_ratio:.0%} with images, {inactive} inactive (seed {args.seed}); Zoho "
              f"{args.zoho_latency_ms} ms/call, {ZOHO_PER_MINUTE} calls/min; store {args.store_ms_per_product} "
              f"ms/product; batch {args.batch_size}, {args.concurrency} batches in flight; images via /wp/v2/media")
    else:
        print(f"benchmark: {items} products; Zoho {args.zoho_latency_ms} ms/call, 100 calls/min; store "
              f"{args.store_ms_per_product} ms/product; batch {args.batch_size}, {args.concurrency} batches in flight")
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                     headers={"Authorization": f"Bearer {settings.api_token.get_secret_value()}"},
                                     timeout=60) as api:
            body = demo_connection_body(zoho.base_url, woo.base_url, name="bench", batch_size=args.batch_size,
                                        store_concurrency=args.concurrency)
            connection = (await api.post("/api/v1/connections", json=body)).raise_for_status().json()
            if worker is None:
                await run_plan100k(api, connection["id"], zoho_state, woo, args, ctx)
                return
            if catalogue:
                await run_catalogue(api, connection["id"], zoho_state, answers, woo, worker)
                return
            for title in ("full sync", "unchanged re-sync"):
                zoho_state.reset_stats()
                woo.app.state.store.reset_stats()
                run, seconds = await run_once(api, connection["id"])
                report(title, run, seconds, zoho_state.stats(), woo.app.state.store.stats(), peak_rss_mb(worker.pid))
            pages = math.ceil(items / 200)
            print(f"\nfloor set by Zoho's limit alone for {pages} list calls: "
                  f"{max(0, pages - 100) * 0.6:.1f} s of waiting (100 calls fit the first minute)")
    finally:
        if worker is not None:
            stop_worker(worker)
        await ctx.close()
        zoho.stop()
        woo.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=sorted(DEFAULT_ITEMS), default="simple")
    parser.add_argument("--items", type=int, default=None,
                        help="10,000 for simple, 2,000 for catalogue, 100,000 for plan100k; verify: its unchanged products")
    parser.add_argument("--groups", type=int, default=None,
                        help="catalogue, plan100k: item groups of 2-6 variants (300, 2,000)")
    parser.add_argument("--image-ratio", type=float, default=0.4, help="catalogue: share of items with an image")
    parser.add_argument("--seed", type=int, default=5, help="catalogue: catalogue seed")
    parser.add_argument("--zoho-latency-ms", type=int, default=150)
    parser.add_argument("--store-ms-per-product", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--worker-log", type=argparse.FileType("ab"), help="append the worker's log (stderr) to this file instead of the terminal")
    asyncio.run(main(parser.parse_args()))
