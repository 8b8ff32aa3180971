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


ENGINE = ("app/syncs", "app/previews", "app/webhooks")
VENDORS = ("app.integrations.woocommerce", "app.integrations.zoho")


def test_the_engine_imports_no_vendor_module() -> None:
    """The engine talks to the ports (app/ports/); app/connections/adapters.py builds the
    adapters. A vendor import here is a vendor shape leaking into the engine."""
    for package in ENGINE:
        assert len(imports_of(package)) >= 3, package
        assert [o for vendor in VENDORS for o in offenders(package, vendor)] == [], package


def test_the_ports_know_no_vendor() -> None:
    assert [o for vendor in VENDORS for o in offenders("app/ports", vendor)] == []
    assert [o for o in offenders("app/catalog", "app.integrations")] == []


def test_the_layout_check_would_see_a_vendor_import() -> None:
    assert offenders("app/connections", "app.integrations.zoho") != []  # the composition root may


def test_the_engine_names_no_vendor_code() -> None:
    """The store's error codes and message quirks are the adapter's to read (WriteStatus)."""
    codes = ("woocommerce_rest_", "product_invalid_sku", "lookup table", "resource_id")
    found = [f"{path.relative_to(ROOT)}: {code}" for package in (*ENGINE, "app/catalog", "app/core")
             for path in sorted((ROOT / package).rglob("*.py")) for code in codes if code in path.read_text()]
    assert found == []


def test_every_platform_a_connection_may_hold_has_a_store_adapter() -> None:
    from app.connections.adapters import _STORES
    from app.models.connection import PLATFORMS

    assert set(PLATFORMS) == set(_STORES)
