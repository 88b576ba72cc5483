"""Cron ``process-scheduled-messages`` (every minute): the app's due messages become SMS and
email jobs, each once (keyed by the app's message id); reports how many it took."""

from __future__ import annotations

from typing import Any

from shared.cron.runner import cron_function
from shared.cron.scheduled_messages import process


@cron_function("process-scheduled-messages")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {**process(), "scheduledAt": event.get("time")}
