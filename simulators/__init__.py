"""Stateful simulators of Zoho Inventory and WooCommerce, faithful to shared/reference/, and the
demo that runs the service against them. Used by the tests, the benchmarks and `make demo`;
the service (`app/`) never imports this package and the Docker image leaves it out."""
