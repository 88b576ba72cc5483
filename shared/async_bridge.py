"""Let a synchronous handler wait on the event loop that runs it, without blocking the loop.

The gateway runs each handler (``handler(event, context)``, the same function Lambda calls) in
a greenlet of its own: :func:`run_bridged`. Inside it, :func:`await_` hands an awaitable to the
coroutine that started the greenlet, which awaits it on the loop (other requests run
meanwhile) and switches back with the result or the exception. Outside a bridged greenlet
(Lambda, a worker, a test calling the handler) :func:`bridged` is false and callers take their
blocking path, so a handler module works the same everywhere.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

T = TypeVar("T")


class _Bridged(greenlet):
    """A greenlet whose awaitables its starting coroutine awaits."""


def bridged() -> bool:
    """Whether the caller runs inside :func:`run_bridged` (``await_`` may be used)."""
    return isinstance(getcurrent(), _Bridged)


def await_(awaitable: Awaitable[T]) -> T:
    """The result of ``awaitable``, awaited by the coroutine running this greenlet (its
    exception raised here); only inside :func:`run_bridged`."""
    current = getcurrent()
    if not isinstance(current, _Bridged):
        raise RuntimeError("await_() outside run_bridged()")
    result: T = current.parent.switch(awaitable)
    return result


async def run_bridged(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a greenlet, on this coroutine's context variables; each awaitable it
    hands over with :func:`await_` is awaited here, on the running loop."""
    child = _Bridged(fn)
    child.gr_context = contextvars.copy_context()
    value = child.switch(*args)
    while not child.dead:
        try:
            result = await value
        except BaseException as exc:  # the waiting code gets it, as from a blocking call
            value = child.throw(exc)
        else:
            value = child.switch(result)
    return value
