"""GET /api/cron: every cron function with its expression, timezone, next run, last run, last
result and last error, and whether it is paused (admin)."""

from __future__ import annotations

from typing import Any

from shared.cron.admin import CronList, list_all
from shared.http import Request, http_handler


@http_handler(auth="admin", response=CronList)
def handler(request: Request[Any]) -> CronList:
    return list_all()
