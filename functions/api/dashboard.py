"""GET /admin/queues and the pages under it: the dashboard (overview, queue, job), for the
dashboard admin and read-only users."""

from __future__ import annotations

from typing import Any

from shared.dashboard.access import sign_in
from shared.dashboard.pages import route
from shared.http import Request, Response, http_handler


@http_handler(auth="none")
def handler(request: Request[Any]) -> Response:
    viewer = sign_in(request.headers, read_only=True)
    return route(viewer, request.path, request.query)
