"""Zoho's side of "Test connection" (app/ports/checks.py), read-only and cheap:

- token: an access token from the refresh token (the token endpoint, unless one is cached);
- organization: `GET /organizations/{id}` (scope ZohoInventory.settings.READ);
- scopes: the first row of each listing a sync reads, `GET /items`, `GET /itemgroups` (scope
  ZohoInventory.items.READ) and `GET /settings/webhooks` (what real-time sync sets up; settings).
  Writing scopes (webhook and workflow creation) cannot be proved without writing: real-time
  sync's set-up reports them when it runs.

Zoho's answer to a call outside the token's scopes is documented nowhere we found; clients
report HTTP 401 with `code` 57 "You are not authorized to perform this operation" [unverified].
Any auth refusal of one of these calls, after the token itself passed, is read as a missing scope.
"""

from __future__ import annotations

from app.integrations.zoho.client import ZohoClient
from app.integrations.zoho.errors import ZohoAuthError, ZohoError, ZohoTargetRefused, ZohoUnavailable
from app.integrations.zoho.oauth import SCOPES as SIGN_IN_SCOPES
from app.ports.checks import Finding
from app.ports.errors import ReconnectNeeded

# What a sync calls, in the order it calls them: (path, what it is for).
NEEDED_CALLS = (("/items", "items"), ("/itemgroups", "item groups"), ("/settings/webhooks", "webhooks"))
SCOPES = ", ".join(SIGN_IN_SCOPES)  # what "Connect Zoho" asks for (app/integrations/zoho/oauth.py)


class ZohoAccess:
    def __init__(self, client: ZohoClient) -> None:
        self._client = client

    async def check_token(self) -> Finding:
        try:
            await self._client.fetch_access_token()
        except ZohoAuthError as exc:
            return Finding.failed(exc.message,  # says what Zoho refused (app/integrations/zoho/tokens.py)
                                  "Reconnect Zoho: sign in to Zoho again from the connection's page.",
                                  reconnect=isinstance(exc, ReconnectNeeded))
        except ZohoError as exc:
            return _refused(exc)
        return Finding.ok("The refresh token gives an access token.")

    async def check_organization(self) -> Finding:
        organization_id = self._client.organization_id
        try:
            organization = await self._client.get_organization()
        except ZohoAuthError as exc:
            return Finding.failed(f"Zoho refused to show organization {organization_id}: {exc.message}",
                                  "Reconnect Zoho with a user of this organization and the settings scope.")
        except ZohoError as exc:
            if exc.status == 400 or exc.status == 404:
                return Finding.failed(f"Organization {organization_id} cannot be read: {exc.message}",
                                      "Check the organization id (Zoho Inventory → Settings → Organization "
                                      "Profile), or reconnect Zoho and pick the organization again.")
            return _refused(exc)
        name = organization.get("name")
        return Finding.ok(f"Organization {organization_id}{f' ({name})' if name else ''} is readable.")

    async def check_scopes(self) -> Finding:
        refused: list[str] = []
        for path, purpose in NEEDED_CALLS:
            try:
                await self._client.probe_list(path)
            except ZohoAuthError:
                refused.append(f"{purpose} (GET {path})")
            except ZohoError as exc:
                return _refused(exc)
        if refused:
            return Finding.failed(f"Zoho refused the calls for {', '.join(refused)}: the token lacks their scope.",
                                  f"Reconnect Zoho and grant the scopes the service asks for ({SCOPES}).")
        return Finding.ok(f"Zoho answers the calls a sync makes ({', '.join(p for _, p in NEEDED_CALLS)}).")

    async def aclose(self) -> None:
        await self._client.aclose()


def _refused(exc: ZohoError) -> Finding:
    if isinstance(exc, ZohoTargetRefused):
        return Finding.failed(f"Zoho's address may not be called from here: {exc.message}",
                              "Check the connection's Zoho data centre and URLs.")
    if isinstance(exc, ZohoUnavailable):
        return Finding.failed(f"Zoho did not answer: {exc.message}", "Try again in a few minutes.")
    return Finding.failed(f"Zoho refused: {exc.message}", "Check the connection's Zoho settings, then test again.")
