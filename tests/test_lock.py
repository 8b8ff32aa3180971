"""The lock files install what pyproject.toml asks for: a dependency added to pyproject.toml
without `scripts/lock.sh` would be missing from every install (they use --require-hashes)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def _pins(name: str) -> dict[str, tuple[str, int]]:
    """Package → (version, number of hashes) from a lock file."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / name).read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match[1])
            pins[current] = (match[2], 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


@pytest.mark.parametrize(("lock", "requirements"), [
    ("requirements.lock", PROJECT["dependencies"]),
    ("requirements-dev.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]),
])
def test_every_dependency_is_locked_at_an_allowed_version(lock: str, requirements: list[str]) -> None:
    pins = _pins(lock)
    for line in requirements:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in {lock}: run scripts/lock.sh"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (
            f"{lock} pins {name}=={pins[name][0]}, outside {requirement}: run scripts/lock.sh")


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_pin_carries_hashes(lock: str) -> None:
    pins = _pins(lock)
    assert len(pins) > 20
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []
