"""The API as its own process (uvicorn, as deployed), for what only a real server shows: its
memory under a large body, and the log lines it writes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from simulators.server import free_port
from tests.helpers import ROOT


@dataclass
class ApiServer:
    process: subprocess.Popen
    base_url: str
    log_file: Path

    @classmethod
    def start(cls, *, env: dict[str, str], log_file: Path, log_level: str = "warning") -> ApiServer:
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
                   "--port", str(port), "--log-level", log_level]
        with open(log_file, "ab") as log:
            process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log)
        server = cls(process, f"http://127.0.0.1:{port}", log_file)
        server._wait_until_up()
        return server

    def _wait_until_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"the API did not come up (exit code {self.process.poll()})")

    def rss_bytes(self) -> int:
        """The server process's resident memory, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc status")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def api_server(database, tmp_path):
    """Start the API as a subprocess on demand (its log in a file); stopped after the test."""
    started: list[ApiServer] = []

    def start(*, env: dict[str, str] | None = None, log_level: str = "warning") -> ApiServer:
        server = ApiServer.start(env=env or {}, log_file=tmp_path / f"api-{len(started)}.log", log_level=log_level)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
