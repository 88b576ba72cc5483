"""Delivery request bodies: seed compatibility, field errors, and send-time maths."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shared.http.problems import field_errors
from shared.schemas import (
    EMAIL_SCHEDULED,
    NOW_MS,
    SMS_SCHEDULED,
    BulkScheduledResponse,
    EmailBulkCreate,
    EmailCreate,
    ScheduledResponse,
    SmsBulkCreate,
    SmsCreate,
    job_data,
)
from shared.settings import settings

#: "Now" in every test: 2026-01-15T00:00:00Z, in epoch ms.
NOW = int(datetime(2026, 1, 15, tzinfo=UTC).timestamp() * 1000)
DAY_MS = 86_400_000

SEED_SMS = {
    "phoneNumber": "+1234567890",
    "message": "Your message here",
    "contactId": "contact-uuid",
    "workspaceId": "workspace-uuid",
    "delay": 60000,
    "metadata": {
        "source": "campaign",
        "campaignId": "campaign-uuid",
        "callbackEndpoint": "/send-sms",
    },
}
SEED_EMAIL = {
    "to": "recipient@example.com",
    "subject": "Your email subject",
    "html": "<h1>Hello!</h1><p>This is your email content.</p>",
    "contactId": "contact-uuid",
    "workspaceId": "workspace-uuid",
    "delay": 60000,
    "metadata": {
        "source": "campaign",
        "campaignId": "campaign-uuid",
        "callbackEndpoint": "/api/email/send",
    },
}
SEED_CURL_SMS = {
    "phoneNumber": "+1234567890",
    "message": "This is a test SMS",
    "contactId": "123456",
    "workspaceId": "66338",
    "delay": 0,
}
SEED_CURL_EMAIL = {
    "to": "test@example.com",
    "subject": "Test Email",
    "html": "<p>This is a test email</p>",
    "contactId": "123456",
    "workspaceId": "66338",
    "delay": 0,
}


@pytest.fixture(autouse=True)
def max_delay_400_days(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin the limit so an environment's ``MAX_DELAY_DAYS`` cannot change the outcome."""
    monkeypatch.setattr(settings, "max_delay_days", 400)


def utc_ms(text: str) -> int:
    """Epoch ms of an ISO 8601 time with an offset."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def sms(**fields: Any) -> SmsCreate:
    """The seed curl SMS body, without ``delay``, changed by ``fields`` and validated at NOW."""
    body = {k: v for k, v in SEED_CURL_SMS.items() if k != "delay"} | fields
    return SmsCreate.model_validate(body, context={NOW_MS: NOW})


def error_fields(model: type[BaseModel], body: Any) -> list[str]:
    """Dotted fields of the errors validating ``body`` at NOW (as the 422 body lists them)."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body, context={NOW_MS: NOW})
    return [error["field"] for error in field_errors(caught.value)]


def sms_error_fields(**fields: Any) -> list[str]:
    body = {k: v for k, v in SEED_CURL_SMS.items() if k != "delay"} | fields
    return error_fields(SmsCreate, body)


# Seed bodies


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (SmsCreate, SEED_SMS),
        (EmailCreate, SEED_EMAIL),
        (SmsCreate, SEED_CURL_SMS),
        (EmailCreate, SEED_CURL_EMAIL),
    ],
)
def test_seed_bodies_validate_and_are_forwarded_unchanged(
    model: type[SmsCreate] | type[EmailCreate], body: dict[str, Any]
) -> None:
    parsed = model.model_validate(body, context={NOW_MS: NOW})
    assert job_data(parsed) == body
    assert parsed.due_at_ms(NOW) == NOW + body["delay"]


def test_numeric_workspace_and_contact_ids_become_strings() -> None:
    parsed = sms(workspaceId=66338, contactId=123456)
    assert (parsed.workspace_id, parsed.contact_id) == ("66338", "123456")


def test_formatted_phone_number_is_normalised_to_e164() -> None:
    assert sms(phoneNumber=" +1 (234) 567-890 ").phone_number == "+1234567890"


def test_unknown_fields_are_ignored_and_not_forwarded() -> None:
    parsed = sms(campaignSecret="x", removeOnComplete=True)
    assert "campaignSecret" not in job_data(parsed)
    assert "removeOnComplete" not in job_data(parsed)


# Field errors


def test_missing_fields_are_each_reported() -> None:
    assert sorted(error_fields(SmsCreate, {})) == [
        "contactId",
        "message",
        "phoneNumber",
        "workspaceId",
    ]
    assert sorted(error_fields(EmailCreate, {})) == [
        "contactId",
        "html",
        "subject",
        "to",
        "workspaceId",
    ]


@pytest.mark.parametrize(
    "phone",
    [
        "1234567890",
        "+0123456789",
        "+1234567",
        "+1234567890123456",
        "+1 555 CALL NOW",
        "+1.234.567.890",
        "",
        1234567890,
    ],
)
def test_bad_phone_number_is_rejected_on_phone_number(phone: Any) -> None:
    assert sms_error_fields(phoneNumber=phone) == ["phoneNumber"]


@pytest.mark.parametrize(
    "address",
    [
        "no-at-sign",
        "a@b",
        "a@@example.com",
        "a b@example.com",
        ".a@example.com",
        "a..b@example.com",
        "a@-example.com",
        "a@example.c",
        "a@example.com, b@example.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_bad_email_address_is_rejected_on_to(address: str) -> None:
    assert error_fields(EmailCreate, SEED_CURL_EMAIL | {"to": address}) == ["to"]


@pytest.mark.parametrize("address", ["first.last+tag@mail.example.co.uk", "a@xn--p1ai.xn--p1ai"])
def test_ordinary_email_addresses_are_accepted(address: str) -> None:
    parsed = EmailCreate.model_validate(SEED_CURL_EMAIL | {"to": address})
    assert parsed.to == address


@pytest.mark.parametrize("message", ["", "   ", "x" * 1601])
def test_empty_or_too_long_message_is_rejected_on_message(message: str) -> None:
    assert sms_error_fields(message=message) == ["message"]


def test_message_of_1600_characters_is_accepted() -> None:
    assert len(sms(message="é" * 1600).message) == 1600


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hello\r\nBcc: victim@example.com"),
        ("subject", "x" * 999),
        ("html", ""),
        ("html", "x" * (512 * 1024 + 1)),
    ],
)
def test_bad_subject_or_html_is_rejected_on_its_field(field: str, value: str) -> None:
    assert error_fields(EmailCreate, SEED_CURL_EMAIL | {field: value}) == [field]


@pytest.mark.parametrize(
    "delay", [-1, json.loads("NaN"), json.loads("Infinity"), json.loads("-Infinity"), "NaN", True]
)
def test_negative_or_non_finite_delay_is_rejected_on_delay(delay: Any) -> None:
    assert sms_error_fields(delay=delay) == ["delay"]


def test_nan_delay_from_json_text_is_rejected_on_delay() -> None:
    body = json.loads(json.dumps(SEED_CURL_SMS).replace('"delay": 0', '"delay": NaN'))
    assert error_fields(SmsCreate, body) == ["delay"]


def test_delay_beyond_max_delay_days_is_rejected_on_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "max_delay_days", 1)
    assert sms(delay=DAY_MS).due_at_ms(NOW) == NOW + DAY_MS
    assert sms_error_fields(delay=DAY_MS + 1) == ["delay"]


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evil.example/x",
        "//evil.example/x",
        "send-sms",
        "/\\evil.example",
        "/a/../admin",
        "/has space",
        "",
        42,
        None,
    ],
)
def test_callback_endpoint_must_be_a_plain_path(endpoint: Any) -> None:
    fields = sms_error_fields(metadata={"source": "x", "callbackEndpoint": endpoint})
    assert fields == ["metadata.callbackEndpoint"]


@pytest.mark.parametrize("endpoint", ["/send-sms", "/api/email/send?via=queue&v=2", "/"])
def test_callback_endpoint_paths_are_accepted(endpoint: str) -> None:
    assert sms(metadata={"callbackEndpoint": endpoint}).metadata == {"callbackEndpoint": endpoint}


@pytest.mark.parametrize(
    "metadata", [{"blob": "x" * 17_000}, {"score": json.loads("NaN")}, "not an object"]
)
def test_oversized_or_non_json_metadata_is_rejected_on_metadata(metadata: Any) -> None:
    assert sms_error_fields(metadata=metadata) == ["metadata"]


# Timing rules


def test_delay_and_send_at_together_are_rejected_on_send_at() -> None:
    assert sms_error_fields(delay=1000, sendAt="2026-02-01T09:00:00Z") == ["sendAt"]


def test_unknown_timezone_is_rejected_on_timezone() -> None:
    for zone in ("Mars/Olympus_Mons", "america/new_york", "America", "../etc/passwd", ""):
        assert sms_error_fields(sendAt="2026-02-01T09:00:00", timezone=zone) == ["timezone"]


def test_timezone_with_an_offset_carrying_send_at_is_rejected_on_timezone() -> None:
    fields = sms_error_fields(sendAt="2026-02-01T09:00:00+01:00", timezone="Europe/Paris")
    assert fields == ["timezone"]


def test_timezone_without_send_at_is_rejected_on_timezone() -> None:
    assert sms_error_fields(timezone="Europe/Paris") == ["timezone"]
    assert sms_error_fields(delay=1000, timezone="Europe/Paris") == ["timezone"]


def test_send_at_without_offset_or_timezone_asks_for_one() -> None:
    with pytest.raises(ValidationError) as caught:
        sms(sendAt="2026-02-01T09:00:00")
    [error] = field_errors(caught.value)
    assert error["field"] == "sendAt"
    assert "offset" in error["message"]
    assert "timezone" in error["message"]


@pytest.mark.parametrize(
    "send_at", ["tomorrow", "2026-02-01", "2026-13-01T09:00:00Z", "1767225600000", "01/02/2026"]
)
def test_send_at_that_is_not_an_iso_date_time_is_rejected_on_send_at(send_at: str) -> None:
    assert sms_error_fields(sendAt=send_at) == ["sendAt"]


def test_send_at_with_an_offset_is_due_at_that_instant() -> None:
    assert sms(sendAt="2026-12-01T09:00:00+01:00").due_at_ms(NOW) == utc_ms(
        "2026-12-01T08:00:00+00:00"
    )
    assert sms(sendAt="2026-12-01T09:00:00.250Z").due_at_ms(NOW) == utc_ms(
        "2026-12-01T09:00:00.250+00:00"
    )


@pytest.mark.parametrize(
    ("local", "zone", "utc"),
    [
        ("2026-12-01T09:00:00", "America/New_York", "2026-12-01T14:00:00+00:00"),
        ("2026-07-01T09:00:00", "America/New_York", "2026-07-01T13:00:00+00:00"),
        ("2026-03-08T01:59:00", "America/New_York", "2026-03-08T06:59:00+00:00"),
        ("2026-03-08T03:00:00", "America/New_York", "2026-03-08T07:00:00+00:00"),
        ("2026-04-04T09:00:00", "Australia/Sydney", "2026-04-03T22:00:00+00:00"),
        ("2026-04-06T09:00:00", "Australia/Sydney", "2026-04-05T23:00:00+00:00"),
        ("2026-06-01T12:00:00", "UTC", "2026-06-01T12:00:00+00:00"),
    ],
)
def test_local_send_at_is_wall_clock_time_in_the_timezone(local: str, zone: str, utc: str) -> None:
    assert sms(sendAt=local, timezone=zone).due_at_ms(NOW) == utc_ms(utc)


@pytest.mark.parametrize(
    ("local", "zone"),
    [("2026-03-08T02:30:00", "America/New_York"), ("2026-10-04T02:30:00", "Australia/Sydney")],
)
def test_local_time_skipped_by_spring_forward_is_rejected(local: str, zone: str) -> None:
    with pytest.raises(ValidationError) as caught:
        sms(sendAt=local, timezone=zone)
    [error] = field_errors(caught.value)
    assert error["field"] == "sendAt"
    assert "does not exist" in error["message"]


@pytest.mark.parametrize(
    ("local", "zone", "earlier_utc"),
    [
        ("2026-11-01T01:30:00", "America/New_York", "2026-11-01T05:30:00+00:00"),  # EDT, not EST
        ("2026-04-05T02:30:00", "Australia/Sydney", "2026-04-04T15:30:00+00:00"),  # AEDT, not AEST
    ],
)
def test_local_time_repeated_by_fall_back_is_its_first_occurrence(
    local: str, zone: str, earlier_utc: str
) -> None:
    assert sms(sendAt=local, timezone=zone).due_at_ms(NOW) == utc_ms(earlier_utc)


def test_past_send_at_is_due_now() -> None:
    assert sms(sendAt="2020-01-01T00:00:00Z").due_at_ms(NOW) == NOW
    assert sms(sendAt="2026-01-14T23:00:00", timezone="Asia/Tokyo").due_at_ms(NOW) == NOW


def test_without_timing_the_delivery_is_due_now() -> None:
    assert sms().due_at_ms(NOW) == NOW


def test_delay_is_added_to_now_in_whole_milliseconds() -> None:
    assert sms(delay=60000).due_at_ms(NOW) == NOW + 60000
    assert sms(delay=1.6).due_at_ms(NOW) == NOW + 2


def test_send_at_beyond_max_delay_days_is_rejected_on_send_at() -> None:
    limit = datetime.fromtimestamp((NOW + 400 * DAY_MS) / 1000, UTC)
    assert sms(sendAt=limit.isoformat()).due_at_ms(NOW) == NOW + 400 * DAY_MS
    assert sms_error_fields(sendAt=limit.replace(second=1).isoformat()) == ["sendAt"]
    local = limit.replace(tzinfo=None).isoformat()  # Tokyo is ahead of UTC: this is earlier
    assert sms(sendAt=local, timezone="Asia/Tokyo").due_at_ms(NOW) < NOW + 400 * DAY_MS


def test_send_at_limit_uses_the_clock_when_no_now_is_given() -> None:
    body = SEED_CURL_SMS | {"delay": None, "sendAt": "9999-01-01T00:00:00Z"}
    with pytest.raises(ValidationError) as caught:
        SmsCreate.model_validate(body)
    assert [e["field"] for e in field_errors(caught.value)] == ["sendAt"]


# Options and job ids


def test_options_are_validated_and_kept_out_of_the_forwarded_data() -> None:
    options = {
        "attempts": 5,
        "backoff": {"type": "exponential", "delay": 2000},
        "priority": 1,
        "jobId": "campaign-7:contact-9",
    }
    parsed = sms(options=options)
    assert parsed.options is not None
    assert parsed.options.model_dump(exclude_none=True) == options
    assert parsed.client_job_id == "campaign-7:contact-9"
    assert "options" not in job_data(parsed)


def test_options_default_to_priority_5_and_accept_a_numeric_backoff() -> None:
    options = sms(options={"backoff": 5000}).options
    assert options is not None
    assert options.priority == 5
    assert options.backoff is not None
    assert (options.backoff.type, options.backoff.delay) == ("fixed", 5000)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"attempts": 0}, "options.attempts"),
        ({"attempts": 26}, "options.attempts"),
        ({"priority": 0}, "options.priority"),
        ({"priority": 11}, "options.priority"),
        ({"backoff": {"type": "linear"}}, "options.backoff.type"),
        ({"backoff": {"type": "fixed", "delay": -1}}, "options.backoff.delay"),
        ({"backoff": {"type": "fixed", "delay": DAY_MS + 1}}, "options.backoff.delay"),
        ({"jobId": "has space"}, "options.jobId"),
        ({"jobId": "x" * 129}, "options.jobId"),
    ],
)
def test_bad_options_are_rejected_on_the_option(options: dict[str, Any], field: str) -> None:
    assert sms_error_fields(options=options) == [field]


def test_top_level_job_id_is_the_client_job_id_and_is_not_forwarded() -> None:
    parsed = sms(jobId="order-42")
    assert parsed.client_job_id == "order-42"
    assert "jobId" not in job_data(parsed)


@pytest.mark.parametrize("job_id", ["", "a/b", "é", "x" * 129])
def test_bad_top_level_job_id_is_rejected_on_job_id(job_id: str) -> None:
    assert sms_error_fields(jobId=job_id) == ["jobId"]


def test_conflicting_job_ids_are_rejected_on_job_id() -> None:
    assert sms_error_fields(jobId="a", options={"jobId": "b"}) == ["jobId"]
    assert sms(jobId="a", options={"jobId": "a"}).client_job_id == "a"


# Bulk


@pytest.mark.parametrize("count", [0, 1001])
def test_bulk_needs_1_to_1000_messages(count: int) -> None:
    assert error_fields(SmsBulkCreate, {"messages": [SEED_CURL_SMS] * count}) == ["messages"]
    assert error_fields(EmailBulkCreate, {"messages": [SEED_CURL_EMAIL] * count}) == ["messages"]


def test_bulk_of_1000_messages_is_accepted() -> None:
    assert len(SmsBulkCreate.model_validate({"messages": [SEED_CURL_SMS] * 1000}).messages) == 1000


def test_bulk_error_names_the_index_of_the_bad_message() -> None:
    messages = [SEED_CURL_SMS] * 5
    messages[3] = SEED_CURL_SMS | {"phoneNumber": "555"}
    assert error_fields(SmsBulkCreate, {"messages": messages}) == ["messages.3.phoneNumber"]
    emails = [SEED_CURL_EMAIL, SEED_CURL_EMAIL | {"sendAt": "2026-03-08T02:30:00"}]
    emails[1]["timezone"] = "America/New_York"
    assert error_fields(EmailBulkCreate, {"messages": emails}) == ["messages.1.sendAt"]


def test_bulk_rejects_a_repeated_job_id() -> None:
    messages = [SEED_CURL_SMS | {"jobId": "a"}, SEED_CURL_SMS | {"options": {"jobId": "a"}}]
    assert error_fields(SmsBulkCreate, {"messages": messages}) == ["messages.1.jobId"]


# Forwarded data and responses


def test_job_data_keeps_send_at_and_timezone_as_sent() -> None:
    parsed = sms(sendAt="2026-12-01T09:00:00", timezone="America/New_York", jobId="j1")
    assert job_data(parsed) == {
        "phoneNumber": "+1234567890",
        "message": "This is a test SMS",
        "contactId": "123456",
        "workspaceId": "66338",
        "sendAt": "2026-12-01T09:00:00",
        "timezone": "America/New_York",
    }


def test_job_data_keeps_a_fractional_delay_and_an_integer_one_as_integer() -> None:
    assert job_data(sms(delay=1500))["delay"] == 1500
    assert isinstance(job_data(sms(delay=1500.0))["delay"], int)
    assert job_data(sms(delay=2.5))["delay"] == 2.5


def test_responses_have_the_seed_shape() -> None:
    sms_answer = ScheduledResponse(job_id="123", message=SMS_SCHEDULED)
    assert sms_answer.model_dump() == {
        "success": True,
        "jobId": "123",
        "message": "SMS scheduled successfully",
    }
    assert ScheduledResponse(job_id="9", message=EMAIL_SCHEDULED).message == (
        "Email scheduled successfully"
    )
    bulk = BulkScheduledResponse(job_ids=["1", "2"], count=2)
    assert bulk.model_dump() == {"success": True, "jobIds": ["1", "2"], "count": 2}


def test_visible_takes_printable_ascii_as_is_and_folds_the_rest() -> None:
    """The fast path for printable ASCII gives what the full NFKC + invisible-strip path gives."""
    import unicodedata

    from shared.schemas import _IGNORABLE, visible

    def full(text: str) -> str:
        folded = unicodedata.normalize("NFKC", text)
        kept = "".join(c for c in _IGNORABLE.sub("", folded) if unicodedata.category(c)[0] != "C")
        return kept.strip()

    samples = ["", " ", "  ws-1  ", "+1 (415) 555-0100", "a\tb", "x\x00y", "\x7f", "~!@#$%^&*()"]
    samples += ["".join(chr(c) for c in range(32, 127))]
    samples += ["\uff57\uff53", "a\u200bb", "\u00ad", "caf\u00e9 "]  # non-ASCII: the full path
    for text in samples:
        assert visible(text) == full(text), repr(text)
