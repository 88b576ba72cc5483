"""The worker process's graceful stop, as one flag every part reads.

Set when the worker is asked to stop: consumers fetch no more messages and hand back the ones
they hold, a running message hands back the jobs it has not started, and running jobs finish.
"""

from __future__ import annotations

import threading

#: Set once this process has begun its graceful stop.
STOPPING = threading.Event()


def stopping() -> bool:
    """True once this process has begun its graceful stop."""
    return STOPPING.is_set()
