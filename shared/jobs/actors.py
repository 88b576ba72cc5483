"""Declares one Dramatiq actor per job queue of the queue table (import after
``shared.jobs.broker``)."""

from __future__ import annotations

from typing import Any

import dramatiq

from shared.jobs.queues import JOB_QUEUES, QueueSpec, resolve
from shared.jobs.runner import Processor, run_jobs


def declare_job_actors() -> dict[str, dramatiq.Actor[Any, Any]]:
    """An actor per job queue, on the global broker; retries are the job store's, not Dramatiq's."""
    actors = {}
    for spec in JOB_QUEUES:
        assert spec.processor is not None
        processor: Processor = resolve(spec.processor)

        def run(
            job_ids: list[str] | str, spec: QueueSpec = spec, processor: Processor = processor
        ) -> None:
            run_jobs(spec, processor, [job_ids] if isinstance(job_ids, str) else job_ids)

        run.__name__ = spec.actor
        actors[spec.name] = dramatiq.actor(
            actor_name=spec.actor,
            queue_name=spec.name,
            max_retries=0,
            time_limit=spec.time_limit_ms,
        )(run)
    return actors
