"""Job types of the general job API: each queue of the queue table, by its name or one of its
``job_types``, except the queues that have routes of their own (or are internal)."""

from __future__ import annotations

from shared.http import Problem
from shared.jobs.queues import QUEUES, QueueSpec

#: Queues ``POST /api/jobs`` does not create jobs in: they have their own routes, which
#: validate their bodies (SMS, email, AI, inbound webhooks), or only the service creates them.
OWN_ROUTES = frozenset(
    {"sms", "email", "ai-response", "ai-jobs", "webhooks", "failure-notices", "webhook-processing"}
)


#: Seed 002's job types that are cron functions here: ``POST /api/jobs`` (and the seed's
#: ``/api/bullmq/jobs``) with one of them runs that function now, as ``POST
#: /api/cron/{name}/run`` does (``SERVICE_TOKEN`` only: they act for every organisation).
CRON_JOB_TYPES = {
    "scheduled-messages": "process-scheduled-messages",
    "process-scheduled-messages": "process-scheduled-messages",
    "health-check": "health-check",
}


def job_types() -> dict[str, QueueSpec]:
    """Every job type name -> its queue (a queue added to the table appears here as is; a
    queue split by ``QUEUE_SHARDS`` as one: the job store routes each job to its sub-queue)."""
    types: dict[str, QueueSpec] = {}
    for spec in QUEUES.values():
        if spec.processor and spec.part_of is None and spec.name not in OWN_ROUTES:
            for name in (spec.name, *spec.job_types):
                types.setdefault(name, spec)
    return types


def queue_for(job_type: str, field: str = "jobType") -> QueueSpec:
    """The queue of ``job_type``; a 422 listing the known ones (at ``field``) otherwise."""
    types = job_types()
    spec = types.get(job_type)
    if spec is None:
        known = sorted([*types, *CRON_JOB_TYPES])
        raise Problem(
            422,
            f"Unknown jobType {job_type[:100]!r}; known job types: {', '.join(known)}.",
            title="Unknown job type",
            errors=[{"field": field, "message": "is not a known job type",
                     "type": "unknown_job_type"}],
            knownJobTypes=known,
        )  # fmt: skip
    return spec
