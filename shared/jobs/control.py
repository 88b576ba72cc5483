"""Pausing and resuming queues from the admin API (HTTP basic auth with the dashboard's
credentials; API keys are not admin)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from shared.http import Problem, Request
from shared.jobs.queues import JOB_QUEUES
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
    if name not in {spec.name for spec in JOB_QUEUES}:
        known = ", ".join(spec.name for spec in JOB_QUEUES)
        raise Problem(404, f"No queue {name!r}; the queues are {known}.")
    store = JobStore()
    if paused:
        store.pause(name)
        return QueueState(queue=name, paused=True)
    return QueueState(queue=name, paused=False, dispatchedJobs=store.resume(name))
