"""Bodies of the delivery endpoints (``/api/schedule-sms``, ``/api/schedule-email``, bulk).

Fields are the seed's camelCase names in JSON (snake_case in Python). Unknown keys are ignored
and never stored. When a delivery is due comes from one of:

- ``delay``: milliseconds from now (the seed's field);
- ``sendAt`` with a UTC offset (``2026-12-01T09:00:00+01:00`` or ``...Z``);
- ``sendAt`` without an offset plus ``timezone`` (IANA name): wall-clock time there. A time the
  clocks skip (spring forward) is rejected; a time that occurs twice (fall back) means the FIRST
  occurrence, the earlier instant.

A due time more than ``settings.max_delay_days`` ahead is invalid. ``sendAt`` is checked against
``now_ms`` from the validation context when given
(``SmsCreate.model_validate(body, context={NOW_MS: now_ms})``), else against the clock.
"""

from __future__ import annotations

import json
import math
import re
import time
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, Literal, NoReturn, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.delivery.paths import callback_path_error
from shared.delivery.providers import Channel, provider_error
from shared.settings import settings

#: Validation-context key holding "now" as UTC epoch milliseconds (the clock when absent).
NOW_MS = "now_ms"
#: Milliseconds in a day.
MS_PER_DAY = 86_400_000
#: Largest ``metadata``, in bytes of compact UTF-8 JSON.
MAX_METADATA_BYTES = 16 * 1024
#: Largest email ``html``, in bytes of UTF-8.
MAX_HTML_BYTES = 512 * 1024
#: Most messages in one bulk request.
MAX_BULK_MESSAGES = 1000
#: Most items in one page of a listing.
MAX_PAGE_LIMIT = 100
#: Furthest a listing may be paged (``offset``), in items.
MAX_PAGE_OFFSET = 1_000_000
#: ``message`` of a successful single SMS schedule (seed text).
SMS_SCHEDULED = "SMS scheduled successfully"
#: ``message`` of a successful single email schedule (seed text).
EMAIL_SCHEDULED = "Email scheduled successfully"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PHONE_SEPARATORS = re.compile(r"[ \-()]")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_EMAIL_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})"
)
_JOB_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CALLBACK_PATH = re.compile(r"/(?!/)[!-~]{0,2047}")  # printable ASCII, no spaces
_DATE_TIME_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")
#: Unicode's default-ignorable code points (DerivedCoreProperties.txt): invisible when shown.
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
#: What a phone number may be written with besides digits and a leading ``+``.
_PHONE_PUNCTUATION = re.compile(r"[\s\-.()/]")
_PHONE_LIKE = re.compile(r"(\+|00)?([0-9]{7,15})")


def _fail(loc: tuple[str | int, ...], kind: str, message: str, value: Any) -> NoReturn:
    """Raise a ``ValidationError`` at ``loc`` (pydantic prefixes the enclosing location)."""
    error = InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)
    raise ValidationError.from_exception_data("schemas", [error])


def _number_to_str(value: Any) -> Any:
    """JSON integers become strings (some clients send ``"workspaceId": 66338``)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must contain non-whitespace text")
    return value


def visible(text: str) -> str:
    """``text`` in NFKC without invisible characters (format, control, default-ignorable) or
    whitespace at either end: what a reader of ``text`` sees."""
    if text.isascii() and text.isprintable():  # NFKC keeps it, nothing in it is invisible
        return text.strip()
    folded = unicodedata.normalize("NFKC", text)
    kept = "".join(c for c in _IGNORABLE.sub("", folded) if unicodedata.category(c)[0] != "C")
    return kept.strip()


def _visible_id(value: str) -> str:
    if not visible(value):
        raise PydanticCustomError("blank", "must contain visible text, not only whitespace")
    return value


def canonical_contact(contact: str) -> str:
    """One spelling per contact, for keys that count per contact (e.g. admission limits).

    A phone-like id (7-15 digits, written with ``+`` or ``00``, spaces, dashes, dots, slashes or
    parentheses) becomes E.164 ``+<digits>``: ``+1 (415) 555-0199`` -> ``+14155550199``. Any
    other id is :func:`visible` and case-folded (``Bob@Example.com`` -> ``bob@example.com``).
    """
    text = visible(contact)
    phone = _PHONE_LIKE.fullmatch(_PHONE_PUNCTUATION.sub("", text))
    if phone:
        return "+" + phone.group(2)
    return "".join(text.split()).casefold()


def _phone_number(value: str) -> str:
    number = _PHONE_SEPARATORS.sub("", value)
    if not _E164.fullmatch(number):
        raise PydanticCustomError(
            "phone_number", "must be E.164: '+' then 8-15 digits, the first 1-9 (+14155550123)"
        )
    return number


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not (
        at
        and len(value) <= 254
        and len(local) <= 64
        and _EMAIL_LOCAL.fullmatch(local)
        and _EMAIL_DOMAIN.fullmatch(domain)
    ):
        raise PydanticCustomError("email", "must be one email address like name@example.com")
    return value


def _one_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise PydanticCustomError("subject_newline", "must not contain line breaks")
    return value


def _html_size(value: str) -> str:
    if len(value.encode("utf-8", "surrogatepass")) > MAX_HTML_BYTES:
        raise PydanticCustomError(
            "too_large", "must be at most {limit} bytes of UTF-8", {"limit": MAX_HTML_BYTES}
        )
    return value


def _job_id(value: str) -> str:
    if not _JOB_ID.fullmatch(value):
        raise PydanticCustomError("job_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    return value


def _metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(encoded.encode())
    except (TypeError, ValueError):
        raise PydanticCustomError(
            "metadata_json", "must be plain JSON (no NaN or Infinity)"
        ) from None
    if size > MAX_METADATA_BYTES:
        raise PydanticCustomError(
            "too_large", "must be at most {limit} bytes as JSON", {"limit": MAX_METADATA_BYTES}
        )
    if "callbackEndpoint" in value:
        _callback_endpoint(value["callbackEndpoint"])
    return value


def _callback_endpoint(path: Any) -> None:
    """A path appended to the configured backend URL: ``/x``, never a URL, ``//host`` or a
    path that climbs in any spelling (``shared.delivery.paths.callback_path_error``)."""
    if reason := callback_path_error(path):
        _fail(("callbackEndpoint",), "callback_endpoint", reason, path)


def _delay_number(value: Any) -> Any:
    """A JSON number only: refuse ``true``, strings (``"1e3"``) and NaN/Infinity (Python's json
    module parses those) with a clear word."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("delay_type", "must be a number of milliseconds")
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite_number", "must be a finite number of milliseconds")
    return value


def _parse_send_at(text: str) -> datetime:
    """ISO 8601 date and time, with or without a UTC offset; ``ValueError`` otherwise."""
    if not _DATE_TIME_SHAPE.match(text):
        raise ValueError(text)
    return datetime.fromisoformat(text)


def _epoch_ms(instant: datetime) -> int:
    """UTC epoch milliseconds of an aware datetime."""
    return (instant - _EPOCH) // timedelta(milliseconds=1)


#: An id of the client's (workspace, contact, message): 1-200 characters, surrounding
#: whitespace dropped, not blank (only whitespace or invisible characters); a JSON integer is
#: taken as its decimal text.
Identifier = Annotated[
    str,
    BeforeValidator(_number_to_str),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_visible_id),
]


def _ai_text_size(value: str) -> str:
    limit = settings.ai_max_text_bytes
    if len(value.encode("utf-8", "surrogatepass")) > limit:
        raise PydanticCustomError(
            "too_large",
            "must be at most {limit} bytes of UTF-8 (AI_MAX_TEXT_BYTES)",
            {"limit": limit},
        )
    return value


def _callback_url(value: str) -> str:
    # imported here: netguard brings httpx (30-50 ms of a cold start) to every handler that
    # imports these models, and only the routes taking a callback URL check one
    from shared.delivery.netguard import UnsafeUrl, check_callback_url

    try:
        check_callback_url(value)
    except UnsafeUrl as exc:
        raise PydanticCustomError("unsafe_url", "{reason}", {"reason": str(exc)}) from None
    return value


JobId = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_job_id)]
#: A job's priority: 1 starts first, 10 last; a JSON integer (not ``"3"``, ``3.0`` or ``true``).
Priority = Annotated[int, Strict(), Field(ge=1, le=10)]
DEFAULT_PRIORITY = 5
#: Text for an AI job: not blank, at most ``AI_MAX_TEXT_BYTES``.
AiText = Annotated[str, AfterValidator(_not_blank), AfterValidator(_ai_text_size)]
#: A URL a user gives for the service to call: an allowed host, https in production
#: (``shared.delivery.netguard``; the address is checked again when connecting).
CallbackUrl = Annotated[
    str, StringConstraints(strip_whitespace=True), AfterValidator(_callback_url)
]
Metadata = Annotated[dict[str, Any] | None, AfterValidator(_metadata)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, serialize_by_alias=True)


class PageWindow(BaseModel):
    """``limit`` and ``offset`` of a listing's query string; out of bounds is a 422."""

    model_config = ConfigDict(extra="ignore")
    limit: int = Field(20, ge=1, le=MAX_PAGE_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_PAGE_OFFSET)


class _Response(_Body):
    model_config = ConfigDict(validate_by_name=True)


class Backoff(_Body):
    """Wait between attempts: ``delay`` ms, doubled per attempt when ``exponential``."""

    type: Literal["fixed", "exponential"]
    delay: Annotated[int, Strict()] = Field(1000, ge=0, le=MS_PER_DAY)


class JobOptions(_Body):
    """Delivery options (the ``options`` object); all optional."""

    attempts: Annotated[int, Strict()] | None = Field(None, ge=1, le=25)
    backoff: Backoff | None = None
    priority: Priority = DEFAULT_PRIORITY
    job_id: JobId | None = None
    #: ``"sync"``: if Redis is unreachable, an immediate send is delivered in the call
    #: (``"mode": "sync-fallback"``) instead of a 503 (``shared.delivery.fallback``)
    fallback: Literal["sync"] | None = None

    @field_validator("backoff", mode="before")
    @classmethod
    def _backoff_number_is_fixed(cls, value: Any) -> Any:
        """BullMQ's shorthand ``backoff: 5000`` means a fixed 5,000 ms."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"type": "fixed", "delay": value}
        return value


class Timing(_Body):
    """When a job is due: ``delay`` (ms), ``sendAt`` with offset, or ``sendAt`` + ``timezone``."""

    #: milliseconds from now
    delay: (
        Annotated[float, Field(ge=0, allow_inf_nan=False), BeforeValidator(_delay_number)] | None
    ) = None
    send_at: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    timezone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None

    @field_validator("delay")
    @classmethod
    def _delay_within_limit(cls, value: float | None) -> float | None:
        if value is None:
            return None
        limit_days = settings.max_delay_days
        if value > limit_days * MS_PER_DAY:
            raise PydanticCustomError(
                "too_far_ahead",
                "is more than {limit_days} days (MAX_DELAY_DAYS)",
                {"limit_days": limit_days},
            )
        return value

    @field_serializer("delay")
    def _delay_as_sent(self, value: float | None) -> int | float | None:
        """A whole number of ms stays an integer (``60000``, not ``60000.0``)."""
        return int(value) if value is not None and value.is_integer() else value

    @field_validator("send_at")
    @classmethod
    def _send_at_is_iso(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                _parse_send_at(value)
            except ValueError:
                raise PydanticCustomError(
                    "send_at_format",
                    "must be an ISO 8601 date and time, e.g. 2026-12-01T09:00:00+01:00",
                ) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise PydanticCustomError(
                    "timezone", "is not a known IANA time zone (e.g. America/New_York)"
                ) from None
        return value

    @model_validator(mode="after")
    def _resolve_send_at(self, info: ValidationInfo) -> Self:
        if self.timezone is not None and self.send_at is None:
            _fail(("timezone",), "timezone_without_send_at", "needs a sendAt", self.timezone)
        if self.send_at is None:
            return self
        if self.delay is not None:
            _fail(("sendAt",), "delay_and_send_at", "give delay or sendAt, not both", self.send_at)
        local = _parse_send_at(self.send_at)
        if local.tzinfo is not None and self.timezone is not None:
            _fail(
                ("timezone",),
                "timezone_with_offset",
                "only applies to a sendAt without a UTC offset; drop one of them",
                self.timezone,
            )
        due_ms = self._epoch_ms_of(local)
        context = info.context or {}
        now_ms = context.get(NOW_MS)
        if now_ms is None:
            now_ms = int(time.time() * 1000)
        limit_days = settings.max_delay_days
        if due_ms - now_ms > limit_days * MS_PER_DAY:
            _fail(
                ("sendAt",),
                "too_far_ahead",
                f"is more than {limit_days} days ahead (MAX_DELAY_DAYS)",
                self.send_at,
            )
        return self

    def _send_at_epoch_ms(self) -> int:
        """``sendAt`` (with its offset, or in ``timezone``) as UTC epoch ms. Computed when read,
        not kept: a private attribute would cost every validated request about 2 µs (pydantic
        initialises it once per class of the model's lineage)."""
        assert self.send_at is not None
        return self._epoch_ms_of(_parse_send_at(self.send_at))

    def _epoch_ms_of(self, local: datetime) -> int:
        """The parsed ``sendAt`` ``local`` (with its offset, or in ``timezone``) as UTC epoch ms."""
        return _epoch_ms(local if local.tzinfo is not None else self._zone_time(local))

    def _zone_time(self, local: datetime) -> datetime:
        """``local`` wall-clock time in ``timezone``; the earlier instant when it occurs twice."""
        if self.timezone is None:
            _fail(
                ("sendAt",),
                "send_at_without_offset",
                "has no UTC offset: add one (+01:00 or Z) or give a timezone",
                self.send_at,
            )
        zone = ZoneInfo(self.timezone)
        first, second = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
        before, after = first.utcoffset(), second.utcoffset()
        if before is not None and after is not None and before < after:  # clocks jumped forward
            _fail(
                ("sendAt",),
                "nonexistent_local_time",
                f"{local.isoformat()} does not exist in {self.timezone}: clocks skip "
                f"{after - before} at a daylight-saving change; choose another time",
                self.send_at,
            )
        return first

    def due_at_ms(self, now_ms: int) -> int:
        """UTC epoch ms when the job is due: ``now_ms`` when unscheduled or in the past."""
        if self.delay is not None:
            return now_ms + round(self.delay)
        if self.send_at is not None:
            return max(now_ms, self._send_at_epoch_ms())
        return now_ms


class Reschedule(Timing):
    """Body of ``POST /api/jobs/{jobId}/reschedule``: a new ``delay`` or ``sendAt``."""

    @model_validator(mode="after")
    def _needs_a_time(self) -> Self:
        if self.delay is None and self.send_at is None:
            _fail(("delay",), "missing", "give delay or sendAt", None)
        return self


class _DeliveryCreate(Timing):
    """What SMS and email requests share: ids, metadata, timing, options."""

    contact_id: Identifier
    workspace_id: Identifier
    metadata: Metadata = None
    options: JobOptions | None = None
    job_id: JobId | None = None

    @model_validator(mode="after")
    def _one_job_id(self) -> Self:
        if self.job_id and self.options and self.options.job_id not in (None, self.job_id):
            _fail(("jobId",), "job_id_conflict", "differs from options.jobId", self.job_id)
        return self

    @property
    def client_job_id(self) -> str | None:
        """The client-chosen job id: ``jobId`` or ``options.jobId``."""
        return self.job_id or (self.options.job_id if self.options else None)


def _check_provider(channel: Channel, metadata: dict[str, Any] | None) -> None:
    """``metadata.provider``, when given, must name a provider of ``channel`` this service can
    use (``shared.delivery.providers``)."""
    if (
        metadata
        and "provider" in metadata
        and (reason := provider_error(channel, metadata["provider"]))
    ):
        _fail(("metadata", "provider"), "provider", reason, metadata["provider"])


class SmsCreate(_DeliveryCreate):
    """Body of ``POST /api/schedule-sms``; ``phoneNumber`` is normalised to ``+`` and digits;
    ``metadata.provider`` (``callback`` or ``sns``) picks who delivers it."""

    phone_number: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(_phone_number)
    ]
    message: Annotated[
        str, StringConstraints(min_length=1, max_length=1600), AfterValidator(_not_blank)
    ]

    @model_validator(mode="after")
    def _provider(self) -> Self:
        _check_provider("sms", self.metadata)
        return self


class EmailCreate(_DeliveryCreate):
    """Body of ``POST /api/schedule-email``; ``text`` is the plain-text part SES sends (derived
    from ``html`` when absent); ``metadata.provider`` (``callback`` or ``ses``) picks who
    delivers it."""

    to: Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_email)]
    subject: Annotated[
        str,
        StringConstraints(min_length=1, max_length=998),
        AfterValidator(_not_blank),
        AfterValidator(_one_line),
    ]
    html: Annotated[
        str, StringConstraints(min_length=1), AfterValidator(_not_blank), AfterValidator(_html_size)
    ]
    text: (
        Annotated[
            str,
            StringConstraints(min_length=1),
            AfterValidator(_not_blank),
            AfterValidator(_html_size),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _provider(self) -> Self:
        _check_provider("email", self.metadata)
        return self


M = TypeVar("M", SmsCreate, EmailCreate)


def _unique_job_ids(messages: Sequence[SmsCreate | EmailCreate]) -> None:
    seen: set[str] = set()
    for index, message in enumerate(messages):
        job_id = message.client_job_id
        if job_id is None:
            continue
        if job_id in seen:
            _fail((index, "jobId"), "duplicate_job_id", "repeats an earlier message's", job_id)
        seen.add(job_id)


class BulkCreate(_Body, Generic[M]):
    """A bulk body: 1-1000 messages; errors are at ``messages.<i>.<field>``."""

    messages: list[M] = Field(min_length=1, max_length=MAX_BULK_MESSAGES)

    @field_validator("messages")
    @classmethod
    def _unique(cls, value: list[M]) -> list[M]:
        _unique_job_ids(value)
        return value


class SmsBulkCreate(BulkCreate[SmsCreate]):
    """Body of ``POST /api/schedule-sms/bulk``."""


class EmailBulkCreate(BulkCreate[EmailCreate]):
    """Body of ``POST /api/schedule-email/bulk``."""


class ScheduledResponse(_Response):
    """Answer to a single schedule: ``{success: true, jobId, message}``."""

    success: Literal[True] = True
    job_id: str
    message: str


class BulkScheduledResponse(_Response):
    """Answer to a bulk schedule: ``{success: true, jobIds, count}``."""

    success: Literal[True] = True
    job_ids: list[str]
    count: int


def job_data(model: SmsCreate | EmailCreate) -> dict[str, Any]:
    """The seed-shaped payload forwarded to the user's backend.

    The fields as sent (camelCase; ``phoneNumber`` normalised; ``delay``, ``sendAt``,
    ``timezone``, ``metadata`` only when given); never ``options``, ``jobId`` or unknown keys.
    """
    return model.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"options", "job_id"}
    )


def iso_ms(epoch_ms: int | None) -> str | None:
    """Epoch ms as ISO 8601 UTC with milliseconds (``2026-11-27T08:30:00.000Z``)."""
    if epoch_ms is None:
        return None
    return (
        datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    )


class JobStatus(_Response):
    """Answer of ``GET /api/job-status/{jobId}``; times are ISO 8601 UTC."""

    success: Literal[True] = True
    job_id: str
    queue: str
    state: Literal["delayed", "waiting", "active", "completed", "failed"]
    attempts: int
    max_attempts: int
    priority: int  #: 1 (first) to 10
    created_at: str | None
    scheduled_for: str | None
    started_at: str | None
    finished_at: str | None
    result: Any = None
    error: str | None = None
    #: what the processor last reported (``job.update_progress``): 0-100 or an object
    progress: Any = None
    #: the job's log (``job.log``), oldest first: its last 100 lines
    logs: list[str] = []

    @classmethod
    def of(cls, job: Any, logs: list[str] | None = None) -> JobStatus:
        """From a ``shared.jobs.store.Job`` and its log lines."""
        return cls(
            job_id=job.id,
            queue=job.queue,
            state=job.state,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            priority=job.priority,
            created_at=iso_ms(job.created_at),
            scheduled_for=iso_ms(job.scheduled_for),
            started_at=iso_ms(job.started_at),
            finished_at=iso_ms(job.finished_at),
            result=job.result,
            error=job.error,
            progress=job.progress,
            logs=logs or [],
        )


class JobAction(_Response):
    """Answer of cancel / reschedule / promote: the job's state afterwards."""

    success: Literal[True] = True
    job_id: str
    state: Literal["cancelled", "delayed", "waiting"]
    scheduled_for: str | None = None
