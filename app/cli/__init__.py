"""The `skubridge` command: run the service's parts (`migrate`, `rotate-keys`, `api`, `worker`)
and drive syncs and previews through the REST API (`sync`, `preview`). The demo and the
simulators have their own command, `python -m simulators` (simulators/cli.py)."""

from __future__ import annotations

from app.cli import runs, service  # noqa: F401 - importing registers the commands
from app.cli.base import cli
from app.cli.runs import follow_run

__all__ = ["cli", "follow_run", "main"]


def main() -> None:
    cli()
