"""WordPress media uploads (`POST /wp-json/wp/v2/media`): product images sent to the store as
bytes, so the store never has to fetch them from a URL.

Only a WordPress user may upload: WooCommerce consumer keys do not count on wp/v2 routes
(captures 51-52), so this client signs in with an application password (HTTP Basic
`user:application-password`). WordPress honours application passwords only over HTTPS, or on a
site whose environment type is "local"; over plain HTTP a real store ignores the header and
answers 401 `rest_cannot_create`, which comes out here as WooAuthError. The bundled simulator
acts as a "local" site by default (`StoreState(app_passwords_over_http=True)`), which is why the
tests can upload over http.

An upload is not idempotent: when a timeout or 5xx hides a stored upload, the retry stores a
second attachment. The orphan is harmless (unused media), and cheaper than losing the image.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Self

import httpx

from app.integrations.targets import OPEN, TargetPolicy
from app.integrations.woocommerce.client import RETRYABLE_STATUS, _error_for, send_with_retries
from app.integrations.woocommerce.errors import (
    WooError,
    WooRequestError,
    WooTargetRefused,
)

MEDIA_PATH = "/wp-json/wp/v2/media"
ENDPOINT = "POST /wp/v2/media"
# WordPress writes every thumbnail size inside the upload request: slow on a slow store.
UPLOAD_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
MAX_FILENAME = 100


class WordPressMedia:
    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        application_password: str,
        verify_tls: bool = True,
        max_attempts: int = 4,
        backoff_cap: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        targets: TargetPolicy = OPEN,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.backoff_cap = backoff_cap
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=httpx.BasicAuth(username, application_password),
            verify=verify_tls,
            timeout=UPLOAD_TIMEOUT,
            transport=transport or targets.transport(verify=verify_tls, refuse=WooTargetRefused),
            headers={"User-Agent": "skubridge/0.1"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> int:
        """Store `data` in the media library; the new attachment's id."""
        headers = {
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{safe_filename(filename)}"',
        }
        response = await self._post(data, headers)
        try:
            attachment_id = response.json().get("id")
        except (ValueError, AttributeError):
            attachment_id = None
        if not isinstance(attachment_id, int) or isinstance(attachment_id, bool) or attachment_id <= 0:
            raise WooRequestError(
                f"WordPress answered {response.status_code} to an upload without an attachment id "
                "(is the base URL the WordPress site?)",
                status=response.status_code,
            )
        return attachment_id

    async def probe_upload(self) -> None:
        """Prove the upload permission without uploading: an empty `POST /wp/v2/media`.

        WordPress checks the user (`upload_files`) before it looks at the body, then refuses
        the empty one with 400 `rest_upload_no_data` and stores nothing. That 400 is the
        success; an auth refusal (wrong password, a user who may not upload) raises WooAuthError.
        """
        try:
            await self._post(b"", {})
        except WooRequestError as exc:
            if exc.status == 400 and (exc.code or "").startswith("rest_upload_"):
                return
            raise
        raise WooRequestError("WordPress took an empty upload (is the base URL the WordPress site?)")

    async def _post(self, data: bytes, headers: dict[str, str]) -> httpx.Response:
        """One upload, retried on 429, 5xx and network errors up to `max_attempts` times in all
        (a 429 counts as an attempt here: uploads are the store's heaviest requests)."""
        return await send_with_retries(
            self._http, "POST", MEDIA_PATH, endpoint=ENDPOINT, max_attempts=self.max_attempts,
            backoff_cap=self.backoff_cap, max_rate_waits=0, error_for=_upload_error,
            giving_up="WordPress did not take the upload", content=data, headers=headers,
        )


def _upload_error(response: httpx.Response) -> WooError:
    """`_error_for`, except that WordPress refusing the file itself is final, not an outage.

    WordPress answers 500 `rest_upload_sideload_error` for a file type it does not allow or an
    empty file (and other `rest_upload_*` codes for unwritable uploads); sending the same bytes
    again cannot help.
    """
    error = _error_for(response)
    if response.status_code in RETRYABLE_STATUS and (error.code or "").startswith("rest_upload_"):
        return WooRequestError(error.message, status=error.status, code=error.code, data=error.data)
    return error


def safe_filename(name: str) -> str:
    """An ASCII file name WordPress keeps as is: accents folded, anything else outside
    [A-Za-z0-9._-] becomes "-", at most 100 characters with the extension kept."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem, dot, extension = ascii_name.rpartition(".")
    if not (dot and extension.isalnum() and len(extension) <= 10):
        stem, extension = ascii_name, ""
    stem = _clean(_clean(stem)[: MAX_FILENAME - len(extension) - 1]) or "image"
    return f"{stem}.{extension}" if extension else stem


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-_")
