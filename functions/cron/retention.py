"""Cron ``retention`` (hourly): deletes finished jobs past their queue's retention
(``keep_completed_ms``/``keep_failed_ms`` in the queue table) and reports the counts."""

from __future__ import annotations

from typing import Any

from shared.cron import retention
from shared.cron.runner import cron_function


@cron_function("retention")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {**retention.run(), "scheduledAt": event.get("time")}
