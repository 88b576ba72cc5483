"""SMS straight through Amazon SNS: ``Publish`` to the phone number (``SMS_PROVIDER=sns``)."""

from __future__ import annotations

import time
from typing import Any

from shared.delivery.aws import call, client
from shared.jobs.store import Job
from shared.settings import settings


def message_attributes() -> dict[str, dict[str, str]]:
    """The SMS type (``SMS_TYPE``) and, when set, the sender id (``SMS_SENDER_ID``)."""
    attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": settings.sms_type}}
    if settings.sms_sender_id:
        attributes["AWS.SNS.SMS.SenderID"] = {
            "DataType": "String",
            "StringValue": settings.sms_sender_id,
        }
    return attributes


def send_sms(job: Job) -> dict[str, Any]:
    """Publish the job's ``message`` to its ``phoneNumber``; ``{provider, messageId, elapsedMs}``.

    Raises ``JobFailed``: retryable on throttling, 5xx and network errors, else final.
    """
    started = time.perf_counter()
    answer = call(
        "sns",
        "Publish",
        client("sns").publish,
        PhoneNumber=job.data["phoneNumber"],
        Message=job.data["message"],
        MessageAttributes=message_attributes(),
    )
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return {"provider": "sns", "messageId": answer["MessageId"], "elapsedMs": elapsed_ms}
