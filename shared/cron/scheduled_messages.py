"""``process-scheduled-messages``: the app's due messages become SMS and email jobs, once each.

Each run GETs ``${APP_API_URL}${SCHEDULED_MESSAGES_ENDPOINT}`` (``Authorization: Bearer
SERVICE_TOKEN`` when one is set) and reads JSON: a list of messages or ``{"messages": [...]}``.
A message is the seed's ``POST /api/schedule-sms`` or ``/api/schedule-email`` body plus the
app's id for it (``id``, ``_id`` or ``messageId``) and, optionally, ``type`` (``sms`` or
``email``; without it ``phoneNumber`` means SMS and ``to`` email).

Every message becomes a job of the ``service`` organisation whose idempotency key is that id:
a message returned again (the next minute, a retried or concurrent run) is not queued a second
time while its job exists, and ``GET /api/job-status/{id}`` with ``SERVICE_TOKEN`` finds it.
An invalid message is reported and skipped; the others are queued all the same. One run takes
at most ``MAX_PER_RUN`` messages; the next run takes the rest.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

from shared.delivery.signing import USER_AGENT
from shared.jobs.store import JobStore, NewJob, now_ms
from shared.scheduling import IDEMPOTENCY_KEY, new_job
from shared.schemas import EmailCreate, SmsCreate
from shared.settings import SERVICE_ORG, settings

#: Most messages one create call writes (the bulk endpoints' limit).
CHUNK = 1_000
#: Most messages one run takes; the rest wait for the next run (the app returns them again).
MAX_PER_RUN = 10_000
#: Most invalid or conflicting message ids a run's report lists (all are counted).
REPORTED_IDS = 20
#: ``type`` -> (queue, body model).
KINDS: dict[str, tuple[str, type[SmsCreate] | type[EmailCreate]]] = {
    "sms": ("sms", SmsCreate),
    "email": ("email", EmailCreate),
}


_clients: dict[int, httpx.Client] = {}
_clients_lock = threading.Lock()


def _client() -> httpx.Client:
    """This process's pooled client, kept across runs (a warm Lambda reuses its connection);
    a forked child makes its own."""
    pid = os.getpid()
    client = _clients.get(pid)
    if client is None:
        with _clients_lock:
            client = _clients.setdefault(pid, httpx.Client(follow_redirects=False))
    return client


class AppUnavailable(RuntimeError):
    """The app's due-messages endpoint did not answer with a list of messages."""


@dataclass
class Report:
    """What one run took: counts, and the first few ids it could not queue."""

    fetched: int = 0
    left: int = 0  #: beyond ``MAX_PER_RUN``: left for the next run
    queued: int = 0  #: new jobs
    already_queued: int = 0  #: messages whose job exists from an earlier run
    invalid: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  #: id reused with another body

    def as_dict(self) -> dict[str, Any]:
        return {
            "fetched": self.fetched,
            "left": self.left,
            "queued": self.queued,
            "alreadyQueued": self.already_queued,
            "invalid": len(self.invalid),
            "conflicts": len(self.conflicts),
            "invalidMessages": self.invalid[:REPORTED_IDS],
            "conflictingIds": self.conflicts[:REPORTED_IDS],
        }


def due_url() -> str:
    return settings.app_api_url.rstrip("/") + "/" + settings.scheduled_messages_endpoint.lstrip("/")


def fetch() -> list[Any]:
    """The due messages, as the app sends them; ``AppUnavailable`` on any other answer."""
    headers = {"accept": "application/json", "user-agent": USER_AGENT}
    if settings.service_token:
        headers["authorization"] = f"Bearer {settings.service_token}"
    timeout = httpx.Timeout(
        settings.callback_timeout_s, connect=settings.callback_connect_timeout_s
    )
    try:
        response = _client().get(due_url(), headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise AppUnavailable(f"GET {due_url()}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise AppUnavailable(f"GET {due_url()} answered {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise AppUnavailable(f"GET {due_url()} did not answer JSON") from None
    messages = body.get("messages") if isinstance(body, dict) else body
    if not isinstance(messages, list):
        raise AppUnavailable(f"GET {due_url()}: expected a list or {{messages: [...]}}")
    return messages


def _message_id(item: dict[str, Any]) -> str | None:
    for name in ("id", "_id", "messageId"):
        value = item.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)
            return text if IDEMPOTENCY_KEY.fullmatch(text) else None
    return None


def _parse(item: Any, report: Report, at_ms: int) -> NewJob | None:
    """The job of one message, or None (and a line in the report) when it is not valid."""
    if not isinstance(item, dict):
        report.invalid.append({"id": None, "reason": "not an object"})
        return None
    message_id = _message_id(item)
    if message_id is None:
        report.invalid.append({"id": None, "reason": "no id (1-255 printable characters)"})
        return None
    kind = item.get("type")
    if kind is None:
        kind = "sms" if "phoneNumber" in item else "email" if "to" in item else None
    if not isinstance(kind, str) or kind not in KINDS:
        report.invalid.append({"id": message_id, "reason": f"unknown type {kind!r}"})
        return None
    queue, model = KINDS[kind]
    try:
        message = model.model_validate(item)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
        report.invalid.append({"id": message_id, "reason": f"invalid: {', '.join(fields)}"})
        return None
    return new_job(queue, message, org=SERVICE_ORG, key=message_id, at_ms=at_ms)


def _chunks(jobs: list[NewJob]) -> Iterator[list[NewJob]]:
    """The jobs by queue, at most ``CHUNK`` per list."""
    for queue in sorted({job.queue for job in jobs}):
        of_queue = [job for job in jobs if job.queue == queue]
        for start in range(0, len(of_queue), CHUNK):
            yield of_queue[start : start + CHUNK]


def enqueue(messages: list[Any], store: JobStore | None = None) -> Report:
    """Queue every valid message once; what was taken."""
    store = store or JobStore()
    report, at = Report(fetched=len(messages)), now_ms()
    report.left = max(len(messages) - MAX_PER_RUN, 0)
    taken = messages[:MAX_PER_RUN]
    jobs = [job for job in (_parse(item, report, at) for item in taken) if job is not None]
    for chunk in _chunks(jobs):
        while chunk:
            created = store.create_many(chunk)
            if created[0].status == "conflict":  # nothing written: drop that one, try again
                conflicting = chunk.pop(created[0].index)
                assert conflicting.idempotency is not None
                report.conflicts.append(conflicting.idempotency[1])
                continue
            report.queued += sum(c.status == "created" for c in created)
            report.already_queued += sum(c.status == "existing" for c in created)
            break
    return report


def process() -> dict[str, Any]:
    """One run: fetch the due messages and queue them; the report (``skipped`` without
    ``APP_API_URL``)."""
    if not settings.app_api_url:
        return {"fetched": 0, "queued": 0, "skipped": "APP_API_URL is not set"}
    return enqueue(fetch()).as_dict()
