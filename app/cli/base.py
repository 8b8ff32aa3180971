"""What every `skubridge` command shares: the command groups, the console, the settings check
and the API client."""

from __future__ import annotations

import os
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from app.config import ConfigError, Settings, get_settings

cli = typer.Typer(help="skubridge: keeps WooCommerce stores in step with Zoho Inventory.", no_args_is_help=True)
sync_cli = typer.Typer(help="Start and watch manual syncs (through the REST API).", no_args_is_help=True)
cli.add_typer(sync_cli, name="sync")
console = Console()
FINAL = {"completed", "failed", "cancelled"}

ApiUrl = Annotated[str, typer.Option(envvar="SKUBRIDGE_API_URL", help="The API's base URL")]


def settings_or_exit() -> Settings:
    """The settings, checked before anything starts: a bad configuration (public or short
    secrets outside development, see app/config.py) ends the command with its message on
    stderr and exit code 1, not a traceback from deep inside the server."""
    try:
        return get_settings()
    except ConfigError as exc:
        typer.echo(f"skubridge: refusing to start: {exc}", err=True)
        raise typer.Exit(1) from None


def api_client(api_url: str) -> httpx.Client:
    token = os.environ.get("API_TOKEN") or settings_or_exit().api_token.get_secret_value()
    return httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def answer(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            body = response.json()
            message = f"{body.get('error')}: {body.get('detail')}"
        except ValueError:
            message = response.text[:200]
        console.print(f"[red]{response.status_code} {message}[/red]")
        raise typer.Exit(1)
    data: dict[str, Any] = response.json()
    return data
