"""Prometheus metrics of the vendor clients (per process: the API's /metrics, and the worker's
own endpoint when WORKER_METRICS_PORT is set)."""

from prometheus_client import Counter

VENDOR_REQUESTS = Counter(
    "skubridge_vendor_requests_total",
    "Requests sent to Zoho and WooCommerce, by vendor, endpoint and outcome.",
    ["vendor", "endpoint", "outcome"],
)
