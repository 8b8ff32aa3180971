"""OAuth 1.0a one-legged signing for stores reached over plain HTTP.

WooCommerce ignores Basic auth unless it sees HTTPS, and then wants each request signed with the
consumer secret. The signature itself is oauthlib's (RFC 5849 encoding, which matches the
store's rawurlencode normalisation even for SKUs holding "/" or spaces); this adapter only
hands httpx requests to it. Parameters go in the query string, which hosts never strip, unlike
the Authorization header.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_QUERY, Client


class OAuth1QueryAuth(httpx.Auth):
    def __init__(self, consumer_key: str, consumer_secret: str) -> None:
        self._client = Client(consumer_key, client_secret=consumer_secret,
                              signature_method=SIGNATURE_HMAC_SHA256, signature_type=SIGNATURE_TYPE_QUERY)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # The body is JSON, which OAuth 1.0a leaves unsigned; only the URL and method are signed.
        signed_url, _, _ = self._client.sign(str(request.url), http_method=request.method)
        request.url = httpx.URL(signed_url)
        yield request
