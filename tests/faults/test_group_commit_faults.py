"""Group commit under a failing Redis connection: a batch whose script call is cut fails its
own requests only (503, saying the outcome is unknown), and the batch waiting behind it is
written. The gateway runs in this process, on the test's event loop, and talks to the test's
own Redis through a TCP proxy on 127.0.0.1 that holds or cuts a connection whose bytes carry a
marker (the SMS text of the requests to fail)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from local.gateway import build_app
from shared.jobs import group_commit
from shared.jobs.store import JobStore
from shared.settings import settings
from tests.faults.harness import RedisServer

HOLD, CUT = b"held-until-released", b"cut-by-the-proxy"


class MarkerProxy:
    """Forwards to Redis; a connection whose request carries a marker in ``hold`` waits for
    that marker's event, and once it is set is cut (closed, its request never forwarded) if
    the marker is in ``cut``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.hold: dict[bytes, asyncio.Event] = {}
        self.cut: set[bytes] = set()
        self.holding: dict[bytes, int] = {}  #: connections waiting, per marker
        self.cuts = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)

        async def answers() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        back = asyncio.create_task(answers())
        try:
            while data := await reader.read(1 << 20):
                if not await self._pass(data):
                    self.cuts += 1
                    return
                up_writer.write(data)
                await up_writer.drain()
        finally:
            back.cancel()
            up_writer.close()
            writer.close()

    async def _pass(self, data: bytes) -> bool:
        for marker, event in self.hold.items():
            if marker in data and not event.is_set():
                self.holding[marker] = self.holding.get(marker, 0) + 1
                await event.wait()
                self.holding[marker] -= 1
        return not any(marker in data for marker in self.cut)


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)
    assert condition(), what


def sms(text: str) -> dict[str, Any]:
    body = {"phoneNumber": "+14155550100", "message": text, "contactId": "c1"}
    return body | {"workspaceId": "w1", "delay": 3_600_000}


@pytest.fixture
def proxied(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> MarkerProxy:
    monkeypatch.setattr(settings, "redis_prefix", "group-commit")
    return MarkerProxy(redis_server.port)


def test_a_cut_batch_fails_its_own_requests_only(
    proxied: MarkerProxy, redis_server: RedisServer, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> tuple[httpx.Response, list[httpx.Response], list[httpx.Response]]:
        port = await proxied.start()
        monkeypatch.setattr(settings, "redis_url", f"redis://127.0.0.1:{port}/0")
        transport = httpx.ASGITransport(app=build_app(threads=0))
        auth = {"authorization": f"Bearer {api_key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway", headers=auth
        ) as client:

            def send(text: str) -> Awaitable[httpx.Response]:
                return asyncio.ensure_future(client.post("/api/schedule-sms", json=sms(text)))

            release_first, release_doomed = asyncio.Event(), asyncio.Event()
            proxied.hold = {HOLD: release_first, CUT: release_doomed}
            proxied.cut = {CUT}
            first = send(HOLD.decode())  # a lone request: written at once, held in flight
            await until(lambda: proxied.holding.get(HOLD) == 1, "the first write in flight")
            commit = group_commit.for_running_loop()
            calls_before = commit.calls - 1
            doomed = [send(f"{CUT.decode()} {i}") for i in range(10)]
            await until(lambda: len(commit.waiting["sms"]) == 10, "10 requests waiting")
            release_first.set()  # the 10 go next, in one call, which the proxy holds
            await until(lambda: proxied.holding.get(CUT) == 1, "the doomed batch in flight")
            behind = [send(f"behind {i}") for i in range(10)]
            await until(lambda: len(commit.waiting["sms"]) == 10, "10 more waiting")
            release_doomed.set()  # cut it, and every retry of it
            answers = await asyncio.gather(first, *doomed, *behind)
            assert commit.calls - calls_before == 3, "one call per batch"
        return answers[0], list(answers[1:11]), list(answers[11:])

    first, doomed, behind = asyncio.run(scenario())
    monkeypatch.setattr(settings, "redis_url", redis_server.url)  # the proxy is gone
    assert first.status_code == 202, first.text
    for response in doomed:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "5"
        detail = response.json()["detail"]
        assert "dropped the call: the request may or may not have been stored" in detail
        assert "Idempotency-Key" in detail
    assert proxied.cuts >= 2, "the client's retries were cut too"
    for response in behind:
        assert response.status_code == 202, response.text
    store = JobStore()
    stored = [store.get(r.json()["jobId"]) for r in (first, *behind)]
    assert all(job is not None and job.state == "delayed" for job in stored)
    assert store.count("sms", "delayed") == 11  # nothing of the cut batch was written
