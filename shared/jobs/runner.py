"""Runs the jobs of one Dramatiq message: start, process, then complete/retry/fail each.

Retries are the job store's (a back-off in the delayed set), not Dramatiq's: actors have
``max_retries=0`` and every outcome is recorded on the job.
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from shared.jobs import calls, overlap
from shared.jobs.liveness import process_id
from shared.jobs.queues import FAILURE_NOTICES_QUEUE, QueueSpec, effective, resolve
from shared.jobs.retry import next_retry_delay_ms
from shared.jobs.send_gate import gated
from shared.jobs.stopping import stopping
from shared.jobs.store import Finish, FollowUp, Job, JobStore, Skipped, Usage, Wait
from shared.redis_client import until_answered
from shared.settings import settings

log = logging.getLogger("qs.runner")

Processor = Callable[[Job], Any]


class JobFailed(Exception):
    """Raised by a processor: ``retryable`` failures are tried again after a back-off."""

    def __init__(
        self,
        error: str,
        *,
        retryable: bool,
        retry_after_s: float | None = None,
        result: Any = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.result = result  #: kept as the job's result (e.g. work a retry can reuse)


class HandBack(Exception):
    """Raised by a processor at a safe point to hand its job back unattempted: it is ready again
    at the front of its line, the attempt not counted, its progress kept (a long job whose
    worker is stopping resumes on another one from what it stored, ``shared.jobs.progress``)."""


def retry_delay_ms(spec: QueueSpec, job: Job, failure: JobFailed) -> int:
    """Back-off before the next try: ``options.backoff`` or the queue's exponential default,
    at least the server's ``Retry-After``."""
    backoff = job.options.get("backoff") or {}
    kind = backoff.get("type", "exponential")
    delay = int(backoff.get("delay", spec.backoff_ms))
    return next_retry_delay_ms(job.attempts, kind, delay, failure.retry_after_s)


#: A message stops taking new jobs after this many seconds and hands the rest back, so it ends
#: well inside the queue's time limit even when callbacks time out one after another.
BATCH_BUDGET_S = 15.0
#: Jobs started, then finished, per Redis round trip within one message: a whole message of the
#: default ``DELIVERY_BATCH`` (20). Against 10, in a same-machine A/B of 20,000 callbacks (2
#: pairs of 2 runs): 6,463 / 6,321 against 5,652 / 5,827 callbacks/s, Redis command time per job
#: -10 %. The cost: a job's outcome is written after the chunk's last callback (tens of ms).
CHUNK = 20


def attempt(spec: QueueSpec, processor: Processor, job: Job) -> Finish:
    """Run one attempt of ``job``; how it ended (never raises)."""
    # Imported here: an HTTP handler imports this module for its Redis-down send, and Dramatiq
    # is worker-only weight on its cold start.
    from dramatiq.middleware import TimeLimitExceeded

    extra = {"job_id": job.id, "queue": spec.name}
    made: list[dict[str, Any]] = []
    try:
        with gated(send_gate(spec, job)), calls.recording() as made:
            result = processor(job)
    except HandBack:
        log.info("handed back on attempt %d", job.attempts, extra=extra)
        return Finish(job, "requeue")
    except JobFailed as exc:
        failure = exc
    except (Exception, TimeLimitExceeded) as exc:  # a bug or a time-out: retried like a 5xx
        log.exception("processor raised", extra=extra)
        failure = JobFailed(f"{type(exc).__name__}: {exc}", retryable=True)
    else:
        log.info("completed on attempt %d", job.attempts, extra=extra)
        return Finish(job, "completed", result=result, calls=tuple(made))
    if failure.retryable and job.attempts < job.max_attempts:
        wait = retry_delay_ms(spec, job, failure)
        log.warning(
            "attempt %d/%d failed, retry in %d ms: %s",
            job.attempts, job.max_attempts, wait, failure.error, extra=extra,
        )  # fmt: skip
        return Finish(
            job, "delayed", error=failure.error, delay_ms=wait, result=failure.result,
            calls=tuple(made),
        )  # fmt: skip
    log.error("failed after %d attempt(s): %s", job.attempts, failure.error, extra=extra)
    return Finish(job, "failed", error=failure.error, result=failure.result, calls=tuple(made))


def send_gate(spec: QueueSpec, job: Job) -> Callable[[], None] | None:
    """For a queue with a rate limit: what waits for a slot of its send window before each
    request the job writes (see ``shared.jobs.send_gate``); None for a queue without one."""
    spec = effective(spec)
    if spec.limiter is None and spec.workspace_limiter is None:
        return None
    store = JobStore()
    writes = itertools.count(1)

    def wait_for_slot() -> None:
        take = functools.partial(store.send_slot, job, f"{job.id}:{job.attempts}:{next(writes)}")
        while (wait_ms := until_answered(take, "taking a rate slot")) > 0:
            overlap.sleep(wait_ms / 1000)  # the chunk's other calls go on meanwhile

    return wait_for_slot


def run_jobs(
    spec: QueueSpec, processor: Processor, job_ids: list[str], store: JobStore | None = None
) -> None:
    """The jobs of one Dramatiq message, ``CHUNK`` at a time; never raises.

    Each chunk is started in one round trip and finished in one, so Redis and Dramatiq cost
    little per job; its attempts run side by side (``shared.jobs.overlap``: every callback of
    the chunk in flight at once, each waiting for its rate slot, if any, without holding up
    the others). Every outcome is recorded on its job.
    """
    from dramatiq.middleware import CurrentMessage  # worker-only; see attempt()

    store = store or JobStore()
    message = CurrentMessage.get_current_message()
    message_id = message.message_id if message else ""
    worker = process_id()
    deadline = time.monotonic() + BATCH_BUDGET_S
    for first in range(0, len(job_ids), CHUNK):
        chunk = job_ids[first : first + CHUNK]
        starting = functools.partial(start, store, spec, chunk, message_id, worker)
        attempts = [
            functools.partial(attempt_in_time, spec, processor, job, deadline)
            for job in until_answered(starting, f"starting {spec.name} jobs")
        ]
        finishes = overlap.run_overlapped(attempts)
        # A queue whose final outcomes bring follow-ups that quote the finish time (a webhook
        # with the job's record) reads Redis' clock first and writes the outcome at that time.
        at = until_answered(store.redis_time_ms, "reading the time") if spec.on_final else None
        final = [finalize(spec, f, at or 0) for f in finishes]
        # the outcome is written once Redis answers, however long that takes: never dropped
        writing = functools.partial(store.finish_many, final, at_ms=at)
        until_answered(writing, f"finishing {spec.name} jobs")


def attempt_in_time(spec: QueueSpec, processor: Processor, job: Job, deadline: float) -> Finish:
    """``attempt`` of a started job; handed back unattempted once the message is out of time
    (``deadline``, monotonic seconds) or the worker is stopping."""
    if time.monotonic() > deadline or stopping():
        return Finish(job, "requeue")
    return attempt(spec, processor, job)


def finalize(spec: QueueSpec, finish: Finish, at_ms: int) -> Finish:
    """A final outcome with what comes with it, written in the same step: the failure notice
    (``FAILURE_WEBHOOK_URL``), the queue's ``on_final`` follow-ups, and the usage its result
    reports (``{"usage": {kind, tokens, costCents}}``)."""
    if finish.outcome not in ("completed", "failed"):
        return finish
    extra: tuple[FollowUp, ...] = ()
    if finish.outcome == "failed" and spec.notify_failure and settings.failure_webhook_url:
        extra += (FollowUp(FAILURE_NOTICES_QUEUE, failure_notice(finish.job, finish.error or "")),)
    if spec.on_final:
        extra += tuple(resolve(spec.on_final)(finish, at_ms))
    reported = finish.result.get("usage") if isinstance(finish.result, dict) else None
    if not (reported or extra):
        return finish
    usage = (
        Usage(str(reported["kind"]), int(reported["tokens"]), float(reported["costCents"]))
        if reported
        else None
    )
    return replace(finish, usage=usage, follow_ups=finish.follow_ups + extra)


def start(
    store: JobStore, spec: QueueSpec, job_ids: list[str], message_id: str, worker: str
) -> list[Job]:
    """Start ``job_ids``: the jobs that started. One told to wait for its rate slot (a few
    milliseconds away) is asked again when the slot frees; skipped ones are logged."""
    started: list[Job] = []
    while job_ids:
        waiting: list[Wait] = []
        for job in store.start_many(job_ids, message_id, worker):
            if isinstance(job, Skipped):
                log.info(
                    "skipped: %s", job.reason, extra={"job_id": job.job_id, "queue": spec.name}
                )
            elif isinstance(job, Wait):
                waiting.append(job)
            else:
                started.append(job)
        if waiting:
            time.sleep(min(w.ms for w in waiting) / 1000)
        job_ids = [w.job_id for w in waiting]
    return started


def failure_notice(job: Job, error: str) -> dict[str, Any]:
    """The seed's failure notice: ``{jobId, status: "failed", error, queue, attempts, data}``."""
    return {
        "jobId": job.id,
        "status": "failed",
        "error": error,
        "queue": job.queue,
        "attempts": job.attempts,
        "data": job.data,
    }
