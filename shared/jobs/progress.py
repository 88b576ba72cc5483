"""A running job's progress and log: what a processor reports while it works.

``job.update_progress(value)`` and ``job.log(line)`` (``shared.jobs.store.Job``) call the
functions here. Both are written into the job's own record (``lua/progress.lua``), in its
queue's hash slot, and only while that attempt holds the job (active, on its message): a
report after the job was deleted, finished or handed to another attempt is dropped (the call
returns False), so a deleted job is never resurrected. They are deleted with the job.
``GET /api/job-status/{id}`` shows them as ``progress`` and ``logs``; a retried attempt
starts with the progress the last one stored (``job.progress``), e.g. a cursor to resume from.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from shared.jobs.keys import queue_key
from shared.jobs.store import JobStore

if TYPE_CHECKING:
    from shared.jobs.store import Job

#: Lines a job's log keeps: the most recent ones (``logCount`` still counts every line).
MAX_LOG_LINES = 100
#: Longest log line kept, in UTF-8 bytes; a longer line is cut (at a character boundary).
MAX_LOG_LINE_BYTES = 1_024
#: Largest progress value (its compact JSON), in bytes.
MAX_PROGRESS_BYTES = 16_384


def progress_json(value: Any) -> str:
    """``value`` as stored: a number from 0 to 100, or a JSON object of at most
    ``MAX_PROGRESS_BYTES``; ``ValueError`` (``TypeError`` for another type) otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | dict):
        raise TypeError(f"progress is a number 0-100 or a JSON object, not {type(value).__name__}")
    if not isinstance(value, dict) and not (math.isfinite(value) and 0 <= value <= 100):
        raise ValueError(f"progress {value!r} is not between 0 and 100")
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    if len(text.encode()) > MAX_PROGRESS_BYTES:
        raise ValueError(f"progress is {len(text.encode())} bytes; at most {MAX_PROGRESS_BYTES}")
    return text


def log_line(line: object) -> str:
    """``line`` as kept: text, cut to ``MAX_LOG_LINE_BYTES`` UTF-8 bytes (whole characters)."""
    text = str(line)
    data = text.encode("utf-8", "replace")
    if len(data) <= MAX_LOG_LINE_BYTES:
        return text
    return data[:MAX_LOG_LINE_BYTES].decode("utf-8", "ignore")


def update_progress(job: Job, value: Any, store: JobStore | None = None) -> bool:
    """Store ``value`` (``progress_json``) as ``job``'s progress; False when the job is no
    longer this attempt's (nothing written)."""
    text = progress_json(value)
    args = (job.id, job.message_id, "progress", text)
    return bool((store or JobStore())._run("progress", job.queue, *args))


def log(job: Job, line: object, store: JobStore | None = None) -> bool:
    """Append ``line`` (``log_line``) to ``job``'s log, keeping the last ``MAX_LOG_LINES``;
    False when the job is no longer this attempt's (nothing written)."""
    args = (job.id, job.message_id, "log", log_line(line), MAX_LOG_LINES)
    return bool((store or JobStore())._run("progress", job.queue, *args))


def logs(job: Job, store: JobStore | None = None) -> list[str]:
    """``job``'s log lines as stored now, oldest first (empty once the job is deleted)."""
    raw = (store or JobStore()).client.hget(queue_key(job.queue, "job", job.id), "logs")
    lines = json.loads(str(raw)) if raw else []
    return [str(line) for line in lines] if isinstance(lines, list) else []
