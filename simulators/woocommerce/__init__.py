"""An in-memory WooCommerce 11.0.1 REST API simulator (wc/v3 products, variations, settings,
wp/v2 media), faithful to the recorded exchanges in shared/reference/woocommerce-captures.

    from simulators.woocommerce import StoreState, create_app
    from simulators.server import ServerThread

    server = ServerThread(create_app(StoreState(latency_ms=20))).start()

Or as a process: `python -m simulators.woocommerce --port 8102 [--https]`.
"""

from simulators.woocommerce.app import create_app, run
from simulators.woocommerce.records import StoreKnobs
from simulators.woocommerce.state import StoreState
from simulators.woocommerce.tls import make_self_signed_cert

__all__ = ["StoreKnobs", "StoreState", "create_app", "make_self_signed_cert", "run"]
