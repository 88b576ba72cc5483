"""Pausing and resuming queues from the admin API (HTTP basic auth with the dashboard's
credentials; API keys are not admin)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from shared.http import Problem, Request
from shared.jobs.queues import JOB_QUEUES, SUBQUEUES, physical_names
from shared.jobs.store import JobStore


class QueueState(BaseModel):
    success: Literal[True] = True
    queue: str
    paused: bool
    #: on resume: waiting jobs handed to workers at once (the rest follow as limits allow)
    dispatchedJobs: int = 0


def set_paused(request: Request[Any], paused: bool) -> QueueState:
    """Pause or resume the queue named by the ``name`` path parameter (404 if unknown)."""
    name = request.path_params.get("name", "")
    if name not in SUBQUEUES and name not in {spec.name for spec in JOB_QUEUES}:
        known = ", ".join(SUBQUEUES)
        raise Problem(404, f"No queue {name!r}; the queues are {known}.")
    store = JobStore()
    names = physical_names(name)  # a split queue pauses and resumes as a whole
    if paused:
        for each in names:
            store.pause(each)
        return QueueState(queue=name, paused=True)
    return QueueState(
        queue=name, paused=False, dispatchedJobs=sum(store.resume(each) for each in names)
    )
