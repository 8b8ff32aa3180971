"""Run the Zoho Inventory simulator as its own process.

    python -m simulators.zoho --port 8101 --items 1000 --groups 40 --image-ratio 0.5

Point a connection at it with the demo credentials (`catalogue.DEMO_CREDENTIALS`) and use
`http://<host>:<port>` as both the accounts server and the API domain.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from simulators.zoho.app import create_app
from simulators.zoho.catalogue import DEMO_CREDENTIALS, generate_catalogue
from simulators.zoho.state import ZohoKnobs, ZohoState


def build_state(*, items: int = 1000, seed: int = 1, groups: int = 0, image_ratio: float = 0.0,
                **knobs: Any) -> ZohoState:
    """A state with a generated catalogue and the given knobs (validated like PUT /__sim__/config).

    `seed` seeds both the catalogue and the fault RNG, so a whole run can be replayed.
    """
    settings = ZohoKnobs()
    settings.update({"seed": seed, **knobs})
    catalogue = generate_catalogue(items, seed=seed, groups=groups, image_ratio=image_ratio,
                                   time_offset=settings.time_offset)
    return ZohoState(items=catalogue, knobs=settings)


def run(host: str = "127.0.0.1", port: int = 8101, *, items: int = 1000, seed: int = 1, groups: int = 0,
        image_ratio: float = 0.0, **knobs: Any) -> None:
    """Serve a generated catalogue until interrupted; `knobs` are ZohoKnobs field names."""
    state = build_state(items=items, seed=seed, groups=groups, image_ratio=image_ratio, **knobs)
    print(f"Zoho simulator on http://{host}:{port}: {len(state.items)} items, org "
          f"{DEMO_CREDENTIALS.organization_id}, client {DEMO_CREDENTIALS.client_id}")
    uvicorn.run(create_app(state), host=host, port=port, log_level="warning")


def _optional_int(text: str) -> int | None:
    """`none` (or 0) disables a limit."""
    return None if text.lower() in ("none", "0") else int(text)


def _retry_after(text: str) -> int | str | None:
    return text if text == "auto" else None if text.lower() == "none" else int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulators.zoho", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--items", type=int, default=1000, help="generated catalogue size")
    parser.add_argument("--seed", type=int, default=1, help="catalogue and fault seed")
    parser.add_argument("--groups", type=int, default=0, help="item groups (variable products)")
    parser.add_argument("--image-ratio", type=float, default=0.0, help="share of items with an image")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rate-429", type=float, default=0.0, help="probability of an injected 429")
    parser.add_argument("--rate-5xx", type=float, default=0.0, help="probability of an injected 500")
    parser.add_argument("--token-ttl", type=int, default=3600)
    parser.add_argument("--token-limit", type=int, default=10)
    parser.add_argument("--rate-limit-per-minute", type=_optional_int, default=100, help="'none' disables")
    parser.add_argument("--daily-limit", type=_optional_int, default=None)
    parser.add_argument("--retry-after-seconds", type=_retry_after, default="auto", help="auto, none or seconds")
    parser.add_argument("--thin-list-rows", action="store_true", help="list rows without description/package")
    parser.add_argument("--time-offset", default="+0000", help="org offset, e.g. +0530")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    run(args.host, args.port, items=args.items, seed=args.seed, groups=args.groups,
        image_ratio=args.image_ratio, latency_ms=args.latency_ms, rate_429=args.rate_429,
        rate_5xx=args.rate_5xx, token_ttl=args.token_ttl, token_limit=args.token_limit,
        rate_limit_per_minute=args.rate_limit_per_minute, daily_limit=args.daily_limit,
        retry_after_seconds=args.retry_after_seconds, list_rows_full=not args.thin_list_rows,
        time_offset=args.time_offset)


if __name__ == "__main__":
    main()
