"""Zoho Inventory API v1 simulator (plus the Zoho Accounts token endpoint), in memory.

- `state.ZohoState` / `state.ZohoKnobs`: the behaviour, pure Python (see its "Uncertain vendor
  facts" section for the choices made where Zoho's behaviour is not documented).
- `app.create_app(state)`: the FastAPI app; run it with `simserver.ServerThread(app).start()`.
- `webhooks`: which workflow rules fire, the signed request, the delivery worker thread.
- `catalogue.generate_catalogue(...)`: deterministic Zoho catalogues; `DEMO_CREDENTIALS`.
- `python -m simulators.zoho --port 8101 --items 1000`: its own process.
"""

from simulators.zoho.catalogue import DEMO_CREDENTIALS, ZohoCredentials, generate_catalogue
from simulators.zoho.state import SimError, ZohoKnobs, ZohoState

__all__ = ["DEMO_CREDENTIALS", "SimError", "ZohoCredentials", "ZohoKnobs", "ZohoState", "generate_catalogue"]
