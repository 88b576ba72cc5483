"""POST /api/cron/{name}/resume: run a paused cron function's ticks again (admin)."""

from __future__ import annotations

from typing import Any

from shared.cron.admin import CronSchedule, set_paused
from shared.http import Request, http_handler


@http_handler(auth="admin", response=CronSchedule)
def handler(request: Request[Any]) -> CronSchedule:
    return set_paused(request.path_params.get("name", ""), False)
