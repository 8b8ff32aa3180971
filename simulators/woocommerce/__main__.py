"""Run the WooCommerce simulator as its own process.

    python -m simulators.woocommerce --port 8102 [--https] [--latency-ms 50] ...

Demo credentials: consumer key ck_demo / cs_demo, application password admin /
"demo demo demo demo demo demo". With --https a self-signed certificate for localhost/127.0.0.1
is generated into a temporary directory.
"""

from __future__ import annotations

import argparse
import tempfile

from simulators.woocommerce.app import run
from simulators.woocommerce.state import DEMO_APP_PASSWORD, DEMO_CONSUMER_KEY, StoreState
from simulators.woocommerce.tls import make_self_signed_cert


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulators.woocommerce", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--https", action="store_true", help="serve HTTPS with a generated self-signed certificate")
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--site-url", help="store address used in links and OAuth (default: each request's own)")
    parser.add_argument("--consumer-key", default=DEMO_CONSUMER_KEY[0])
    parser.add_argument("--consumer-secret", default=DEMO_CONSUMER_KEY[1])
    parser.add_argument("--app-user", default=DEMO_APP_PASSWORD[0])
    parser.add_argument("--app-password", default=DEMO_APP_PASSWORD[1])
    parser.add_argument("--connect-http-callbacks", action="store_true",
                        help="/wc-auth/ posts keys to an http:// callback_url (the real plugin insists on https)")
    parser.add_argument("--no-app-passwords-over-http", action="store_true", help="application passwords need HTTPS")
    parser.add_argument("--weight-unit", default="lbs")
    parser.add_argument("--dimension-unit", default="in")
    parser.add_argument("--manage-stock", default="yes", choices=["yes", "no"])
    for knob, kind in (("latency-ms", float), ("per-item-latency-ms", float), ("rate-429", float),
                       ("rate-5xx", float), ("batch-limit", int), ("seed", int)):  # fmt: skip
        parser.add_argument(f"--{knob}", type=kind)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    certfile, keyfile = args.certfile, args.keyfile
    if args.https and not certfile:
        certfile, keyfile = make_self_signed_cert(tempfile.mkdtemp(prefix="woo-sim-tls-"))
    store = StoreState(
        consumer_keys=[(args.consumer_key, args.consumer_secret)],
        app_passwords=[(args.app_user, args.app_password)],
        weight_unit=args.weight_unit,
        dimension_unit=args.dimension_unit,
        manage_stock=args.manage_stock,
        site_url=args.site_url,
        app_passwords_over_http=not args.no_app_passwords_over_http,
    )
    knobs = {name: getattr(args, name) for name in ("latency_ms", "per_item_latency_ms", "rate_429", "rate_5xx", "batch_limit", "seed")}
    knobs["connect_http_callbacks"] = args.connect_http_callbacks or None
    scheme = "https" if certfile else "http"
    print(f"WooCommerce simulator on {scheme}://{args.host}:{args.port}/wp-json/wc/v3", flush=True)
    run(args.host, args.port, certfile=certfile, keyfile=keyfile, state=store, **{k: v for k, v in knobs.items() if v is not None})


if __name__ == "__main__":
    main()
