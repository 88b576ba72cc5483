"""Key names and job ids: every key of a queue carries the queue's hash tag, and every job id
names its queue, so one queue lives in one Redis Cluster slot and an id finds its slot.

``<prefix>:{<queue>}`` is a queue's tag key (each job-store script's ``KEYS[1]``); the rest of
the queue's keys are that name plus a suffix (see ``lua/_lib.lua`` for the whole layout).
"""

from __future__ import annotations

import os
import time

from shared.settings import settings

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Every pair of Crockford digits, indexed by the 10 bits it spells: a ULID is 13 lookups.
_DIGIT_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
#: Where each pair's 10 bits start in a ULID's 130 (the top 2 are zero).
_PAIR_SHIFTS = tuple(range(120, -1, -10))


#: Hash tags of the queues whose tag is not their name: a split queue's sub-queues, whose tags
#: are chosen to spread over the slot space (``queues.spread_tag``); filled by the queue table.
HASH_TAGS: dict[str, str] = {}


def tag(queue: str) -> str:
    """The queue's tag key ``<prefix>:{<queue>}``: every key of the queue starts with it."""
    return f"{settings.redis_prefix}:{{{HASH_TAGS.get(queue, queue)}}}"


def queue_key(queue: str, *parts: str) -> str:
    """A key of ``queue``: ``queue_key("sms", "jobs", "waiting")`` -> ``qs:{sms}:jobs:waiting``."""
    return ":".join((tag(queue), *parts))


def now_ms() -> int:
    """This host's wall clock, epoch ms (ids only: every time the engine compares is Redis')."""
    return time.time_ns() // 1_000_000


def ulid(at_ms: int | None = None) -> str:
    """A 26-character ULID: sortable by creation time, unguessable (80 random bits)."""
    value = ((at_ms if at_ms is not None else now_ms()) << 80) | int.from_bytes(os.urandom(10))
    return "".join([_DIGIT_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def new_job_id(code: str, at_ms: int | None = None) -> str:
    """A job id of the queue whose one-letter ``code`` is given: the code, then a ULID."""
    return code + ulid(at_ms)
