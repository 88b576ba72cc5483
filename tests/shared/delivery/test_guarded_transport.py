"""The guarded callback client against a real server on 127.0.0.1: what it refuses, and when."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.embedded_redis import free_port
from shared.delivery.callbacks import CallbackClient, Outcome
from shared.delivery.transport import KeepAliveTransport
from shared.settings import settings
from tests.servers import Receiver, self_signed_certificate, serve

_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "app_env", "production")
    monkeypatch.setattr(settings, "callback_allowed_networks", "")
    monkeypatch.setattr(settings, "webhook_secret", "")


@pytest.fixture
def guarded() -> Iterator[CallbackClient]:
    client = CallbackClient(guarded=True)
    yield client
    client.close()


@pytest.fixture
def ipv6_listener() -> Iterator[socket.socket | None]:
    """A socket listening on [::1] (None where IPv6 loopback is unavailable); never accepts."""
    try:
        sock = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        yield None
        return
    sock.setblocking(False)
    with sock:
        yield sock


def fake_dns(answers: Callable[[str], list[str] | None]) -> Callable[..., Any]:
    """``socket.getaddrinfo`` answering ``answers(host)`` when not None, else the real one."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        ips = answers(host)
        if ips is None:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port)) for ip in ips
        ]

    return getaddrinfo


def timed_post(client: CallbackClient, url: str) -> tuple[Outcome, float]:
    started = time.monotonic()
    outcome = client.post(url, {"to": "+15550100"}, message_id="job-1")
    return outcome, time.monotonic() - started


LOOPBACK_SPELLINGS = [
    "http://127.0.0.1:{port}/hook",
    "http://2130706433:{port}/hook",
    "http://0x7f.1:{port}/hook",
    "http://localhost:{port}/hook",
]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        *((url, "127.0.0.1 is a loopback address") for url in LOOPBACK_SPELLINGS),
        ("http://[::1]:{port6}/hook", "::1 is a loopback address"),
        ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ],
)
def test_non_public_addresses_are_refused_at_once_without_connecting(
    production: None,
    guarded: CallbackClient,
    receiver: Receiver,
    ipv6_listener: socket.socket | None,
    url: str,
    reason: str,
) -> None:
    port6 = ipv6_listener.getsockname()[1] if ipv6_listener else free_port()
    target = url.format(port=receiver.url.rsplit(":", 1)[1], port6=port6)
    outcome, elapsed_s = timed_post(guarded, target)
    assert outcome.error is not None and outcome.error.startswith("blocked: ")
    assert reason in outcome.error
    assert not outcome.ok and not outcome.retryable and outcome.status is None
    assert elapsed_s < 1.0  # a connect to 10.0.0.1 would hang until the 5 s connect timeout
    assert receiver.calls == []
    if ipv6_listener is not None:
        with pytest.raises(BlockingIOError):
            ipv6_listener.accept()  # no connection is waiting


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS)
def test_in_dev_the_same_server_is_reached_under_every_spelling(
    monkeypatch: pytest.MonkeyPatch, guarded: CallbackClient, receiver: Receiver, url: str
) -> None:
    monkeypatch.setattr(settings, "app_env", "dev")
    outcome, _ = timed_post(guarded, url.format(port=receiver.url.rsplit(":", 1)[1]))
    assert outcome.ok, outcome.error
    assert [call.path for call in receiver.calls] == ["/hook"]


def test_an_allowed_network_is_reached_but_its_redirect_is_not_followed(
    production: None,
    monkeypatch: pytest.MonkeyPatch,
    guarded: CallbackClient,
    receiver: Receiver,
) -> None:
    monkeypatch.setattr(settings, "callback_allowed_networks", "127.0.0.1/32")
    assert timed_post(guarded, f"{receiver.url}/hook")[0].ok
    receiver.script["/moved"] = [(302, {"location": "http://10.0.0.1/"})]
    outcome, elapsed_s = timed_post(guarded, f"{receiver.url}/moved")
    assert not outcome.ok and not outcome.retryable and outcome.status == 302
    assert outcome.error is not None and "redirects are not followed" in outcome.error
    assert elapsed_s < 1.0
    assert [call.path for call in receiver.calls] == ["/hook", "/moved"]


def test_the_check_applies_to_the_address_the_name_resolves_to(
    production: None,
    monkeypatch: pytest.MonkeyPatch,
    guarded: CallbackClient,
    receiver: Receiver,
) -> None:
    monkeypatch.setattr(
        socket, "getaddrinfo", fake_dns(lambda h: ["127.0.0.1"] if h == "public.example" else None)
    )
    port = receiver.url.rsplit(":", 1)[1]
    outcome, _ = timed_post(guarded, f"http://public.example:{port}/hook")
    assert outcome.error == "blocked: 127.0.0.1 is a loopback address"
    assert not outcome.retryable and receiver.calls == []


def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept(
    production: None, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    """DNS rebinding: the name answers 127.0.0.1 (allowed) once, then 10.0.0.1; a connect that
    resolved again would go to 10.0.0.1 and time out."""
    answers = iter([["127.0.0.1"]])
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        fake_dns(lambda h: next(answers, ["10.0.0.1"]) if h == "public.example" else None),
    )
    monkeypatch.setattr(settings, "callback_allowed_networks", "127.0.0.1/32")
    monkeypatch.setattr(settings, "callback_connect_timeout_s", 0.5)
    port = receiver.url.rsplit(":", 1)[1]
    client = CallbackClient(guarded=True)
    try:
        outcome, _ = timed_post(client, f"http://public.example:{port}/hook")
        assert outcome.ok, outcome.error
        assert receiver.calls[0].headers["host"] == f"public.example:{port}"
    finally:
        client.close()
    fresh = CallbackClient(guarded=True)  # a new connection resolves anew, and is checked anew
    try:
        outcome, _ = timed_post(fresh, f"http://public.example:{port}/hook")
        assert outcome.error == "blocked: 10.0.0.1 is a private address"
    finally:
        fresh.close()


@contextmanager
def tls_server(tmp_path: Path, hostname: str) -> Iterator[tuple[int, Path]]:
    """A uvicorn TLS server on 127.0.0.1 with a self-signed certificate for ``hostname``."""
    key, cert = self_signed_certificate(tmp_path, hostname)
    with serve(Receiver().app(), tls=(key, cert)) as url:
        yield int(url.rsplit(":", 1)[1]), cert


def test_tls_verifies_the_host_name_while_connecting_to_the_checked_address(
    production: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(
        socket, "getaddrinfo", fake_dns(lambda h: ["127.0.0.1"] if h == "public.example" else None)
    )
    monkeypatch.setattr(settings, "callback_allowed_networks", "127.0.0.1/32")
    with tls_server(tmp_path, "public.example") as (port, cert):
        trusted = ssl.create_default_context(cafile=str(cert))
        transport = KeepAliveTransport(ssl_context=trusted, guard=True)
        with httpx.Client(transport=transport) as client:
            response = client.post(f"https://public.example:{port}/hook", content=b"{}")
            assert response.json() == {"received": True}
            with pytest.raises(httpx.ConnectError, match="certificate"):
                client.post(f"https://127.0.0.1:{port}/hook", content=b"{}")  # not its name
