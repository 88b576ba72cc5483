"""Email straight through Amazon SES (API v2 ``SendEmail``, ``EMAIL_PROVIDER=ses``)."""

from __future__ import annotations

import time
from typing import Any

from shared.delivery.aws import call, client
from shared.delivery.html_text import html_to_text
from shared.jobs.runner import JobFailed
from shared.jobs.store import Job
from shared.settings import settings


def content(data: dict[str, Any]) -> dict[str, Any]:
    """The ``Simple`` message: subject, HTML, and the request's ``text`` (derived from the
    HTML when it gave none), all UTF-8."""
    html = data["html"]
    text = data.get("text") or html_to_text(html)
    return {
        "Simple": {
            "Subject": {"Data": data["subject"], "Charset": "UTF-8"},
            "Body": {
                "Html": {"Data": html, "Charset": "UTF-8"},
                "Text": {"Data": text, "Charset": "UTF-8"},
            },
        }
    }


def send_email(job: Job) -> dict[str, Any]:
    """Send the job's email from ``EMAIL_FROM`` to its ``to``; ``{provider, messageId,
    elapsedMs}``.

    Raises ``JobFailed``: retryable on throttling, 5xx and network errors, else final (an
    unverified sender, a rejected message, a missing ``EMAIL_FROM``).
    """
    if not settings.email_from:
        raise JobFailed("ses cannot send: EMAIL_FROM is not set", retryable=False)
    started = time.perf_counter()
    answer = call(
        "ses",
        "SendEmail",
        client("sesv2").send_email,
        FromEmailAddress=settings.email_from,
        Destination={"ToAddresses": [job.data["to"]]},
        Content=content(job.data),
    )
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return {"provider": "ses", "messageId": answer["MessageId"], "elapsedMs": elapsed_ms}
