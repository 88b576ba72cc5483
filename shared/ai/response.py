"""AI responses (seed "AI response processing"): accept a message, reply to it later.

``POST /api/ai-response`` admits a request against the per-workspace and per-contact limits
(sliding windows, ``shared.http.ratelimit``, counted per organisation), then queues a job on
``ai-response``. The job asks the AI provider for a reply and POSTs it to the request's
``callback_url`` in the seed's adaptive format: the SMS shape when that URL's path is the SMS
endpoint, else the AI-response shape.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from shared.http import Request, Response
from shared.http.ratelimit import Check, Limit, enforce
from shared.jobs.queues import QUEUES
from shared.jobs.store import Job, JobStore, NewJob, now_ms
from shared.schemas import (
    DEFAULT_PRIORITY,
    AiText,
    CallbackUrl,
    Identifier,
    Priority,
    canonical_contact,
    visible,
)
from shared.settings import settings

QUEUE = "ai-response"


class AiResponseOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    priority: Priority = DEFAULT_PRIORITY


class AiResponseCreate(BaseModel):
    """Body of ``POST /api/ai-response`` (the seed's snake_case names)."""

    model_config = ConfigDict(extra="ignore")
    workspace_id: Identifier
    contact_id: Identifier
    message_id: Identifier
    message_text: AiText
    callback_url: CallbackUrl
    #: a further limit shared by every request naming this key (seed: the per-contact limit's
    #: key); it adds to the per-workspace and per-contact limits, never replaces them
    rate_limit_key: Identifier | None = Field(None)
    options: AiResponseOptions | None = None


class AiResponseAccepted(BaseModel):
    success: bool = True
    jobId: str
    message: str = "AI response job queued"


def admission_limits() -> tuple[Limit, Limit, Limit]:
    """(per workspace, per contact, per ``rate_limit_key``), from settings; the last takes the
    per-contact figures."""
    window_ms = settings.ai_response_limit_window_s * 1000
    per_contact = settings.ai_response_limit_per_contact
    return (
        Limit("ai-response:workspace", settings.ai_response_limit_per_workspace, window_ms),
        Limit("ai-response:contact", per_contact, window_ms),
        Limit("ai-response:key", per_contact, window_ms),
    )


def admission_checks(body: AiResponseCreate) -> list[Check]:
    """What one request counts against, within its organisation: its workspace, its contact
    (one spelling per contact: ``shared.schemas.canonical_contact``) and its
    ``rate_limit_key`` when given."""
    per_workspace, per_contact, per_key = admission_limits()
    workspace = visible(body.workspace_id).casefold()
    checks: list[Check] = [
        (per_workspace, workspace),
        (per_contact, (workspace, canonical_contact(body.contact_id))),
    ]
    if body.rate_limit_key is not None:
        checks.append((per_key, visible(body.rate_limit_key).casefold()))
    return checks


def accept(request: Request[AiResponseCreate]) -> Response:
    """Admit (or 429), then queue the job: ``202 {success, jobId, message}``."""
    body = request.body
    assert request.principal is not None
    enforce(admission_checks(body), org=request.principal.org)
    spec = QUEUES[QUEUE]
    created = JobStore().create(
        NewJob(
            queue=QUEUE,
            actor=spec.actor,
            data=body.model_dump(exclude={"options"}, exclude_none=True),
            due_ms=now_ms(),
            max_attempts=spec.max_attempts,
            workspace_id=body.workspace_id,
            contact_id=body.contact_id,
            org=request.principal.org,
            priority=body.options.priority if body.options else DEFAULT_PRIORITY,
        )
    )
    return Response(AiResponseAccepted(jobId=created.job_id), status=202)


def is_sms_endpoint(url: str) -> bool:
    """Whether ``url``'s path is the SMS endpoint (``SMS_CALLBACK_ENDPOINT``)."""
    path = urlsplit(url).path.rstrip("/") or "/"
    return path == (settings.sms_callback_endpoint.rstrip("/") or "/")


def callback_payload(job: Job, reply: str) -> dict[str, Any]:
    """The seed's adaptive callback body for ``reply``."""
    data = job.data
    if is_sms_endpoint(data["callback_url"]):
        return {
            "to": data["contact_id"],
            "message": reply,
            "workspaceId": data["workspace_id"],
            "contactId": data["contact_id"],
            "metadata": {
                "source": "ai_response",
                "messageId": data["message_id"],
                "job_id": job.id,
            },
        }
    return {
        "workspace_id": data["workspace_id"],
        "message_id": data["message_id"],
        "job_id": job.id,
        "response_text": reply,
    }
