"""Callback URL safety without a network: address classes and the submission check."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from shared.delivery import netguard
from shared.delivery.netguard import (
    BlockedAddress,
    UnsafeUrl,
    allowed_hosts,
    blocked_reason,
    check_callback_url,
    refusal_reason,
    resolve_checked,
)
from shared.settings import settings


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production, with backends on public hosts and no extra allowed hosts or networks."""
    monkeypatch.setattr(settings, "app_env", "production")
    monkeypatch.setattr(settings, "sms_api_url", "https://sms.example.com")
    monkeypatch.setattr(settings, "email_api_url", "https://mail.example.com:8443/v1")
    monkeypatch.setattr(settings, "app_api_url", "")
    monkeypatch.setattr(settings, "callback_allowed_hosts", "")
    monkeypatch.setattr(settings, "callback_allowed_networks", "")


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("127.255.0.9", "loopback"),
        ("::1", "::1 is a loopback address"),
        ("10.0.0.1", "10.0.0.1 is a private address"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "169.254.169.254 is a cloud metadata address"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%1", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("0.1.2.3", "reserved"),
        ("192.0.2.10", "reserved"),
        ("::ffff:127.0.0.1", "loopback address (IPv4-mapped form of 127.0.0.1)"),
        ("::ffff:10.1.1.1", "private address (IPv4-mapped form of 10.1.1.1)"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::7f00:1", "loopback address (NAT64 form of 127.0.0.1)"),
        ("2002:a00:1::", "private address (6to4 form of 10.0.0.1)"),
        ("::127.0.0.1", "reserved"),
        ("fec0::1", "fec0::1 is a site-local address"),
        ("3fff::1", "reserved"),
    ],
)
def test_non_public_addresses_are_blocked_with_their_class_named(ip: str, reason: str) -> None:
    assert reason in (blocked_reason(ip) or "")


@pytest.mark.parametrize(
    "ip", ["8.8.8.8", "93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_and_their_ipv6_forms_are_not_blocked(ip: str) -> None:
    assert blocked_reason(ip) is None


def test_dev_allows_every_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "app_env", "dev")
    assert refusal_reason("127.0.0.1") is None
    assert refusal_reason("169.254.169.254") is None


def test_allowed_networks_open_listed_private_ranges_only(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "callback_allowed_networks", " 10.20.0.0/16, fd00:1::/32 ")
    assert refusal_reason("10.20.3.4") is None
    assert refusal_reason("::ffff:10.20.3.4") is None
    assert refusal_reason("fd00:1::5") is None
    assert refusal_reason("10.21.0.1") == "10.21.0.1 is a private address"
    assert refusal_reason("127.0.0.1") == "127.0.0.1 is a loopback address"


def test_a_malformed_allowed_network_names_the_setting(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "callback_allowed_networks", "10.0.0.0/33")
    with pytest.raises(ValueError, match="CALLBACK_ALLOWED_NETWORKS"):
        refusal_reason("10.0.0.1")


def test_resolve_checked_refuses_when_any_address_is_blocked(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"public.example": ["93.184.215.14", "10.0.0.7"], "good.example": ["93.184.215.14"]}

    def fake_getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))
            for ip in answers[host]
        ]

    monkeypatch.setattr(netguard.socket, "getaddrinfo", fake_getaddrinfo)
    assert resolve_checked("good.example", 443) == [(socket.AF_INET, ("93.184.215.14", 443))]
    with pytest.raises(BlockedAddress, match=r"^blocked: 10\.0\.0\.7 is a private address$"):
        resolve_checked("public.example", 443)


@pytest.mark.parametrize(
    "url",
    [
        "https://sms.example.com/hook",
        "https://SMS.Example.com./hook?x=1",
        "https://mail.example.com/other/path",
        "https://mail.example.com:9999/",
    ],
)
def test_urls_on_the_backend_hosts_are_accepted(production: None, url: str) -> None:
    check_callback_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://sms.example.com/hook", "must use https"),
        ("https://evil.example/hook", "host 'evil.example' is not in CALLBACK_ALLOWED_HOSTS"),
        ("https://sms.example.com@evil.example/", "'evil.example' is not in"),
        ("https://sms.example.com.evil.example/", "is not in CALLBACK_ALLOWED_HOSTS"),
        ("https://2130706433/", "'2130706433' is not in"),
        ("https://[::1]/", "'::1' is not in"),
        ("ftp://sms.example.com/", "absolute http or https URL"),
        ("/relative/path", "absolute http or https URL"),
        ("https:///no-host", "absolute http or https URL"),
        ("https://[::1/", "not a valid URL"),
    ],
)
def test_other_urls_are_refused_with_the_reason(production: None, url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        check_callback_url(url)
    assert reason in str(refused.value)
    assert isinstance(refused.value, ValueError)  # pydantic turns it into a 422


def test_plain_http_is_fine_in_dev(production: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "app_env", "dev")
    check_callback_url("http://sms.example.com/hook")
    with pytest.raises(UnsafeUrl, match="not in CALLBACK_ALLOWED_HOSTS"):
        check_callback_url("http://evil.example/hook")


def test_allowed_hosts_replace_the_backend_hosts(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "callback_allowed_hosts", "Hooks.Example.org, [fd00::1],")
    assert allowed_hosts() == {"hooks.example.org", "fd00::1"}
    check_callback_url("https://hooks.example.org/in")
    with pytest.raises(UnsafeUrl, match="not in CALLBACK_ALLOWED_HOSTS"):
        check_callback_url("https://sms.example.com/hook")


def test_default_allowed_hosts_skip_unset_urls(production: None) -> None:
    assert allowed_hosts() == {"sms.example.com", "mail.example.com"}


def test_an_allowed_ip_literal_must_also_pass_the_address_check(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "callback_allowed_hosts", "10.1.2.3")
    with pytest.raises(UnsafeUrl, match=r"blocked: 10\.1\.2\.3 is a private address"):
        check_callback_url("https://10.1.2.3/hook")
    monkeypatch.setattr(settings, "callback_allowed_networks", "10.1.0.0/16")
    check_callback_url("https://10.1.2.3/hook")
    monkeypatch.setattr(settings, "callback_allowed_networks", "")
    monkeypatch.setattr(settings, "app_env", "dev")
    check_callback_url("http://10.1.2.3/hook")
