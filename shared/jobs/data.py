"""Typed job data for the general job types: one pydantic model per type, checked twice — by
the job API before queueing (a 422 naming ``data.<field>``) and by the processor (a job stored
before a change of its model fails at once, not retried)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from shared.http import Problem
from shared.http.problems import invalid_fields
from shared.jobs.runner import JobFailed
from shared.jobs.store import Job


class JobData(BaseModel):
    """A job's data as sent: camelCase names, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel)


D = TypeVar("D", bound=JobData)


def data_problem(exc: ValidationError) -> Problem:
    """A 422 naming each invalid field as ``data.<field>``."""
    errors = [
        {"field": ".".join(["data", *map(str, e["loc"])]), "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False)
    ]
    return invalid_fields(errors)


def request_data(model: type[D], data: Any) -> D:
    """``data`` of a request validated into ``model``; a 422 otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise data_problem(exc) from None


def job_data(model: type[D], job: Job) -> D:
    """``job.data`` validated into ``model``; a non-retryable ``JobFailed`` otherwise."""
    try:
        return model.model_validate(job.data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "data"
        raise JobFailed(f"invalid job data: {where}: {first['msg']}", retryable=False) from None


class Superseded(JobFailed):
    """This attempt no longer holds its job (cancelled, deleted or recovered): stop working."""

    def __init__(self) -> None:
        super().__init__("the job is no longer this attempt's", retryable=False)


def report(job: Job, progress: Any, line: str) -> None:
    """Store ``progress`` and log ``line`` on ``job``; ``Superseded`` when it is not this
    attempt's any more (its outcome would be dropped: no point going on)."""
    if not (job.update_progress(progress) and job.log(line)):
        raise Superseded()
