"""POST /admin/queues/actions/{action}: a dashboard action (dashboard admin only, same site,
with the page's CSRF token), answered with what changed and written to the audit log."""

from __future__ import annotations

from typing import Any

from shared.dashboard.access import for_change
from shared.dashboard.actions import ActionBody, ActionResult, run
from shared.http import Request, http_handler
from shared.http.adapter import parse_body


@http_handler(auth="none", response=ActionResult)
def handler(request: Request[Any]) -> ActionResult:
    viewer = for_change(request.headers, request.method)
    body = parse_body(ActionBody, request) if request.raw_body.strip() else ActionBody()
    return run(viewer, request.path_params.get("action", ""), body)
