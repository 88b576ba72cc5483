"""The queue table: every Dramatiq queue, the processor behind it and its options, in one place.

Adding a job type is one typed ``process(job)`` function in ``functions/jobs/`` plus one line
here. Cron functions have no line of their own: they share the ``cron`` queue, and their
schedules come from ``serverless.yml``.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.redis_client import dramatiq_namespace

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class QueueSpec:
    """One queue and how its jobs run."""

    name: str
    #: ``module:function`` of the job processor, ``process(job: Job) -> result``; ``None`` for
    #: queues whose actors are declared elsewhere (the cron queue, from ``serverless.yml``).
    processor: str | None
    max_attempts: int = 5  #: total tries including the first (``options.attempts`` overrides)
    backoff_ms: int = 2_000  #: base of the exponential back-off between tries, in milliseconds
    time_limit_ms: int = (
        50_000  #: a run longer than this is aborted (below Dramatiq's 60 s heartbeat)
    )
    keep_completed_ms: int = HOUR_MS  #: completed jobs are deleted this long after finishing
    keep_failed_ms: int = 7 * DAY_MS  #: failed jobs are deleted this long after failing
    notify_failure: bool = True  #: POST a failure notice to ``FAILURE_WEBHOOK_URL`` on failure

    @property
    def actor(self) -> str:
        """The Dramatiq actor that runs this queue's jobs (named after the queue)."""
        return self.name


#: Queue that cron functions run on (one actor per scheduled function).
CRON_QUEUE = "cron"
#: Queue of failure notices (their own failure raises no further notice).
FAILURE_NOTICES_QUEUE = "failure-notices"

QUEUES: dict[str, QueueSpec] = {
    spec.name: spec
    for spec in (
        QueueSpec("sms", processor="functions.jobs.send_sms:process"),
        QueueSpec("email", processor="functions.jobs.send_email:process"),
        QueueSpec(
            FAILURE_NOTICES_QUEUE,
            processor="functions.jobs.notify_failure:process",
            notify_failure=False,
        ),
        QueueSpec(CRON_QUEUE, processor=None, max_attempts=1, time_limit_ms=55_000),
    )
}

#: Queues whose jobs live in the job store (everything but cron).
JOB_QUEUES = [spec for spec in QUEUES.values() if spec.processor is not None]


def ready_key(queue_name: str) -> str:
    """The Redis list in which Dramatiq keeps ``queue_name``'s ready message ids."""
    return f"{dramatiq_namespace()}:{queue_name}"
