"""Inbound webhooks end to end: ``POST /webhooks/{channel}`` over HTTP, verified per channel,
queued, and forwarded by a real worker to the app (a real receiver on 127.0.0.1), signed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import redis

from functions.api import receive_webhook
from shared.delivery import signing
from shared.jobs.store import Job
from shared.settings import settings
from tests.conftest import wait_for
from tests.functions.conftest import SECRET, Service
from tests.servers import Receiver
from tests.shared.inbound.providers import (
    BODY,
    WHSEC,
    github_headers,
    standard_headers,
    stripe_headers,
)

QUEUE = "webhook-processing"
SECRETS = f"orders:{WHSEC},billing:stripe:{WHSEC},repo:github:gh-secret"


@pytest.fixture
def app(
    service: Service, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[httpx.Client]:
    """A provider's view: the gateway without an API key; the app is ``receiver``."""
    monkeypatch.setattr(settings, "app_api_url", receiver.url)
    monkeypatch.setattr(settings, "webhook_secrets", SECRETS)
    with httpx.Client(base_url=str(service.http.base_url)) as provider:
        yield provider


def queued(r: redis.Redis) -> list[str]:
    """Every key under the webhook queue's hash tag."""
    return list(r.scan_iter(match=f"{settings.redis_prefix}:{{{QUEUE}}}:*"))


def forwarded(receiver: Receiver, channel: str, count: int = 1) -> list[Any]:
    path = f"/webhooks/{channel}"
    calls = wait_for(lambda: len(receiver.to(path)) >= count and receiver.to(path), what=path)
    return calls  # type: ignore[no-any-return]


def completed(service: Service, webhook_id: str) -> Job:
    """The webhook's job once completed (it belongs to the service, not to an API key)."""
    return wait_for(  # type: ignore[no-any-return]
        lambda: (job := service.store.get(webhook_id)) and job.state == "completed" and job,
        what=f"{webhook_id} completed",
    )


def post(client: httpx.Client, channel: str, body: bytes, headers: dict) -> httpx.Response:
    return client.post(f"/webhooks/{channel}", content=body, headers=headers)


def assert_problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    for word in words:
        assert word in response.json()["detail"]


def test_a_standard_webhook_is_verified_queued_and_forwarded_signed(
    app: httpx.Client, receiver: Receiver, service: Service, monkeypatch: pytest.MonkeyPatch
):
    body = b'{"type":"order.created","order":{"id":42}}'
    headers = standard_headers(body) | {
        "content-type": "application/json",
        "authorization": "Bearer provider-token",
        "cookie": "session=abc",
        "x-telegram-bot-api-secret-token": "t0ken",
        "x-request-id": "r-1",
    }
    response = post(app, "orders", body, headers)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["success"] is True and accepted["duplicate"] is False
    webhook_id = accepted["webhookId"]
    assert webhook_id.startswith("H")

    (call,) = forwarded(receiver, "orders")
    sent = call.json()
    assert sent["webhookId"] == webhook_id and sent["channel"] == "orders"
    assert sent["eventId"] == "msg_1"
    assert sent["payload"] == {"type": "order.created", "order": {"id": 42}}
    assert sent["receivedAt"].endswith("Z")
    assert sent["headers"]["x-request-id"] == "r-1"
    stored = {name.lower() for name in sent["headers"]}
    assert not stored & {"authorization", "cookie", "x-telegram-bot-api-secret-token"}
    assert call.headers["webhook-id"] == webhook_id
    assert signing.verify(SECRET, call.headers, call.body)
    assert completed(service, webhook_id).queue == QUEUE
    monkeypatch.setattr(settings, "service_token", "service-token-for-inbound")
    token = {"authorization": "Bearer service-token-for-inbound"}
    status = app.get(f"/api/job-status/{webhook_id}", headers=token)
    assert status.status_code == 200 and status.json()["state"] == "completed"
    assert service.http.get(f"/api/job-status/{webhook_id}").status_code == 404  # not acme's


def test_a_stripe_webhook_is_forwarded_with_its_event_id(app: httpx.Client, receiver: Receiver):
    body = json.dumps({"id": "evt_9", "type": "invoice.paid"}).encode()
    assert post(app, "billing", body, stripe_headers(body)).status_code == 202
    (call,) = forwarded(receiver, "billing")
    assert call.json()["eventId"] == "evt_9"
    assert call.json()["payload"]["type"] == "invoice.paid"


def test_a_github_webhook_is_forwarded_with_its_delivery_id(app: httpx.Client, receiver: Receiver):
    body = b'{"action":"opened"}'
    assert post(app, "repo", body, github_headers(body)).status_code == 202
    (call,) = forwarded(receiver, "repo")
    assert call.json()["eventId"] == "d-1"


@pytest.mark.parametrize(
    ("channel", "make_headers", "reason"),
    [  # headers made when the test runs, so signatures age from then, not from collection
        ("orders", dict, "webhook-id and webhook-signature headers are required"),
        ("orders", lambda: standard_headers(key=b"not the channel's key"), "no webhook-signature"),
        ("orders", lambda: standard_headers(at=time.time() - 600), "tolerance is 300 s"),
        ("billing", lambda: stripe_headers(secret="whsec_another"), "no Stripe-Signature v1="),
        ("billing", lambda: stripe_headers(at=time.time() - 600), "tolerance is 300 s"),
        ("billing", standard_headers, "needs one t="),
        ("repo", lambda: github_headers(secret="guess"), "does not match"),
        ("repo", dict, "sha256=<hex> is required"),
    ],
)
def test_a_bad_missing_or_stale_signature_is_401_and_queues_nothing(
    app: httpx.Client,
    receiver: Receiver,
    r: redis.Redis,
    channel: str,
    make_headers: Callable[[], dict[str, str]],
    reason: str,
):
    assert_problem(post(app, channel, BODY, make_headers()), 401, reason)
    assert queued(r) == []


def test_a_signed_body_changed_in_transit_is_401(app: httpx.Client, r: redis.Redis):
    body = b'{"amount":1}'
    assert_problem(post(app, "orders", b'{"amount":1000}', standard_headers(body)), 401)
    assert queued(r) == []


def test_a_repeated_delivery_is_dropped_per_channel(
    app: httpx.Client, receiver: Receiver, service: Service, r: redis.Redis
):
    body = b'{"n":1}'
    first = post(app, "orders", body, standard_headers(body)).json()
    forwarded(receiver, "orders")
    # the provider retries: same webhook-id, a fresh timestamp and signature
    again = post(app, "orders", body, standard_headers(body, at=time.time() + 1))
    assert again.status_code == 202
    assert again.json() == {"success": True, "webhookId": first["webhookId"], "duplicate": True}
    # the same id on another channel is another event
    other = post(app, "repo", body, github_headers(body) | {"x-github-delivery": "msg_1"})
    assert other.json()["duplicate"] is False
    forwarded(receiver, "repo")
    completed(service, other.json()["webhookId"])
    assert len(receiver.to("/webhooks/orders")) == 1
    assert sum(service.store.count(QUEUE, state) for state in ("completed", "active")) == 2


def test_copies_arriving_at_once_make_one_job(
    app: httpx.Client, receiver: Receiver, service: Service
):
    """Eight gateway threads take the same delivery at the same moment (this test's gateway
    runs handlers one at a time, so they call the handler directly)."""
    body = b'{"n":"burst"}'
    event = {
        "rawPath": "/webhooks/orders",
        "requestContext": {"http": {"method": "POST"}},
        "headers": standard_headers(body),
        "pathParameters": {"channel": "orders"},
        "body": body.decode(),
    }
    start = threading.Barrier(8)

    def deliver(_: int) -> dict[str, Any]:
        start.wait()
        return json.loads(receive_webhook.handler(event)["body"])  # type: ignore[no-any-return]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(deliver, range(8)))
    assert {a["webhookId"] for a in answers} == {answers[0]["webhookId"]}
    assert sorted(a["duplicate"] for a in answers) == [False] + [True] * 7
    completed(service, answers[0]["webhookId"])
    assert len(receiver.to("/webhooks/orders")) == 1


def test_the_job_store_catches_a_repeat_whose_marker_is_not_written_yet(
    app: httpx.Client, r: redis.Redis
):
    body = b'{"n":"marker"}'
    first = post(app, "orders", body, standard_headers(body)).json()
    (marker,) = [k for k in queued(r) if ":seen:" in k]
    r.delete(marker)  # as if the gateway died between creating the job and the marker
    again = post(app, "orders", body, standard_headers(body)).json()
    assert again == {"success": True, "webhookId": first["webhookId"], "duplicate": True}


def test_a_repeat_is_dropped_after_its_job_is_gone_until_the_window_ends(
    app: httpx.Client, receiver: Receiver, service: Service, r: redis.Redis
):
    body = b'{"n":2}'
    first = post(app, "orders", body, standard_headers(body)).json()
    completed(service, first["webhookId"])
    # retention runs (it takes jobs finished before now: the next millisecond, at the latest)
    wait_for(lambda: service.store.clean(QUEUE, "completed", older_than_ms=0) == 1)
    assert service.store.get(first["webhookId"]) is None
    again = post(app, "orders", body, standard_headers(body)).json()
    assert again == {"success": True, "webhookId": first["webhookId"], "duplicate": True}
    (marker,) = [k for k in queued(r) if ":seen:" in k]
    assert marker == f"{settings.redis_prefix}:{{{QUEUE}}}:seen:orders:msg_1"
    window_ms = settings.webhook_dedup_window_s * 1000
    assert window_ms - 60_000 < r.pttl(marker) <= window_ms
    assert len(receiver.to("/webhooks/orders")) == 1


def test_a_body_over_the_webhook_cap_is_413_and_queues_nothing(
    app: httpx.Client, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "webhook_max_body_bytes", 1024)
    body = b'{"pad":"' + b"x" * 1024 + b'"}'
    assert_problem(post(app, "orders", body, standard_headers(body)), 413, "1024 bytes")
    assert queued(r) == []


def test_a_channel_without_a_secret_is_refused_unless_allowed_unsigned(
    app: httpx.Client, receiver: Receiver, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
):
    form = b"update_id=1&message=hi"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    assert_problem(post(app, "telegram", form, headers), 404, "'telegram' is configured")
    assert queued(r) == []

    monkeypatch.setattr(settings, "webhook_allow_unsigned", "telegram")
    accepted = post(app, "telegram", form, headers | {"webhook-id": "u-1"})
    assert accepted.status_code == 202, accepted.text
    (call,) = forwarded(receiver, "telegram")
    assert call.json()["payload"] == "update_id=1&message=hi"
    assert call.json()["eventId"] == "u-1"
    # allowed unsigned means unsigned: a channel with a secret still needs its signature
    monkeypatch.setattr(settings, "webhook_allow_unsigned", "*")
    assert_problem(post(app, "orders", form, headers), 401)
    assert post(app, "another", b"\xff\xfe", {}).status_code == 202
    (binary,) = forwarded(receiver, "another")
    assert binary.json()["payloadEncoding"] == "base64"


def test_each_channel_is_rate_limited_counting_only_new_verified_deliveries(
    app: httpx.Client, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "webhook_rate_limit_per_channel", 2)
    monkeypatch.setattr(settings, "webhook_rate_limit_window_s", 60)
    for _ in range(3):  # forged deliveries use up nothing
        assert post(app, "repo", b"{}", github_headers(b"{}", secret="x")).status_code == 401
    for n in range(2):
        body = json.dumps({"n": n}).encode()
        headers = github_headers(body) | {"x-github-delivery": f"d-{n}"}
        assert post(app, "repo", body, headers).status_code == 202
    body = b'{"n":3}'
    refused = post(app, "repo", body, github_headers(body) | {"x-github-delivery": "d-3"})
    assert_problem(refused, 429, "webhooks:channel (2 per 60 s)")
    assert int(refused.headers["retry-after"]) > 0
    assert not [k for k in queued(r) if "d-3" in k]
    repeat = post(
        app, "repo", b'{"n":0}', github_headers(b'{"n":0}') | {"x-github-delivery": "d-0"}
    )
    assert repeat.status_code == 202 and repeat.json()["duplicate"] is True  # costs no room
    assert post(app, "orders", body, standard_headers(body)).status_code == 202  # its own count


def test_a_forward_the_app_refuses_is_retried_with_the_same_webhook_id(
    app: httpx.Client, receiver: Receiver, service: Service
):
    receiver.script["/webhooks/orders"] = [(503, {})]
    body = b'{"n":4}'
    webhook_id = post(app, "orders", body, standard_headers(body)).json()["webhookId"]
    first, second = forwarded(receiver, "orders", 2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == webhook_id
    assert completed(service, webhook_id).attempts == 2


def test_a_malformed_channel_name_or_an_unset_app_url_queues_nothing(
    app: httpx.Client, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
):
    assert_problem(post(app, "-orders", b"{}", {}), 400, "1-64 letters")
    assert_problem(post(app, "a%7Bb%7D", b"{}", {}), 400)
    monkeypatch.setattr(settings, "app_api_url", "")
    body = b'{"n":5}'
    assert_problem(post(app, "orders", body, standard_headers(body)), 503, "APP_API_URL")
    assert queued(r) == []
