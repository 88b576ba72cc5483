"""POST /api/cron/{name}/run: queue one run of a cron function now, paused or not (admin);
202, and its outcome shows in ``GET /api/cron`` once a worker has run it."""

from __future__ import annotations

from typing import Any

from shared.cron.admin import CronRun, run_now
from shared.http import Request, Response, http_handler


@http_handler(auth="admin", response=CronRun)
def handler(request: Request[Any]) -> Response:
    return Response(run_now(request.path_params.get("name", "")), status=202)
