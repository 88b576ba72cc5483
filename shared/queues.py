"""The queue table: every Dramatiq queue, the processor behind it and its options, in one place.

Adding a job type is one typed ``process(job)`` function in ``functions/jobs/`` plus one line
here. Cron functions have no line of their own: they share the ``cron`` queue, and their
schedules come from ``serverless.yml``.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.redis_client import dramatiq_namespace


@dataclass(frozen=True)
class QueueSpec:
    """One queue and how its jobs run."""

    name: str
    #: ``module:function`` of the job processor; ``None`` for queues whose actors are declared
    #: elsewhere (the cron queue, built from ``serverless.yml``).
    processor: str | None
    max_attempts: int = 5  #: total tries including the first
    backoff_ms: int = 2_000  #: base of the exponential back-off between tries, in milliseconds
    time_limit_ms: int = (
        50_000  #: a run longer than this is aborted (below Dramatiq's 60 s heartbeat)
    )


#: Queue that cron functions run on (one actor per scheduled function).
CRON_QUEUE = "cron"

QUEUES: dict[str, QueueSpec] = {
    spec.name: spec
    for spec in (QueueSpec(CRON_QUEUE, processor=None, max_attempts=1, time_limit_ms=55_000),)
}


def ready_key(queue_name: str) -> str:
    """The Redis list in which Dramatiq keeps ``queue_name``'s ready message ids."""
    return f"{dramatiq_namespace()}:{queue_name}"
