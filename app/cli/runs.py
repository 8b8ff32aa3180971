"""Commands that drive manual syncs and previews through the REST API."""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from app.cli.base import FINAL, ApiUrl, answer, api_client, cli, console, sync_cli


@sync_cli.command("start")
def sync_start(
    connection: Annotated[str, typer.Option("--connection", help="Connection id")],
    follow: Annotated[bool, typer.Option("--follow", help="Show progress until the run ends")] = False,
    api_url: ApiUrl = "http://127.0.0.1:8000",
) -> None:
    """Start a manual sync of a connection."""
    with api_client(api_url) as client:
        run = answer(client.post(f"/api/v1/connections/{connection}/syncs"))
        console.print(f"sync [bold]{run['id']}[/bold] {run['status']}")
        if follow:
            follow_run(client, run["id"])


@sync_cli.command("status")
def sync_status(run_id: str, api_url: ApiUrl = "http://127.0.0.1:8000") -> None:
    """Show one run's counters."""
    with api_client(api_url) as client:
        run = answer(client.get(f"/api/v1/syncs/{run_id}"))
    console.print_json(data=run)


@cli.command("preview")
def preview(
    connection: Annotated[str, typer.Option("--connection", help="Connection id")],
    changes_only: Annotated[bool, typer.Option("--changes-only", help="Leave out unchanged items")] = False,
    api_url: ApiUrl = "http://127.0.0.1:8000",
) -> None:
    """What a sync would do now, per SKU, with each field it would change (writes nothing)."""
    from rich.table import Table

    with api_client(api_url) as client:
        started = answer(client.post(f"/api/v1/connections/{connection}/preview"))
        while (result := answer(client.get(f"/api/v1/previews/{started['id']}", params={"limit": 1}))
               )["status"] in ("queued", "running"):
            time.sleep(0.5)
        if result["status"] == "failed":
            console.print(f"[red]preview failed: {result['reason']}[/red]")
            raise typer.Exit(1)
        items, offset = [], 0
        while offset < result["total"]:
            page = answer(client.get(f"/api/v1/previews/{started['id']}", params={"limit": 500, "offset": offset}))
            items += page["items"]
            offset += 500
    table = Table("SKU", "kind", "action", "field", "store", "Zoho / reason")
    for item in items:
        if changes_only and item["action"] == "unchanged":
            continue
        if not item["changes"]:
            table.add_row(item["sku"] or item["zoho_item_id"], item["kind"], item["action"], "", "",
                          item["reason"] or "")
        for n, change in enumerate(item["changes"]):
            first = n == 0
            table.add_row(item["sku"] or item["zoho_item_id"] if first else "", item["kind"] if first else "",
                          item["action"] if first else "", change["field"], _short(change["store"]),
                          _short(change["zoho"]))
    console.print(table)
    console.print(", ".join(f"{action} {count}" for action, count in sorted((result["summary"] or {}).items())))


def _short(value: object, width: int = 60) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def follow_run(client: httpx.Client, run_id: str, *, interval: float = 0.5) -> dict[str, Any]:
    """A live progress bar (total, synced, failed, pending, skipped) until the run ends or the
    operator pauses it; a run paused by a fault is followed on until it resumes and ends."""
    columns = (TextColumn("[bold]{task.fields[status]}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[counts]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("sync", total=None, status="queued", counts="")
        while True:
            run = answer(client.get(f"/api/v1/syncs/{run_id}"))
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
