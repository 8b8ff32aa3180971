"""An in-memory WooCommerce 11.0.1 REST API simulator (wc/v3 products, variations, settings,
wp/v2 media), faithful to the recorded exchanges in shared/reference/woocommerce-captures.

    from app.integrations.woocommerce.simulator import StoreState, create_app
    from app.integrations.simserver import ServerThread

    server = ServerThread(create_app(StoreState(latency_ms=20))).start()

Or as a process: `python -m app.integrations.woocommerce.simulator --port 8102 [--https]`.
"""

from app.integrations.woocommerce.simulator.app import create_app, run
from app.integrations.woocommerce.simulator.records import StoreKnobs
from app.integrations.woocommerce.simulator.state import StoreState
from app.integrations.woocommerce.simulator.tls import make_self_signed_cert

__all__ = ["StoreKnobs", "StoreState", "create_app", "make_self_signed_cert", "run"]
