"""Real HTTP servers for tests: any ASGI app under uvicorn, and a scriptable callback receiver."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.embedded_redis import free_port


def self_signed_certificate(folder: Path, hostname: str) -> tuple[Path, Path]:
    """(key, certificate) files of a one-day self-signed certificate for ``hostname``."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={hostname}",
         "-addext", f"subjectAltName=DNS:{hostname}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


@contextmanager
def serve(app: Any, http: str = "auto", tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Run ``app`` under uvicorn (``http``: its protocol option; ``tls``: key and certificate
    files) on a free loopback port; yields its base URL."""
    port = free_port()
    key, cert = tls or (None, None)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
        http=http,
        ssl_keyfile=key and str(key),
        ssl_certfile=cert and str(cert),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


#: Longest a ``Receiver`` with ``gather`` holds an answer, in seconds.
GATHER_WAIT_S = 5.0


@dataclass
class Call:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    peer: str = ""  #: the client's ``host:port`` (one keep-alive connection keeps one port)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Your backend: records every POST; answers from a per-path script, then 200."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    hang: dict[str, int] = field(default_factory=dict)  #: path -> requests to leave unanswered
    delay_s: float = 0.0  #: how long every answer takes
    #: hold every answer until this many requests wait at once (or ``GATHER_WAIT_S`` passes)
    gather: int = 0
    in_flight: int = 0
    most_in_flight: int = 0  #: the most requests waiting for their answers at once

    def to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def app(self) -> Starlette:
        gathered = asyncio.Event()

        async def record(request: Request) -> Response:
            call = Call(request.url.path, dict(request.headers), await request.body())
            self.calls.append(call)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                return await answer(call)
            finally:
                self.in_flight -= 1

        async def answer(call: Call) -> Response:
            if self.gather:
                if self.in_flight >= self.gather:
                    gathered.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(gathered.wait(), GATHER_WAIT_S)
            if self.hang.get(call.path, 0) > 0:
                self.hang[call.path] -= 1
                await asyncio.sleep(60)  # the caller dies or times out first
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            planned = self.script.get(call.path)
            if planned:
                status, headers = planned.pop(0)
                return JSONResponse({"scripted": status}, status_code=status, headers=headers)
            return JSONResponse({"received": True})

        return Starlette(routes=[Route("/{path:path}", record, methods=["POST"])])


@dataclass
class FakeOpenAI:
    """An OpenAI-compatible chat-completions server: records each request; answers from
    ``script`` (status, headers) first, then ``content`` with ``tokens`` (prompt, completion);
    ``delays_s`` makes the next answers that slow."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    content: str = "{}"
    tokens: tuple[int, int] = (30, 10)
    delays_s: list[float] = field(default_factory=list)

    def app(self) -> Starlette:
        async def completions(request: Request) -> Response:
            self.requests.append(await request.json())
            if self.delays_s:
                await asyncio.sleep(self.delays_s.pop(0))
            if self.script:
                status, headers = self.script.pop(0)
                return JSONResponse({"error": {"message": "scripted"}}, status, headers=headers)
            prompt, completion = self.tokens
            return JSONResponse({
                "choices": [{"message": {"role": "assistant", "content": self.content}}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion},
            })  # fmt: skip

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@dataclass
class FakeApp:
    """The user's app as the cron functions call it: ``GET`` of any path answers ``answer``
    (JSON, ``status``), recording each request's path and headers."""

    url: str = ""
    answer: Any = field(default_factory=list)
    status: int = 200
    requests: list[Call] = field(default_factory=list)

    def app(self) -> Starlette:
        async def due(request: Request) -> Response:
            peer = f"{request.client.host}:{request.client.port}" if request.client else ""
            self.requests.append(Call(request.url.path, dict(request.headers), b"", peer))
            return JSONResponse(self.answer, status_code=self.status)

        return Starlette(routes=[Route("/{path:path}", due, methods=["GET"])])
