"""Zoho data centres: API domain and accounts (token) server for each.

Canada's accounts server is zohocloud.ca, not zoho.ca. The UK entry is not confirmed by the
reference notes and is left out until it is.
"""

from __future__ import annotations

DATA_CENTERS: dict[str, tuple[str, str]] = {
    "com": ("https://www.zohoapis.com", "https://accounts.zoho.com"),
    "eu": ("https://www.zohoapis.eu", "https://accounts.zoho.eu"),
    "in": ("https://www.zohoapis.in", "https://accounts.zoho.in"),
    "com.au": ("https://www.zohoapis.com.au", "https://accounts.zoho.com.au"),
    "jp": ("https://www.zohoapis.jp", "https://accounts.zoho.jp"),
    "ca": ("https://www.zohoapis.ca", "https://accounts.zohocloud.ca"),
    "com.cn": ("https://www.zohoapis.com.cn", "https://accounts.zoho.com.cn"),
    "sa": ("https://www.zohoapis.sa", "https://accounts.zoho.sa"),
}

API_PATH = "/inventory/v1"


def api_domain_for(data_center: str, override: str | None) -> str:
    """The API domain (scheme and host, no path); an override wins over the data centre."""
    if override:
        base = override.rstrip("/")
        return base[: -len(API_PATH)] if base.endswith(API_PATH) else base
    return DATA_CENTERS[data_center][0]


def accounts_url_for(data_center: str, override: str | None) -> str:
    return (override or DATA_CENTERS[data_center][1]).rstrip("/")
