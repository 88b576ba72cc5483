"""The AWS providers' clients and error classification, against moto and real botocore errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from shared.delivery import aws as delivery_aws
from shared.delivery.aws import failure
from shared.delivery.html_text import html_to_text
from shared.jobs.runner import JobFailed
from shared.jobs.store import Job
from shared.settings import Settings
from tests.aws import REGION, Injector, aws, json_error, query_error

__all__ = ["aws"]

ROOT = Path(__file__).resolve().parents[3]


def client_error(code: str, status: int, message: str = "m") -> ClientError:
    response = {"Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status}}  # fmt: skip
    return ClientError(response, "Publish")  # type: ignore[arg-type]


def running(queue: str, data: dict[str, Any]) -> Job:
    return Job(id="S1", queue=queue, actor=queue, state="active", data=data, options={},
               attempts=1, max_attempts=5, created_at=0, scheduled_for=0)  # fmt: skip


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (client_error("Throttling", 400), True),
        (client_error("ThrottledException", 429), True),
        (client_error("TooManyRequestsException", 429), True),
        (client_error("KMSThrottlingException", 400), True),
        (client_error("InternalFailure", 500), True),
        (client_error("ServiceUnavailable", 503), True),
        (client_error("SomethingNew", 502), True),
        (client_error("InvalidParameter", 400), False),
        (client_error("MessageRejected", 400), False),
        (client_error("OptedOut", 400), False),
        (client_error("AccessDeniedException", 403), False),
        (EndpointConnectionError(endpoint_url="https://sns.test"), True),
        (ConnectTimeoutError(endpoint_url="https://sns.test"), True),
        (ReadTimeoutError(endpoint_url="https://sns.test"), True),
        (NoCredentialsError(), False),
    ],
)
def test_which_aws_errors_are_retried(exc: Exception, retryable: bool):
    failed = failure("sns", "Publish", exc)
    assert failed.retryable is retryable
    assert failed.error.startswith("sns Publish ")


def test_a_throttled_error_says_so_and_quotes_the_code():
    failed = failure("ses", "SendEmail", client_error("Throttling", 400, "Rate exceeded"))
    assert failed.error == "ses SendEmail throttled (Throttling, HTTP 400): Rate exceeded"


def test_one_client_per_service_and_process_in_the_configured_region(aws: None):
    first = delivery_aws.client("sns")
    assert delivery_aws.client("sns") is first
    assert delivery_aws.client("sesv2") is not first
    assert first.meta.region_name == REGION
    assert first.meta.config.retries["total_max_attempts"] == 1  # the job's back-off retries


def test_errors_parsed_by_botocore_from_the_wire_classify_as_expected(aws: None):
    from shared.delivery.sns import send_sms

    job = running("sms", {"phoneNumber": "+14155550123", "message": "hi"})
    injector = Injector("sns", "Publish").then(
        query_error("Throttling", "Rate exceeded"), query_error("InternalError", "oops", 500)
    )
    try:
        for expected in ("throttled (Throttling, HTTP 400)", "failed (InternalError, HTTP 500)"):
            with pytest.raises(JobFailed) as caught:
                send_sms(job)
            assert caught.value.retryable and expected in caught.value.error
        assert send_sms(job)["provider"] == "sns"  # then moto answers
    finally:
        injector.close()


def test_ses_json_errors_parse_too(aws: None, monkeypatch: pytest.MonkeyPatch):
    from shared.delivery.ses import send_email
    from shared.settings import settings

    monkeypatch.setattr(settings, "email_from", "a@example.com")
    job = running("email", {"to": "b@example.com", "subject": "s", "html": "<p>x</p>"})
    injector = Injector("sesv2", "SendEmail").then(
        json_error("AccountSuspendedException", "suspended", 400)
    )
    try:
        with pytest.raises(JobFailed) as caught:
            send_email(job)
    finally:
        injector.close()
    assert not caught.value.retryable
    assert (
        caught.value.error
        == "ses SendEmail failed (AccountSuspendedException, HTTP 400): suspended"
    )


def test_provider_settings_are_checked_at_start_up():
    with pytest.raises(ValueError, match="EMAIL_PROVIDER=ses needs EMAIL_FROM"):
        Settings(_env_file=None, email_provider="ses")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="SMS_SENDER_ID must be"):
        Settings(_env_file=None, sms_sender_id="123")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="SMS_SENDER_ID must be"):
        Settings(_env_file=None, sms_sender_id="TooLongSender1")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="sms_provider"):
        Settings(_env_file=None, sms_provider="twilio")  # type: ignore[call-arg]
    ok = Settings(_env_file=None, sms_provider="sns", sms_sender_id="Acme1")  # type: ignore[call-arg]
    assert ok.sms_provider == "sns" and ok.sms_type == "Transactional"


def test_handlers_and_job_modules_import_no_boto3():
    code = (
        "import sys, functions.api.schedule_sms, functions.api.schedule_email, "
        "functions.jobs.send_sms, functions.jobs.send_email; "
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSM_", "SMS_", "EMAIL_"))}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hi</p>", "Hi"),
        ("<h1>Title</h1><p>One<br>two</p>", "Title\n\nOne\ntwo"),
        ("<ul><li>a</li><li>b</li></ul>", "- a\n- b"),
        ('<p>See <a href="https://e.com/x">this</a></p>', "See this (https://e.com/x)"),
        ('<a href="mailto:a@b.c">mail us</a>', "mail us (a@b.c)"),
        ('<a href="/relative">here</a>', "here"),
        ("<style>p{color:red}</style><script>x()</script><p>Tom &amp; Jerry&nbsp;!</p>",
         "Tom & Jerry !"),
        ("<p>wrapped\n   source</p><pre>keep\n  this</pre>", "wrapped source\n\nkeep\n  this"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
        ("plain text", "plain text"),
    ],
)  # fmt: skip
def test_html_to_text(html: str, text: str):
    assert html_to_text(html) == text


def test_without_boto3_an_aws_provider_is_refused_at_start_up_and_per_request(
    monkeypatch: pytest.MonkeyPatch,
):
    import importlib.util

    from shared.delivery import providers

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "boto3" else real(name, *a)
    )
    providers.boto3_installed.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"SMS_PROVIDER=sns needs boto3: pip install"):
            Settings(_env_file=None, sms_provider="sns")  # type: ignore[call-arg]
        assert "boto3 is not installed" in (providers.provider_error("sms", "sns") or "")
        assert providers.provider_error("sms", "callback") is None
    finally:
        monkeypatch.undo()
        providers.boto3_installed.cache_clear()
    assert providers.provider_error("sms", "sns") is None
