"""Helpers shared by the tests: worker processes, connections against the simulators, waiting."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from simulators.demo import demo_connection_body

ROOT = Path(__file__).resolve().parents[1]
FINAL = {"completed", "failed", "cancelled"}


@dataclass
class WorkerProcess:
    """A real `skubridge worker` process with the test environment."""

    process: subprocess.Popen

    @classmethod
    def start(cls, *, env: dict[str, str] | None = None, log_file: Path | None = None) -> WorkerProcess:
        """`env` is laid over the test environment; `log_file` receives the worker's log lines
        (by default they are appended to .pytest-worker.log)."""
        command = [str(Path(sys.executable).parent / "skubridge"), "worker"]
        with open(log_file or ROOT / ".pytest-worker.log", "ab") as log:
            process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})},
                                       stdout=subprocess.DEVNULL, stderr=log)
        return cls(process)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no chance to finish the batch in flight."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def connection_body(zoho_url: str, woo_url: str, **kwargs: Any) -> dict[str, Any]:
    """A connection to the two simulators with their default credentials."""
    return demo_connection_body(zoho_url, woo_url, name="Test store", **kwargs)


async def create_connection(api: httpx.AsyncClient, zoho_url: str, woo_url: str, **kwargs: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/connections", json=connection_body(zoho_url, woo_url, **kwargs))
    assert response.status_code == 201, response.text
    return response.json()


async def start_run(api: httpx.AsyncClient, connection_id: str) -> dict[str, Any]:
    response = await api.post(f"/api/v1/connections/{connection_id}/syncs")
    assert response.status_code == 202, response.text
    return response.json()


async def wait_for_run(api: httpx.AsyncClient, run_id: str, *, statuses: set[str] = FINAL,
                       timeout: float = 60.0, until: Any = None) -> dict[str, Any]:
    """Poll the run until its status is in `statuses` (or `until(run)` is true)."""
    deadline = time.monotonic() + timeout
    while True:
        run = (await api.get(f"/api/v1/syncs/{run_id}")).json()
        if (until(run) if until else run["status"] in statuses):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run did not reach {statuses} in {timeout}s: {run}")
        await asyncio.sleep(0.1)


async def run_items(api: httpx.AsyncClient, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
    items, offset = [], 0
    while True:
        params = {"limit": 500, "offset": offset} | ({"status": status} if status else {})
        page = (await api.get(f"/api/v1/syncs/{run_id}/items", params=params)).json()
        items += page["items"]
        offset += 500
        if offset >= page["total"]:
            return items


def sim(url: str, method: str, path: str, **kwargs: Any) -> Any:
    """A simulator's control endpoint (`/__sim__...`), its JSON answer."""
    response = httpx.request(method, f"{url}/__sim__{path}", timeout=10, **kwargs)
    response.raise_for_status()
    return response.json()


def sim_requests(url: str) -> Counter:
    """A simulator's request counts by endpoint (`/__sim__/stats`)."""
    return Counter(sim(url, "GET", "/stats")["requests"])


def store_products(woo_url: str) -> list[dict[str, Any]]:
    """Every product and variation in the store simulator, trash left out."""
    return [p for p in sim(woo_url, "GET", "/products") if p.get("status") != "trash"]


def store_by_sku(woo_url: str) -> dict[str, dict[str, Any]]:
    return {p["sku"]: p for p in store_products(woo_url)}


def legacy_blob(secret_key: str, data: dict[str, Any]) -> str:
    """A secret as stored before blobs were bound to their connection: one Fernet key per
    SECRET_KEY (HKDF salt b"skubridge-credentials"), no prefix. Written out here, not taken from
    app/, so the format stays pinned."""
    import base64
    import json

    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"skubridge-credentials", info=b"fernet").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key)).encrypt(json.dumps(data, separators=(",", ":")).encode()).decode()


@contextmanager
def service_on_own_port(settings: Any, **overrides: Any) -> Iterator[Any]:
    """The service on a real port whose PUBLIC_BASE_URL is its own address (where vendors send
    the browser, and where the store posts a key), with any other settings overridden."""
    from app.main import create_app
    from simulators.server import ServerThread, free_port

    port = free_port()
    own = settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{port}", **overrides})
    server = ServerThread(create_app(own), port=port).start()
    try:
        yield server
    finally:
        server.stop()
