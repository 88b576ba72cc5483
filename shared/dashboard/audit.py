"""The dashboard's audit log: every action, who took it, on what, when, and what changed.

Kept in Redis as one list of JSON entries, newest first, capped at ``AUDIT_KEEP`` (a key of no
queue: ``shared.redis_client.key``), so every gateway and Lambda instance sees the same log.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel

from shared.redis_client import get_redis, key

#: Entries kept; older ones are dropped.
AUDIT_KEEP = 1000


class AuditEntry(BaseModel):
    at: int  #: epoch ms
    who: str
    action: str  #: e.g. ``job.retry``, ``queue.pause``
    target: str  #: a job id or a queue name
    result: dict[str, Any]  #: what changed


def _key() -> str:
    return key("dashboard", "audit")


def record(who: str, action: str, target: str, result: dict[str, Any]) -> AuditEntry:
    """Append one entry (and drop the oldest past ``AUDIT_KEEP``)."""
    entry = AuditEntry(at=time.time_ns() // 1_000_000, who=who, action=action, target=target,
                       result=result)  # fmt: skip
    pipe = get_redis().pipeline(transaction=False)
    pipe.lpush(_key(), entry.model_dump_json())
    pipe.ltrim(_key(), 0, AUDIT_KEEP - 1)
    pipe.execute()
    return entry


def recent(limit: int = 50, *, target: str | None = None) -> list[AuditEntry]:
    """The newest entries (only those on ``target`` when given: a job or a queue)."""
    raw = get_redis().lrange(_key(), 0, AUDIT_KEEP - 1 if target else limit - 1)
    entries = [AuditEntry.model_validate(json.loads(e)) for e in raw]
    if target is not None:
        entries = [e for e in entries if e.target == target]
    return entries[:limit]
