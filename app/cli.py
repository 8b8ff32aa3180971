"""The `skubridge` command: run the service's parts, drive syncs through the API, run the demo."""

from __future__ import annotations

import os
import time
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from app.config import ConfigError, Settings, get_settings

cli = typer.Typer(help="skubridge: keeps WooCommerce stores in step with Zoho Inventory.", no_args_is_help=True)
sync_cli = typer.Typer(help="Start and watch manual syncs (through the REST API).", no_args_is_help=True)
sim_cli = typer.Typer(help="Run the bundled vendor simulators.", no_args_is_help=True)
cli.add_typer(sync_cli, name="sync")
cli.add_typer(sim_cli, name="sim")
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


@cli.command()
def migrate() -> None:
    """Apply database migrations."""
    from app.db.migrate import upgrade

    upgrade(settings_or_exit().database_url)
    console.print("database is up to date")


@cli.command("rotate-keys")
def rotate_keys(batch_size: int = typer.Option(100, min=1, help="Connections re-sealed per transaction")) -> None:
    """Re-encrypt every stored secret with SECRET_KEY, bound to its connection: run it after
    upgrading and after moving the old key to SECRET_KEYS; then the old key can go."""
    import asyncio

    from app.connections.rotation import rotate_with_settings
    from app.core.crypto import CredentialsUnreadable

    settings = settings_or_exit()
    try:
        report = asyncio.run(rotate_with_settings(settings, batch_size=batch_size))
    except CredentialsUnreadable as exc:
        typer.echo(f"skubridge: rotate-keys refused: {exc}", err=True)
        raise typer.Exit(1) from None
    console.print(f"rewrote {report.rewritten} of {report.examined} connections with the current SECRET_KEY")


@cli.command()
def api(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the REST API (and Zoho's webhooks)."""
    import uvicorn

    settings_or_exit()
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers,
                proxy_headers=True, log_level="warning")


@cli.command()
def worker(burst: bool = typer.Option(False, help="Exit when the queue is empty")) -> None:
    """Run an arq worker (runs, recovery)."""
    from arq.worker import run_worker

    settings_or_exit()  # before workers.settings, which reads the settings as it is imported
    from workers.settings import WorkerSettings

    run_worker(WorkerSettings, burst=burst)  # type: ignore[arg-type]


@cli.command()
def demo(items: int = 1000, api_port: int = 8000) -> None:
    """Sync a generated catalogue from the Zoho simulator into the WooCommerce simulator."""
    from app.demo import run_demo

    run_demo(items=items, api_port=api_port)


@sync_cli.command("start")
def sync_start(
    connection: Annotated[str, typer.Option("--connection", help="Connection id")],
    follow: Annotated[bool, typer.Option("--follow", help="Show progress until the run ends")] = False,
    api_url: ApiUrl = "http://127.0.0.1:8000",
) -> None:
    """Start a manual sync of a connection."""
    with _client(api_url) as client:
        run = _call(client.post(f"/api/v1/connections/{connection}/syncs"))
        console.print(f"sync [bold]{run['id']}[/bold] {run['status']}")
        if follow:
            follow_run(client, run["id"])


@sync_cli.command("status")
def sync_status(run_id: str, api_url: ApiUrl = "http://127.0.0.1:8000") -> None:
    """Show one run's counters."""
    with _client(api_url) as client:
        run = _call(client.get(f"/api/v1/syncs/{run_id}"))
    console.print_json(data=run)


@cli.command("preview")
def preview(
    connection: Annotated[str, typer.Option("--connection", help="Connection id")],
    changes_only: Annotated[bool, typer.Option("--changes-only", help="Leave out unchanged items")] = False,
    api_url: ApiUrl = "http://127.0.0.1:8000",
) -> None:
    """What a sync would do now, per SKU, with each field it would change (writes nothing)."""
    from rich.table import Table

    with _client(api_url) as client:
        started = _call(client.post(f"/api/v1/connections/{connection}/preview"))
        while (result := _call(client.get(f"/api/v1/previews/{started['id']}", params={"limit": 1}))
               )["status"] in ("queued", "running"):
            time.sleep(0.5)
        if result["status"] == "failed":
            console.print(f"[red]preview failed: {result['reason']}[/red]")
            raise typer.Exit(1)
        items, offset = [], 0
        while offset < result["total"]:
            page = _call(client.get(f"/api/v1/previews/{started['id']}", params={"limit": 500, "offset": offset}))
            items += page["items"]
            offset += 500
    table = Table("SKU", "kind", "action", "field", "store", "Zoho / reason")
    for item in items:
        if changes_only and item["action"] == "unchanged":
            continue
        if not item["changes"]:
            table.add_row(item["sku"] or item["zoho_item_id"], item["kind"], item["action"], "", "", item["reason"] or "")
        for n, change in enumerate(item["changes"]):
            first = n == 0
            table.add_row(item["sku"] or item["zoho_item_id"] if first else "", item["kind"] if first else "",
                          item["action"] if first else "", change["field"], _short(change["store"]), _short(change["zoho"]))
    console.print(table)
    console.print(", ".join(f"{action} {count}" for action, count in sorted((result["summary"] or {}).items())))


def _short(value: object, width: int = 60) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@sim_cli.command("zoho")
def sim_zoho(host: str = "127.0.0.1", port: int = 8101, items: int = 1000, seed: int = 1,
             groups: int = typer.Option(0, help="Item groups (variable products) among the items"),
             image_ratio: float = typer.Option(0.0, help="Share of items with an image")) -> None:
    """Run the Zoho Inventory simulator."""
    from app.integrations.zoho.simulator.__main__ import run

    run(host=host, port=port, items=items, seed=seed, groups=groups, image_ratio=image_ratio)


@sim_cli.command("woocommerce")
def sim_woocommerce(host: str = "127.0.0.1", port: int = 8102, https: bool = False,
                    per_item_latency_ms: int = typer.Option(0, help="Time the store spends per product written")) -> None:
    """Run the WooCommerce simulator."""
    from app.integrations.woocommerce.simulator.__main__ import run

    run(host=host, port=port, https=https, per_item_latency_ms=per_item_latency_ms)


def follow_run(client: httpx.Client, run_id: str, *, interval: float = 0.5) -> dict:
    """A live progress bar (total, synced, failed, pending, skipped) until the run ends or the
    operator pauses it; a run paused by a fault is followed on until it resumes and ends."""
    columns = (TextColumn("[bold]{task.fields[status]}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[counts]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("sync", total=None, status="queued", counts="")
        while True:
            run = _call(client.get(f"/api/v1/syncs/{run_id}"))
            counts = (f"total {run['total']}  synced {run['synced']}  failed {run['failed']}  "
                      f"pending {run['pending']}  skipped {run['skipped']}")
            if run.get("retry_at"):  # paused by a fault: it resumes by itself, so keep following
                counts += f"  (retrying at {run['retry_at']}: {run.get('reason')})"
            progress.update(task, total=run["total"] or None, completed=run["total"] - run["pending"],
                            status=run["status"], counts=counts)
            if run["status"] in FINAL or (run["status"] == "paused" and not run.get("retry_at")):
                break
            time.sleep(interval)
    if run.get("reason"):
        console.print(f"reason: {run['reason']}")
    return run


def _client(api_url: str) -> httpx.Client:
    token = os.environ.get("API_TOKEN") or settings_or_exit().api_token.get_secret_value()
    return httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _call(response: httpx.Response) -> dict:
    if response.status_code >= 400:
        try:
            body = response.json()
            message = f"{body.get('error')}: {body.get('detail')}"
        except ValueError:
            message = response.text[:200]
        console.print(f"[red]{response.status_code} {message}[/red]")
        raise typer.Exit(1)
    return response.json()


def main() -> None:
    cli()
