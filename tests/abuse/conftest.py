"""Fixtures of the API abuse tests: a production ``qs gateway`` process with two organisations,
and raw HTTP/1.1 over a socket for what httpx would never send."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from local.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]
#: Keys a refused request may leave: admission counts, liveness, health probes.
OTHER_KEYS = ("rl:", "alive", "health:")


@dataclass
class Gateway:
    """A running gateway: its URL, one API key per organisation, the service token."""

    url: str
    port: int
    keys: dict[str, str]
    service_token: str

    def auth(self, org: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[org]}"}

    def raw(self, request: bytes, timeout_s: float = 3.0) -> bytes:
        """Send ``request`` as is; everything the server answers until it closes (or goes quiet
        for ``timeout_s``)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout_s) as sock:
            sock.sendall(request)
            chunks = []
            try:
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            except TimeoutError:
                pass
        return b"".join(chunks)


def job_keys(client: redis.Redis, prefix: str) -> list[str]:
    """Every key under ``prefix`` but ``OTHER_KEYS`` (what a create writes: job records,
    indexes, queue lines)."""
    keys = (str(k) for k in client.scan_iter(match=f"{prefix}:*", count=1000))
    return sorted(
        k for k in keys if not k.startswith(tuple(f"{prefix}:{part}" for part in OTHER_KEYS))
    )


@pytest.fixture
def prod_gateway(redis_url: str, redis_prefix: str) -> Iterator[Gateway]:
    """``qs gateway`` (one process, APP_ENV=production) on a free port, orgs ``orga``/``orgb``."""
    port = free_port()
    keys = {"orga": "ka-" + uuid.uuid4().hex, "orgb": "kb-" + uuid.uuid4().hex}
    token = "svc-" + uuid.uuid4().hex
    env = os.environ | {
        "APP_ENV": "production",
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "API_KEYS": ",".join(f"{org}:{key}" for org, key in keys.items()),
        "SERVICE_TOKEN": token,
        "DASHBOARD_PASSWORD": "dash-" + uuid.uuid4().hex,  # production refuses a weak one
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "local.cli", "gateway", "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/api/health", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                _, err = process.communicate()
                pytest.fail(f"qs gateway did not start: {err.decode()[-2000:]}")
            time.sleep(0.05)
    try:
        yield Gateway(url, port, keys, token)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
