"""POST /api/bullmq/initialize (seed 002): make sure every schedule exists; idempotent.
Admin credentials, or ``SERVICE_TOKEN`` as the seed's app calls it."""

from __future__ import annotations

from typing import Any

from shared.cron.admin import Initialized, initialize
from shared.cron.auth import authenticate_admin_or_service
from shared.http import Request, http_handler


@http_handler(auth="none", response=Initialized)
def handler(request: Request[Any]) -> Initialized:
    request.principal = authenticate_admin_or_service(request.headers)
    return initialize()
