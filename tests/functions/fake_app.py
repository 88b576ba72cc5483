"""A fake of your app on 127.0.0.1, for the long jobs: leads by id, a results receiver, and a
paged sync endpoint that can be told to fail on a page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.delivery.signing import verify


@dataclass
class FakeApp:
    """Leads in ``leads`` (id -> record); sync pages 1..``pages`` (cursor ``c<n>`` names page
    n), each page failing with 500 as often as ``fail_page`` says; every request recorded."""

    secret: str
    url: str = ""
    leads: dict[str, dict[str, Any]] = field(default_factory=dict)
    pages: int = 5
    per_page: int = 10
    fail_page: dict[int, int] = field(default_factory=dict)  #: page -> 500s still to answer
    lead_requests: list[list[str]] = field(default_factory=list)  #: ids asked, per GET
    results: list[dict[str, Any]] = field(default_factory=list)  #: result POSTs' bodies
    sync_calls: list[dict[str, Any]] = field(default_factory=list)  #: sync POSTs' bodies
    unsigned: list[str] = field(default_factory=list)  #: paths of requests with a bad signature
    leads_delay_s: float = 0.0  #: how long the lead endpoint takes to answer
    stuck_page: int = 0  #: a page that answers its own cursor as the next one (0: none)
    on_page: dict[int, Callable[[], None]] = field(default_factory=dict)  #: called as answered

    def _signed(self, request: Request, body: bytes) -> None:
        if not verify(self.secret, dict(request.headers), body):
            self.unsigned.append(request.url.path)

    def app(self) -> Starlette:
        async def leads(request: Request) -> Response:
            self._signed(request, b"")
            ids = request.query_params.get("ids", "").split(",")
            self.lead_requests.append(ids)
            if self.leads_delay_s:
                await asyncio.sleep(self.leads_delay_s)
            found = [{"_id": i, **self.leads[i]} for i in ids if i in self.leads]
            return JSONResponse({"leads": found})

        async def results(request: Request) -> Response:
            body = await request.body()
            self._signed(request, body)
            self.results.append(await request.json())
            return JSONResponse({"ok": True})

        async def sync(request: Request) -> Response:
            body = await request.body()
            self._signed(request, body)
            call = await request.json()
            self.sync_calls.append(call)
            cursor = call.get("cursor")
            page = int(cursor[1:]) if cursor else 1
            if self.fail_page.get(page, 0) > 0:
                self.fail_page[page] -= 1
                return JSONResponse({"error": "provider timed out"}, status_code=500)
            last = page >= self.pages
            if page in self.on_page:
                self.on_page.pop(page)()
            if page == self.stuck_page:
                return JSONResponse({"nextCursor": cursor, "synced": 0})
            return JSONResponse({
                "nextCursor": None if last else f"c{page + 1}",
                "synced": self.per_page,
                "total": self.pages * self.per_page,
            })  # fmt: skip

        return Starlette(
            routes=[
                Route("/api/leads", leads, methods=["GET"]),
                Route("/api/leads/availability", results, methods=["POST"]),
                Route("/api/integrations/sync", sync, methods=["POST"]),
            ]
        )

    def pages_fetched(self) -> list[int]:
        """The page number of every sync request, in order."""
        return [int(c["page"]) for c in self.sync_calls]
