"""Hostile input on the delivery side: a backend's malformed framing, many open files, climbing
callback paths, addresses the guard must refuse in every spelling."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Iterator

import httpx
import pytest
import redis

from local.gateway import build_app
from shared.delivery.callbacks import CallbackClient
from shared.delivery.netguard import blocked_reason
from shared.delivery.paths import callback_path_error
from shared.delivery.send import join_url
from shared.jobs.runner import JobFailed
from shared.settings import settings
from tests.servers import serve
from tests.shared.delivery.test_transport import RawServer, ok

# --- A backend's malformed framing never poisons the pool ---------------------------------------

BAD_FRAMING = {
    "negative length": b"HTTP/1.1 200 OK\r\ncontent-length: -5\r\n\r\nhello",
    "signed length": b"HTTP/1.1 200 OK\r\ncontent-length: +5\r\n\r\nhello",
    "underscored length": b"HTTP/1.1 200 OK\r\ncontent-length: 1_0\r\n\r\nhello",
    "hex length": b"HTTP/1.1 200 OK\r\ncontent-length: 0x5\r\n\r\nhello",
    "conflicting lengths": (
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 5\r\n\r\nhello"
    ),
    "conflicting list": b"HTTP/1.1 200 OK\r\ncontent-length: 2, 5\r\n\r\nhello",
    "overflowing length": (
        b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999999\r\n\r\nhello"
    ),
    "negative chunk": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-5\r\nhello\r\n",
    "chunk without CRLF": (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n"
    ),
    "folded header": b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n x: y\r\n\r\nhello",
}


@pytest.fixture
def callbacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[CallbackClient]:
    """A callback client of its own (its own pool), with short timeouts."""
    monkeypatch.setattr(settings, "callback_timeout_s", 3.0)
    monkeypatch.setattr(settings, "webhook_secret", "")
    client = CallbackClient()
    yield client
    client.close()


@pytest.mark.parametrize("answer", BAD_FRAMING.values(), ids=BAD_FRAMING.keys())
def test_malformed_framing_fails_that_callback_and_the_next_goes_out_once_on_a_fresh_connection(
    callbacks: CallbackClient, answer: bytes
):
    server = RawServer([(answer, False), ok()])
    first = callbacks.post(server.url + "/send-sms", {"n": 1}, message_id="job-1")
    assert not first.ok and first.retryable and first.status is None
    assert first.error and first.error.startswith("RemoteProtocolError")
    second = callbacks.post(server.url + "/send-sms", {"n": 2}, message_id="job-2")
    assert second.ok and second.status == 200
    assert server.connections == 2, "the misframed connection must not be reused"
    assert [req.endswith(b'{"n":2}') for req in server.requests] == [False, True]
    server.close()


def test_bytes_beyond_the_declared_body_drop_the_connection(callbacks: CallbackClient):
    server = RawServer([(ok(b"ok")[0] + b"HTTP/1.1 500 Smuggled\r\n\r\n", False), ok()])
    assert callbacks.post(server.url, {"n": 1}, message_id="job-1").ok
    assert callbacks.post(server.url, {"n": 2}, message_id="job-2").status == 200
    assert server.connections == 2 and len(server.requests) == 2
    server.close()


def test_chunked_with_a_content_length_is_read_as_chunked_then_the_connection_closed(
    callbacks: CallbackClient,
):
    both = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"
    server = RawServer([(both + b"2\r\nok\r\n0\r\n\r\n", False), ok()])
    assert callbacks.post(server.url, {"n": 1}, message_id="job-1").ok
    assert callbacks.post(server.url, {"n": 2}, message_id="job-2").ok
    assert server.connections == 2 and len(server.requests) == 2
    server.close()


# --- File descriptors of 1024 and above --------------------------------------------------------


@pytest.fixture
def many_open_files() -> Iterator[None]:
    """At least 1,100 descriptors open, so every new socket gets a number above 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1200
    raised_hard = hard if hard == resource.RLIM_INFINITY or hard >= wanted else wanted
    if soft != resource.RLIM_INFINITY and soft < wanted:
        # raising the hard limit needs root (CI runs as root); otherwise this fails, loudly
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, raised_hard))
    opened = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        yield
    finally:
        for fd in opened:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_callbacks_reuse_connections_whose_descriptors_are_above_1024(
    callbacks: CallbackClient, many_open_files: None
):
    server = RawServer([ok(), ok(), ok()])
    probe = socket.socket()
    assert probe.fileno() >= 1024
    probe.close()
    for n in range(3):
        outcome = callbacks.post(server.url, {"n": n}, message_id=f"job-{n}")
        assert outcome.ok, outcome.error
    assert server.connections == 1, "the idle check must work on high descriptors"
    server.close()


# --- Callback paths that climb in any spelling --------------------------------------------------

CLIMBING_PATHS = [
    "/a/../admin",
    "/%2e%2e/admin",
    "/%2E%2E/admin",
    "/.%2e/admin",
    "/a/..;/admin",
    "/a/..;jsessionid=1/admin",
    "/a/.;x/b",
    "/a/./admin",
    "/a%2F..%2Fadmin",
    "/a%2fb",
    "/a%5C..%5Cadmin",
    "/a\\..\\admin",
    "/%252e%252e/admin",
    "/%25252e%25252e/admin",
    "/%252F..%252Fadmin",
    "/%EF%BC%8E%EF%BC%8E/admin",
    "/..%00/admin",
    "/a/..",
    "/%" + "25" * 6 + "2e",  # seven layers of percent-encoding
]


@pytest.mark.parametrize("path", CLIMBING_PATHS)
def test_callback_paths_that_climb_once_decoded_are_refused(path: str):
    assert callback_path_error(path) is not None
    with pytest.raises(JobFailed) as failed:
        join_url("https://backend.example", path)
    assert failed.value.retryable is False


@pytest.mark.parametrize(
    "path", ["/send-sms", "/api/v1.2/send", "/a...b/c", "/hooks/mail?next=../x", "/%7Euser/x"]
)
def test_plain_callback_paths_are_accepted_as_written(path: str):
    assert callback_path_error(path) is None
    assert join_url("https://backend.example/", path) == "https://backend.example" + path


@pytest.fixture
def gateway(redis_prefix: str, api_key: str) -> Iterator[httpx.Client]:
    with serve(build_app()) as url:
        headers = {"authorization": f"Bearer {api_key}"}
        with httpx.Client(base_url=url, headers=headers) as client:
            yield client


def test_the_api_refuses_each_climbing_spelling_with_422_and_writes_nothing(
    gateway: httpx.Client, r: redis.Redis, redis_prefix: str
):
    body = {"phoneNumber": "+1234567890", "message": "m", "contactId": "1", "workspaceId": "2"}
    for path in CLIMBING_PATHS:
        response = gateway.post(
            "/api/schedule-sms", json=body | {"metadata": {"callbackEndpoint": path}}
        )
        assert response.status_code == 422, path
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == ["metadata.callbackEndpoint"]
    assert not [k for k in r.scan_iter(match=f"{redis_prefix}:*") if b":job:" in k]


# --- Addresses the guard refuses in every spelling ----------------------------------------------


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("fec0::1", "site-local"),
        ("feff:ffff::1", "site-local"),
        ("fec0::a9fe:a9fe", "site-local"),
        ("3fff::1", "reserved"),
        ("::ffff:10.0.0.1", "private address (IPv4-mapped form of 10.0.0.1)"),
        ("::ffff:192.168.1.1", "private address (IPv4-mapped"),
        ("::ffff:127.0.0.1", "loopback address (IPv4-mapped"),
        ("::ffff:100.64.0.1", "CGNAT"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::10.0.0.1", "private address (NAT64 form of 10.0.0.1)"),
        ("64:ff9b::127.0.0.1", "loopback address (NAT64"),
        ("64:ff9b::169.254.169.254", "cloud metadata"),
        ("64:ff9b:1::a00:1", "reserved"),
        ("2002:a00:1::1", "private address (6to4 form of 10.0.0.1)"),
        ("2002:c0a8:101::", "private address (6to4 form of 192.168.1.1)"),
        ("2002:7f00:1::", "loopback address (6to4"),
        ("2002:a9fe:a9fe::", "cloud metadata"),
        ("::ffff:0:10.0.0.1", "reserved"),
        ("::10.0.0.1", "reserved"),
    ],
)
def test_non_public_addresses_are_refused_in_every_ipv6_spelling(ip: str, kind: str):
    assert kind in (blocked_reason(ip) or "")


@pytest.mark.parametrize("ip", ["2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:808:808::"])
def test_public_addresses_in_those_spellings_stay_allowed(ip: str):
    assert blocked_reason(ip) is None
