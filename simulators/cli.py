"""`python -m simulators`: the demo (`python -m simulators demo`, what `make demo` runs) and each
vendor simulator on its own port. Not part of the service: the Docker image leaves it out."""

from __future__ import annotations

import typer

cli = typer.Typer(help="skubridge's demo and its Zoho and WooCommerce simulators.", no_args_is_help=True)


@cli.command()
def demo(items: int = 1000, api_port: int = 8000) -> None:
    """Sync a generated catalogue from the Zoho simulator into the WooCommerce simulator."""
    from simulators.demo import run_demo

    run_demo(items=items, api_port=api_port)


@cli.command("zoho")
def sim_zoho(host: str = "127.0.0.1", port: int = 8101, items: int = 1000, seed: int = 1,
             groups: int = typer.Option(0, help="Item groups (variable products) among the items"),
             image_ratio: float = typer.Option(0.0, help="Share of items with an image")) -> None:
    """Run the Zoho Inventory simulator."""
    from simulators.zoho.__main__ import run

    run(host=host, port=port, items=items, seed=seed, groups=groups, image_ratio=image_ratio)


@cli.command("woocommerce")
def sim_woocommerce(host: str = "127.0.0.1", port: int = 8102, https: bool = False,
                    per_item_latency_ms: int = typer.Option(0, help="Time the store spends per product written"),
                    connect_http_callbacks: bool = typer.Option(
                        False, help="/wc-auth/ posts keys to an http:// callback_url (local runs only: the real "
                                    "plugin insists on https)")) -> None:
    """Run the WooCommerce simulator."""
    from simulators.woocommerce.__main__ import run

    run(host=host, port=port, https=https, per_item_latency_ms=per_item_latency_ms,
        connect_http_callbacks=connect_http_callbacks)


def main() -> None:
    cli()
