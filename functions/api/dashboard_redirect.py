"""GET /ui and /admin: the seed's other dashboard paths, redirected to /admin/queues."""

from __future__ import annotations

from typing import Any

from shared.http import Request, Response, http_handler


@http_handler(auth="none")
def handler(request: Request[Any]) -> Response:
    return Response(
        "", status=302, headers={"location": "/admin/queues"}, content_type="text/plain"
    )
