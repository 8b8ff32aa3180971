"""Commands that run the service's parts: migrations, key rotation, the API, a worker.

This package is the one place that knows every process the service runs, so `worker` imports
`workers/` (lazily, after the settings are checked); nothing else in `app/` does.
"""

from __future__ import annotations

import typer

from app.cli.base import cli, console, settings_or_exit


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

    run_worker(WorkerSettings, burst=burst)  # type: ignore[arg-type]  # arq types settings as a dict; a class works
