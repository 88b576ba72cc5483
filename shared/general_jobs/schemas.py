"""Bodies of ``POST /api/jobs`` and ``/api/jobs/bulk`` (seed 002's ``{jobType, data}``, seed
004's job options), and the data a job type checks before it is queued."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, Field, Strict, field_validator, model_validator
from pydantic_core import PydanticCustomError

from shared.general_jobs.analytics import EVENT_PATTERN, MAX_RANGE_MS, parse_time
from shared.schemas import (
    MAX_BULK_MESSAGES,
    MS_PER_DAY,
    JobOptions,
    _Body,
    _delay_number,
    _fail,
    _Response,
)
from shared.settings import ORG_NAME, settings

#: Largest ``data`` of one job, in bytes of compact UTF-8 JSON.
MAX_DATA_BYTES = 256 * 1024
#: Longest ``jobType`` name, in characters.
MAX_JOB_TYPE_LENGTH = 100

Count = Annotated[int, Strict(), Field(ge=0, le=1_000_000)]


class KeepJobs(_Body):
    """BullMQ's ``{age, count}``: keep jobs at most ``age`` seconds, and at most ``count``."""

    age: Annotated[int, Strict(), Field(ge=0, le=400 * 86_400)] | None = None
    count: Count | None = None

    @model_validator(mode="after")
    def _one_of_them(self) -> Self:
        if self.age is None and self.count is None:
            _fail(("age",), "keep_empty", "give age (seconds), count, or both", None)
        return self


#: ``removeOnComplete`` / ``removeOnFail``: ``true`` (delete at once), ``false`` (queue
#: retention), a count (keep the newest N), or ``{age, count}``.
Keep = Annotated[bool, Strict()] | Count | KeepJobs


class GeneralJobOptions(JobOptions):
    """``options`` of a general job: the delivery options plus ``delay`` (ms) and BullMQ's
    ``removeOnComplete``/``removeOnFail``."""

    delay: (
        Annotated[float, Field(ge=0, allow_inf_nan=False), BeforeValidator(_delay_number)] | None
    ) = None
    remove_on_complete: Keep | None = None
    remove_on_fail: Keep | None = None

    @field_validator("delay")
    @classmethod
    def _delay_within_limit(cls, value: float | None) -> float | None:
        if value is not None and value > settings.max_delay_days * MS_PER_DAY:
            raise PydanticCustomError(
                "too_far_ahead",
                "is more than {limit_days} days (MAX_DELAY_DAYS)",
                {"limit_days": settings.max_delay_days},
            )
        return value

    def stored(self) -> dict[str, Any]:
        """The options as the job keeps them (camelCase JSON; ``delay`` and unset ones left
        out: the due time is the job's own)."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"delay"})


def _data_size(value: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise PydanticCustomError("data_json", "must be plain JSON (no NaN or Infinity)") from None
    if len(encoded.encode()) > MAX_DATA_BYTES:
        raise PydanticCustomError(
            "too_large", "must be at most {limit} bytes as JSON", {"limit": MAX_DATA_BYTES}
        )
    return value


class JobCreate(_Body):
    """Body of ``POST /api/jobs``: the job type (a queue's name or one of its ``job_types``),
    its data (a JSON object) and options."""

    job_type: Annotated[str, Field(min_length=1, max_length=MAX_JOB_TYPE_LENGTH)]
    data: Annotated[dict[str, Any], BeforeValidator(lambda v: {} if v is None else v)] = Field(
        default_factory=dict
    )
    options: GeneralJobOptions | None = None

    @field_validator("data")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _data_size(value)

    @property
    def client_job_id(self) -> str | None:
        return self.options.job_id if self.options else None


class BulkJobItem(JobCreate):
    """One job of a bulk body; its ``jobType`` may come from the body's."""

    job_type: Annotated[str, Field(min_length=1, max_length=MAX_JOB_TYPE_LENGTH)] | None = None  # type: ignore[assignment]


class BulkJobCreate(_Body):
    """Body of ``POST /api/jobs/bulk``: 1-1,000 jobs of one queue, created all or none;
    ``jobType`` here applies to the jobs that name none."""

    job_type: Annotated[str, Field(min_length=1, max_length=MAX_JOB_TYPE_LENGTH)] | None = None
    jobs: list[BulkJobItem] = Field(min_length=1, max_length=MAX_BULK_MESSAGES)

    @model_validator(mode="after")
    def _typed_and_unique(self) -> Self:
        seen: set[str] = set()
        for index, job in enumerate(self.jobs):
            if job.job_type is None:
                if self.job_type is None:
                    _fail(("jobs", index, "jobType"), "missing", "Field required", None)
                job.job_type = self.job_type
            job_id = job.client_job_id
            if job_id is not None:
                if job_id in seen:
                    _fail(
                        ("jobs", index, "options", "jobId"),
                        "duplicate_job_id",
                        "repeats an earlier job's",
                        job_id,
                    )
                seen.add(job_id)
        return self


class TrackEvent(_Body):
    """``data`` of an ``analytics``/``track-event`` job (seed 004): ``event`` is counted in
    the minute of ``timestamp`` (ISO 8601 or epoch ms; absent: when the job is created)."""

    event: str
    data: dict[str, Any] | None = None
    user_id: Annotated[str, Field(max_length=200)] | int | None = None
    timestamp: str | int | float | None = None

    @field_validator("event")
    @classmethod
    def _event_name(cls, value: str) -> str:
        if not EVENT_PATTERN.fullmatch(value):
            raise PydanticCustomError(
                "event_name", "must be 1-100 characters of A-Z a-z 0-9 _ . : -"
            )
        return value

    @field_validator("timestamp")
    @classmethod
    def _instant(cls, value: str | int | float | None) -> str | int | float | None:
        if value is not None and parse_time(value) is None:
            raise PydanticCustomError("timestamp", "must be an ISO 8601 time or epoch milliseconds")
        return value


class JobCreated(_Response):
    """Answer to ``POST /api/jobs``: ``{success, jobId, jobType, queue}`` (202)."""

    success: Literal[True] = True
    job_id: str
    job_type: str
    queue: str


class JobSyncResult(_Response):
    """Answer when the job type ran at once (its queue's ``inline``): ``{success, jobType,
    mode: "sync", result}`` (200; nothing queued)."""

    success: Literal[True] = True
    job_type: str
    mode: Literal["sync"] = "sync"
    result: dict[str, Any]


#: What ``GET /api/analytics`` reads when ``from`` is not given: the hour before ``to``.
DEFAULT_RANGE_MS = 3_600_000


class AnalyticsQuery(BaseModel):
    """The query of ``GET /api/analytics``: ``event``, ``from``/``to`` (ISO 8601 or epoch ms;
    default: the last hour), a range of at most ``MAX_RANGE_MS``; ``org`` (``SERVICE_TOKEN``
    only) reads another organisation's counts."""

    event: str
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    org: str | None = None

    @field_validator("event")
    @classmethod
    def _event_name(cls, value: str) -> str:
        return TrackEvent._event_name(value)

    @field_validator("org")
    @classmethod
    def _org_name(cls, value: str | None) -> str | None:
        if value is not None and not ORG_NAME.fullmatch(value):
            raise PydanticCustomError("org", "is not an organisation name")
        return value

    @field_validator("from_", "to")
    @classmethod
    def _instant(cls, value: str | None) -> str | None:
        if value is not None and parse_time(value) is None:
            raise PydanticCustomError("timestamp", "must be an ISO 8601 time or epoch milliseconds")
        return value

    def window_ms(self, now_ms: int) -> tuple[int, int]:
        """``[from, to)`` in epoch ms, checked: ``from`` before ``to``, within the range bound."""
        to_ms = parse_time(self.to) if self.to is not None else now_ms
        assert to_ms is not None
        from_ms = parse_time(self.from_) if self.from_ is not None else to_ms - DEFAULT_RANGE_MS
        assert from_ms is not None
        if from_ms >= to_ms:
            _fail(("from",), "range_order", "must be before to", self.from_)
        if to_ms - from_ms > MAX_RANGE_MS:
            _fail(
                ("from",),
                "range_too_long",
                f"to - from must be at most {MAX_RANGE_MS // MS_PER_DAY} days",
                self.from_,
            )
        return from_ms, to_ms
