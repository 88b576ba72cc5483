"""Key names and job ids: every key of a queue carries the queue's hash tag, and every job id
names its queue, so one queue lives in one Redis Cluster slot and an id finds its slot.

``<prefix>:{<queue>}`` is a queue's tag key (each job-store script's ``KEYS[1]``); the rest of
the queue's keys are that name plus a suffix (see ``lua/_lib.lua`` for the whole layout).
"""

from __future__ import annotations

import os
import threading
import time

from shared.settings import settings

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Every pair of Crockford digits, indexed by the 10 bits it spells.
_DIGIT_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
#: Where each pair's 10 bits start in a ULID's time part (50 bits, the top 2 zero).
_TIME_SHIFTS = tuple(range(40, -1, -10))
#: A random byte to the Crockford digit of its low 5 bits (256 is a multiple of 32, so each
#: digit is equally likely): a ULID's 80 random bits are 16 such digits.
_DIGIT_OF_BYTE = bytes.maketrans(bytes(range(256)), (_CROCKFORD * 8).encode())
#: Random bytes read from the OS at a time (a ULID takes 16): one ``getrandom`` per 256 ids.
RANDOM_BUFFER_BYTES = 4096


class _Entropy(threading.local):
    """Each thread's unread random bytes (``os.urandom``), and its last ULID time part."""

    def __init__(self) -> None:
        self.buffer, self.at = b"", 0
        self.time_ms, self.time_part = -1, ""


_entropy = _Entropy()


def _forget_entropy() -> None:
    """In a forked child: drop the bytes the parent also holds, or both would issue the same
    ids in the same millisecond."""
    _entropy.__init__()  # type: ignore[misc]


os.register_at_fork(after_in_child=_forget_entropy)


def _random_digits() -> str:
    """16 Crockford digits (80 bits) from the OS' random source, bytes never used twice."""
    state = _entropy
    at = state.at
    if at + 16 > len(state.buffer):
        state.buffer, at = os.urandom(RANDOM_BUFFER_BYTES), 0
    state.at = at + 16
    return state.buffer[at : at + 16].translate(_DIGIT_OF_BYTE).decode()


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
    at_ms = at_ms if at_ms is not None else now_ms()
    state = _entropy
    if state.time_ms != at_ms:  # ids made in the same millisecond share their first 10 digits
        state.time_ms = at_ms
        state.time_part = "".join([_DIGIT_PAIRS[(at_ms >> s) & 1023] for s in _TIME_SHIFTS])
    return state.time_part + _random_digits()


def new_job_id(code: str, at_ms: int | None = None) -> str:
    """A job id of the queue whose one-letter ``code`` is given: the code, then a ULID."""
    return code + ulid(at_ms)
