"""Analytics counters: ``track-event`` jobs counted per organisation, event and minute.

Key layout, under the analytics queue's tag (one Redis Cluster slot):
``<prefix>:{analytics}:counts:<org>:<event>:<yyyymmdd>`` is a hash of minute-of-day (0-1439)
-> count for that UTC day, expiring ``ANALYTICS_RETENTION_DAYS`` after the day ends;
``…:counted:<job id>`` marks a job already counted, so a retried job never counts twice.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from shared.jobs.keys import queue_key, tag
from shared.jobs.runner import JobFailed
from shared.jobs.store import Job
from shared.redis_client import get_redis, script
from shared.settings import settings

QUEUE = "analytics"
MINUTE_MS = 60_000
DAY_MS = 1440 * MINUTE_MS
#: event names: letters, digits and ``_ . : -``, up to 100 characters
EVENT_PATTERN = re.compile(r"[A-Za-z0-9_.:\-]{1,100}")
#: longest range ``GET /api/analytics`` reads at once, in milliseconds (7 days)
MAX_RANGE_MS = 7 * DAY_MS

#: How long a job stays marked as counted, in seconds (longer than any job's retries).
COUNTED_TTL_S = 7 * 86_400

# Count once per job. KEYS: the queue's tag key, the counter hash, the job's marker;
# ARGV: minute of the day, marker TTL (s), when the counter expires (epoch s).
_COUNT = script(
    """
if redis.call('SET', KEYS[3], '1', 'NX', 'EX', tonumber(ARGV[2])) then
  local n = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  redis.call('EXPIREAT', KEYS[2], tonumber(ARGV[3]))
  return n
end
return false
"""
)


def counter_key(org: str, event: str, day: str) -> str:
    """The hash of ``org``'s ``event`` counts on UTC day ``day`` (``yyyymmdd``)."""
    return queue_key(QUEUE, "counts", org or "-", event, day)


def _day(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y%m%d")


def parse_time(value: Any) -> int | None:
    """An ISO 8601 string (a naive one is UTC) or epoch milliseconds -> epoch ms; None if
    it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if re.fullmatch(r"\d{1,16}", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def record(job: Job) -> dict[str, Any]:
    """Count ``job``'s event once in its minute (its ``timestamp``, else its creation)."""
    event = job.data.get("event")
    if not isinstance(event, str) or not EVENT_PATTERN.fullmatch(event):
        raise JobFailed(f"event {event!r} is not a valid event name", retryable=False)
    at = parse_time(job.data.get("timestamp")) if job.data.get("timestamp") else None
    at_ms = at if at is not None else job.created_at
    day = _day(at_ms)
    minute = (at_ms % DAY_MS) // MINUTE_MS
    expires_s = (at_ms // DAY_MS + 1) * DAY_MS // 1000 + settings.analytics_retention_days * 86_400
    count = _COUNT(
        keys=[tag(QUEUE), counter_key(job.org, event, day), queue_key(QUEUE, "counted", job.id)],
        args=[minute, COUNTED_TTL_S, expires_s],
        client=get_redis(),
    )
    minute_iso = datetime.fromtimestamp(at_ms // MINUTE_MS * 60, UTC).isoformat()
    return {"event": event, "minute": minute_iso.replace("+00:00", "Z"), "counted": bool(count)}


def read(org: str, event: str, from_ms: int, to_ms: int) -> list[tuple[int, int]]:
    """``org``'s ``event`` counts per minute in ``[from_ms, to_ms)``: (minute start in epoch
    ms, count) pairs, minutes with no event left out, oldest first."""
    first_day, last_day = from_ms // DAY_MS, (to_ms - 1) // DAY_MS
    pipe = get_redis().pipeline(transaction=False)
    for day_index in range(first_day, last_day + 1):
        pipe.hgetall(counter_key(org, event, _day(day_index * DAY_MS)))
    counts = []
    for day_index, fields in zip(range(first_day, last_day + 1), pipe.execute(), strict=True):
        for minute, count in fields.items():
            start = day_index * DAY_MS + int(minute) * MINUTE_MS
            if from_ms <= start + MINUTE_MS - 1 and start < to_ms:
                counts.append((start, int(count)))
    return sorted(counts)
