"""The layout keeps its promises: the service never imports the simulators (the Docker image
leaves them out), and workers stay a thin shell the service does not depend on."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imports_of(package: str) -> dict[str, set[str]]:
    """Module file → the top-level names of everything it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(package: str, prefix: str) -> list[str]:
    return [f"{module} imports {name}" for module, names in imports_of(package).items()
            for name in sorted(names) if name == prefix or name.startswith(prefix + ".")]


def test_the_service_never_imports_the_simulators() -> None:
    assert len(imports_of("app")) > 50
    assert offenders("app", "simulators") == []
    assert offenders("workers", "simulators") == []


def test_only_the_command_line_starts_workers() -> None:
    assert [o for o in offenders("app", "workers") if not o.startswith("app/cli/")] == []
