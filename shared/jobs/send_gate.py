"""The moment a job's request is written: where a queue's rate limit is counted.

The runner sets a gate for the job it runs on a rate-limited queue; the keep-alive transport
calls ``before_write()`` once its connection is open, right before the request's bytes go out.
The gate waits for a slot in the queue's send window (``send_slot.lua``), so the limit holds
where the backend counts: on arrivals, not on job starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: The current job's gate, or None (a queue without a rate limit, or no job at all).
_GATE: ContextVar[Callable[[], None] | None] = ContextVar("send_gate", default=None)


def before_write() -> None:
    """Wait, if the current job has a gate, until its request may be written."""
    gate = _GATE.get()
    if gate is not None:
        gate()


@contextmanager
def gated(gate: Callable[[], None] | None) -> Iterator[None]:
    """Run the body with ``gate`` called before each request it writes."""
    token = _GATE.set(gate)
    try:
        yield
    finally:
        _GATE.reset(token)
