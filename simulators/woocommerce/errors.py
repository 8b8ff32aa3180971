"""The one error type of the WooCommerce simulator.

WordPress answers every failure with `{"code", "message", "data": {"status", ...}}`. Domain code
raises `WCError`; the HTTP layer turns it into that body. Extra `data` keys come after `status`,
as WooCommerce's `WC_Data_Exception` merges them (`array_merge(['status' => 400], $data)`).
"""

from __future__ import annotations

from typing import Any


class WCError(Exception):
    """A WordPress/WooCommerce REST error: HTTP status, machine code, message, extra data."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.data = data or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body WordPress sends for this error."""
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}

    def item_error(self) -> dict[str, Any]:
        """The `error` object of a failed batch item (same shape as a top-level error)."""
        return self.body()


def invalid_id(post_type: str, status: int) -> WCError:
    """`woocommerce_rest_<post_type>_invalid_id` "Invalid ID." (404 on read/delete, 400 on update)."""
    return WCError(f"woocommerce_rest_{post_type}_invalid_id", "Invalid ID.", status)


def variation_via_product_endpoint() -> WCError:
    """A variation id sent to a `/products/{id}` write route."""
    return WCError(
        "woocommerce_rest_invalid_product_id",
        "To manipulate product variations you should use the "
        "/products/&lt;product_id&gt;/variations/&lt;id&gt; endpoint.",
        404,
    )


class FatalError(WCError):
    """PHP died: the whole request fails, even inside a batch."""


def critical_error() -> FatalError:
    """What WordPress's fatal-error handler answers to a REST request (PHP died mid-request)."""
    return FatalError(
        "internal_server_error",
        "<p>There has been a critical error on this website.</p><p><a href=\"https://wordpress.org/"
        "documentation/article/faq-troubleshooting/\">Learn more about troubleshooting WordPress.</a></p>",
        500,
    )
