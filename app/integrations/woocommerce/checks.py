"""WooCommerce's and WordPress's side of "Test connection" (app/ports/checks.py): one read-only
call per check, the store's refusal turned into what the operator can do about it.

- read: `GET /wc/v3/settings/products`, the call every run starts with (captures 48-50).
- write: an empty `POST /wc/v3/products/batch` (WooClient.probe_write): a read-only key is refused
  before any route runs, a read/write key gets `[]` and nothing changes.
- media: an empty `POST /wp/v2/media` (WordPressMedia.probe_upload): WordPress checks the user's
  right to upload first, then refuses the empty body with 400 and stores nothing.
"""

from __future__ import annotations

from app.integrations.woocommerce.client import WooClient
from app.integrations.woocommerce.errors import WooAuthError, WooError, WooTargetRefused, WooUnavailable
from app.integrations.woocommerce.media import WordPressMedia
from app.ports.checks import Finding

KEYS_SCREEN = "WordPress admin → WooCommerce → Settings → Advanced → REST API"
NO_WRITE = "does not have write permissions"


class WooAccess:
    def __init__(self, client: WooClient) -> None:
        self._client = client

    async def check_read(self) -> Finding:
        try:
            settings = await self._client.get_store_settings()
        except WooError as exc:
            return _refused(exc, "read the store's settings")
        return Finding.ok(f"Read the store's settings (weight in {settings.weight_unit}, dimensions in "
                          f"{settings.dimension_unit}, stock managed: {'yes' if settings.manage_stock else 'no'}).")

    async def check_write(self) -> Finding:
        try:
            await self._client.probe_write()
        except WooAuthError as exc:
            if NO_WRITE in exc.message:
                return Finding.failed(
                    "The store's API key is read-only: it cannot create or update products.",
                    f"Connect the store again (it asks for Read/Write), or in {KEYS_SCREEN} set this key's "
                    "permissions to Read/Write.")
            return _refused(exc, "write products")
        except WooError as exc:
            return _refused(exc, "write products")
        return Finding.ok("The key may write products (checked with an empty batch: nothing was changed).")

    async def aclose(self) -> None:
        await self._client.aclose()


class WordPressMediaAccess:
    def __init__(self, media: WordPressMedia) -> None:
        self._media = media

    async def check_upload(self) -> Finding:
        try:
            await self._media.probe_upload()
        except WooAuthError as exc:
            return Finding.failed(
                f"WordPress refused the application password ({exc.message}).",
                "Connect media uploads again, or make a new application password in WordPress admin → Users → "
                "Profile → Application Passwords for a user who may upload files (Author or above).")
        except WooError as exc:
            return _refused(exc, "upload media")
        return Finding.ok("The application password may upload media (checked with an empty upload: nothing "
                          "was stored).")

    async def aclose(self) -> None:
        await self._media.aclose()


def _refused(exc: WooError, what: str) -> Finding:
    """A refusal other than the one each check expects, with the usual way out."""
    if isinstance(exc, WooTargetRefused):
        return Finding.failed(f"The store's address may not be called from here: {exc.message}",
                              "Use the store's public address, or set ALLOW_PRIVATE_TARGETS=true for a store on "
                              "a private network.")
    if isinstance(exc, WooUnavailable):
        return Finding.failed(f"The store did not answer: {exc.message}",
                              "Check that the store is up and reachable from this service, then test again.")
    if isinstance(exc, WooAuthError):
        return Finding.failed(f"The store refused the key ({exc.message}).",
                              f"Connect the store again, or paste a Read/Write key made in {KEYS_SCREEN}.")
    return Finding.failed(f"The store would not {what}: {exc.message}",
                          "Check the store URL (the WordPress site's address) and that pretty permalinks are on.")
