"""GET /admin/queues/static/{file}: the dashboard's own script and stylesheet (no CDN)."""

from __future__ import annotations

from typing import Any

from shared.dashboard.access import sign_in
from shared.dashboard.static import static_file
from shared.http import Request, Response, http_handler


@http_handler(auth="none")
def handler(request: Request[Any]) -> Response:
    sign_in(request.headers, read_only=True)
    return static_file(request.path_params.get("file", ""))
