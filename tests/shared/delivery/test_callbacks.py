"""The callback client against a real receiver on 127.0.0.1: outcomes, signing, back-off."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import formatdate

import anyio.to_thread
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from local.embedded_redis import free_port
from shared.delivery.callbacks import MAX_RETRY_AFTER_S, CallbackClient, Outcome, callback_client
from shared.delivery.signing import verify
from shared.settings import settings
from tests.servers import serve

WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@dataclass
class Reply:
    """One scripted answer; ``hold`` keeps the request open until the test ends."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hold: bool = False


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A Starlette app that records every request and answers with the scripted replies in order
    (then 200)."""

    def __init__(self) -> None:
        self.url = ""
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["POST"])])
        self.reset()

    def reset(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[Received] = []
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append(Received(request.url.path, dict(request.headers), body))
        reply = self.replies.pop(0) if self.replies else Reply()
        if reply.hold:
            await anyio.to_thread.run_sync(self._released.wait)
        return Response(reply.body, reply.status, reply.headers)


@pytest.fixture(scope="module")
def _server() -> Iterator[Receiver]:
    receiver = Receiver()
    with serve(receiver.app) as url:
        receiver.url = url
        try:
            yield receiver
        finally:
            receiver.release()


@pytest.fixture
def receiver(_server: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """The shared receiver with an empty script; callbacks unsigned unless a test sets a secret."""
    monkeypatch.setattr(settings, "webhook_secret", "")
    _server.reset()
    yield _server
    _server.release()


@pytest.fixture
def client() -> Iterator[CallbackClient]:
    client = CallbackClient()
    yield client
    client.close()


def post_one(client: CallbackClient, receiver: Receiver, reply: Reply) -> Outcome:
    receiver.reset(reply)
    return client.post(f"{receiver.url}/send-sms", {"to": "+15550100"}, message_id="job-1")


@pytest.mark.parametrize("status", [200, 201, 204])
def test_a_2xx_answer_is_a_success(client: CallbackClient, receiver: Receiver, status: int) -> None:
    outcome = post_one(client, receiver, Reply(status, body=b""))
    assert outcome.ok and outcome.status == status and outcome.error is None
    assert outcome.elapsed_ms > 0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_server_errors_timeouts_and_throttling_are_retryable(
    client: CallbackClient, receiver: Receiver, status: int
) -> None:
    outcome = post_one(client, receiver, Reply(status, body=b"backend is down"))
    assert not outcome.ok and outcome.retryable and outcome.status == status
    assert outcome.retry_after_s is None
    assert outcome.error == f"HTTP {status} from {receiver.url}/send-sms: backend is down"


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_client_errors_are_final(
    client: CallbackClient, receiver: Receiver, status: int
) -> None:
    outcome = post_one(client, receiver, Reply(status))
    assert not outcome.ok and not outcome.retryable and outcome.status == status


def test_error_text_quotes_at_most_200_characters_of_the_body(
    client: CallbackClient, receiver: Receiver
) -> None:
    outcome = post_one(client, receiver, Reply(500, body=b"x" * 5000))
    assert outcome.error is not None and outcome.error.endswith(": " + "x" * 200)


def test_a_redirect_is_neither_followed_nor_retried(
    client: CallbackClient, receiver: Receiver
) -> None:
    location = f"{receiver.url}/elsewhere"
    outcome = post_one(client, receiver, Reply(302, {"location": location}))
    assert not outcome.ok and not outcome.retryable and outcome.status == 302
    assert outcome.error is not None
    assert "redirects are not followed" in outcome.error and location in outcome.error
    assert [r.path for r in receiver.requests] == ["/send-sms"]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_reported(
    client: CallbackClient, receiver: Receiver, status: int
) -> None:
    outcome = post_one(client, receiver, Reply(status, {"retry-after": "7"}))
    assert outcome.retryable and outcome.retry_after_s == 7.0


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_an_http_date_is_reported_in_seconds(
    client: CallbackClient, receiver: Receiver, status: int
) -> None:
    date = formatdate(time.time() + 120, usegmt=True)
    outcome = post_one(client, receiver, Reply(status, {"retry-after": date}))
    assert outcome.retry_after_s is not None and 115 <= outcome.retry_after_s <= 121


def test_retry_after_is_clamped_between_zero_and_one_hour(
    client: CallbackClient, receiver: Receiver
) -> None:
    past = formatdate(time.time() - 600, usegmt=True)
    assert post_one(client, receiver, Reply(429, {"retry-after": past})).retry_after_s == 0.0
    far = post_one(client, receiver, Reply(503, {"retry-after": "999999"}))
    assert far.retry_after_s == MAX_RETRY_AFTER_S


def test_retry_after_on_other_statuses_or_unparseable_is_ignored(
    client: CallbackClient, receiver: Receiver
) -> None:
    assert post_one(client, receiver, Reply(500, {"retry-after": "7"})).retry_after_s is None
    assert post_one(client, receiver, Reply(429, {"retry-after": "soon"})).retry_after_s is None


def test_a_refused_connection_is_retryable(client: CallbackClient) -> None:
    outcome = client.post(f"http://127.0.0.1:{free_port()}/x", {}, message_id="job-1")
    assert not outcome.ok and outcome.retryable and outcome.status is None
    assert outcome.error is not None and outcome.error.startswith("connect error:")


def test_a_read_timeout_is_retryable_and_names_the_timeout(
    client: CallbackClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "callback_timeout_s", 0.2)
    outcome = post_one(client, receiver, Reply(hold=True))
    assert not outcome.ok and outcome.retryable and outcome.status is None
    assert outcome.error == "read timed out after 0.2 s"
    assert 150 <= outcome.elapsed_ms < 5000


def test_an_unsupported_url_scheme_is_final(client: CallbackClient) -> None:
    outcome = client.post("ftp://example.invalid/x", {}, message_id="job-1")
    assert not outcome.ok and not outcome.retryable
    assert outcome.error is not None and outcome.error.startswith("invalid callback URL")


@pytest.mark.parametrize("secret", [WHSEC, "a raw secret string"])
def test_signature_verifies_and_fails_when_anything_is_tampered(
    client: CallbackClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setattr(settings, "webhook_secret", secret)
    assert post_one(client, receiver, Reply()).ok
    (request,) = receiver.requests
    headers, body = request.headers, request.body
    assert headers["webhook-signature"].startswith("v1,")
    assert verify(secret, headers, body)
    assert not verify("whsec_" + base64.b64encode(b"other").decode(), headers, body)
    assert not verify(secret, headers, body + b" ")
    assert not verify(secret, {**headers, "webhook-id": "job-2"}, body)
    stale = str(int(headers["webhook-timestamp"]) - 1)
    assert not verify(secret, {**headers, "webhook-timestamp": stale}, body)


def test_webhook_id_is_the_message_id_on_every_attempt_and_unsigned_without_a_secret(
    client: CallbackClient, receiver: Receiver
) -> None:
    for _ in range(2):
        client.post(f"{receiver.url}/send-sms", {"n": 1}, message_id="job-42")
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "job-42"
    assert abs(int(first.headers["webhook-timestamp"]) - time.time()) < 60
    assert "webhook-signature" not in first.headers


def test_body_is_exactly_the_compact_json_of_the_payload(
    client: CallbackClient, receiver: Receiver
) -> None:
    payload = {"to": "+15550100", "text": "Zoë says hi", "tags": [1, 2], "meta": {"a": None}}
    assert client.post(f"{receiver.url}/send-sms", payload, message_id="job-1").ok
    (request,) = receiver.requests
    assert (
        request.body
        == '{"to":"+15550100","text":"Zoë says hi","tags":[1,2],"meta":{"a":null}}'.encode()
    )
    assert json.loads(request.body) == payload
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("queue-services/")


def test_the_client_survives_many_concurrent_posts_from_threads(
    client: CallbackClient, receiver: Receiver
) -> None:
    def post(n: int) -> Outcome:
        return client.post(f"{receiver.url}/send-sms", {"n": n}, message_id=f"job-{n}")

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(post, range(200)))
    assert all(outcome.ok for outcome in outcomes)
    assert sorted(json.loads(r.body)["n"] for r in receiver.requests) == list(range(200))


def test_callback_client_is_shared_and_replaced_in_a_forked_child() -> None:
    shared = callback_client()
    assert callback_client() is shared
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a client of its own, shared in turn; exits without pytest
        own = callback_client()
        os.write(write, b"ok" if own is not shared and callback_client() is own else b"no")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 2) == b"ok"
    assert callback_client() is shared, "the parent keeps its own"
