"""Callback URL safety: which hosts a submitted callback may name, which addresses it may reach.

Two checks, both reading ``settings``:

- at submission, :func:`check_callback_url` raises :class:`UnsafeUrl` unless the URL's host is
  in ``CALLBACK_ALLOWED_HOSTS`` (by default the hosts of ``SMS_API_URL``, ``EMAIL_API_URL`` and
  ``APP_API_URL``) and, in production, the scheme is ``https``;
- at connect time, :func:`resolve_checked` resolves a host once and raises
  :class:`BlockedAddress` if any address is loopback, private, link-local, CGNAT, multicast,
  unspecified, deprecated site-local (``fec0::/10``) or otherwise not global (IPv4-mapped,
  NAT64 and 6to4 forms are unwrapped first).
  The guarded transport connects to exactly the addresses returned, so a second DNS answer
  can't slip in between the check and the connect. ``APP_ENV=dev`` allows every address;
  ``CALLBACK_ALLOWED_NETWORKS`` allows listed networks everywhere.
"""

from __future__ import annotations

import functools
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

import httpx

from shared.settings import settings

IPAddress = IPv4Address | IPv6Address
#: (address family, socket address) pairs to connect to, in resolver order.
Addresses = list[tuple[int, tuple[Any, ...]]]

#: Cloud instance-metadata endpoints (AWS IPv4 and IPv6, Alibaba), named as such in reasons.
METADATA_ADDRESSES = frozenset(
    ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
#: Networks reported as "private": RFC 1918 and IPv6 unique-local addresses.
PRIVATE_NETWORKS = tuple(
    ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
#: Carrier-grade NAT shared space (RFC 6598).
CGNAT_NETWORK = ip_network("100.64.0.0/10")
#: Deprecated IPv6 site-local space (RFC 3879), which ``ipaddress`` counts as global.
SITE_LOCAL_NETWORK = ip_network("fec0::/10")
#: IPv6 documentation space added by RFC 9637, unknown to Python 3.11's ``ipaddress``.
DOCUMENTATION_V6_NETWORK = ip_network("3fff::/20")
#: NAT64 well-known prefix (RFC 6052): the last 32 bits are an IPv4 address.
NAT64_NETWORK = ip_network("64:ff9b::/96")


class UnsafeUrl(ValueError):
    """A submitted callback URL that may not be used; the message says why."""


class BlockedAddress(httpx.ConnectError):
    """A callback refused before connecting, because of the address its host resolved to."""


def _embedded_ipv4(address: IPv6Address) -> tuple[IPv4Address, str] | None:
    """The IPv4 address an IPv6 address stands for, and the name of that form."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address in NAT64_NETWORK:
        return IPv4Address(int(address) & 0xFFFF_FFFF), "NAT64"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    return None


def _kind(address: IPAddress) -> str | None:
    """What makes ``address`` unfit for a callback ("a loopback address"), or None."""
    if isinstance(address, IPv6Address) and (embedded := _embedded_ipv4(address)):
        inner, form = embedded
        kind = _kind(inner)
        return f"{kind} ({form} form of {inner})" if kind else None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (any(address in net for net in PRIVATE_NETWORKS), "a private address"),
        (address in CGNAT_NETWORK, "a shared (CGNAT) address"),
        (address in SITE_LOCAL_NETWORK, "a site-local address"),
        (address in DOCUMENTATION_V6_NETWORK, "a reserved (non-global) address"),
        (address == IPv4Address("255.255.255.255"), "a broadcast address"),
        (address.is_reserved or not address.is_global, "a reserved (non-global) address"),
    )
    return next((kind for matched, kind in checks if matched), None)


def blocked_reason(ip: str | IPAddress) -> str | None:
    """Why no callback may go to ``ip`` ("127.0.0.1 is a loopback address"), or None.

    Classification only: :func:`refusal_reason` applies ``APP_ENV`` and the allowed networks.
    """
    address = ip_address(ip) if isinstance(ip, str) else ip
    kind = _kind(address)
    return f"{address} is {kind}" if kind else None


@functools.lru_cache(maxsize=8)
def _networks(spec: str) -> tuple[IPv4Network | IPv6Network, ...]:
    try:
        return tuple(
            ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()
        )
    except ValueError as exc:
        raise ValueError(f"CALLBACK_ALLOWED_NETWORKS: {exc}") from exc


def _allowed_network(address: IPAddress) -> bool:
    candidates: list[IPAddress] = [address]
    if isinstance(address, IPv6Address) and (embedded := _embedded_ipv4(address)):
        candidates.append(embedded[0])
    networks = _networks(settings.callback_allowed_networks)
    return any(a in net for a in candidates for net in networks)


def refusal_reason(ip: str | IPAddress) -> str | None:
    """:func:`blocked_reason` under the settings: None in dev or inside an allowed network."""
    address = ip_address(ip) if isinstance(ip, str) else ip
    if settings.app_env == "dev" or _allowed_network(address):
        return None
    return blocked_reason(address)


def resolve_checked(host: str, port: int) -> Addresses:
    """Resolve ``host`` once; the TCP addresses to connect to, all of them checked.

    Raises :class:`BlockedAddress` ("blocked: 127.0.0.1 is a loopback address") when any
    address is refused, and ``OSError`` when the name does not resolve.
    """
    found: Addresses = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    ):
        if (family, sockaddr) in found:
            continue
        reason = refusal_reason(str(sockaddr[0]))
        if reason:
            raise BlockedAddress(f"blocked: {reason}")
        found.append((family, sockaddr))
    return found


def _host_key(host: str) -> str:
    """A host as compared with the allowed list: lower case, no brackets or final dot."""
    host = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        return str(ip_address(host))
    except ValueError:
        return host


def allowed_hosts() -> frozenset[str]:
    """``CALLBACK_ALLOWED_HOSTS``, or the hosts of the configured backend URLs when empty."""
    spec = settings.callback_allowed_hosts
    if spec.strip():
        hosts = spec.split(",")
    else:
        urls = (settings.sms_api_url, settings.email_api_url, settings.app_api_url)
        hosts = [httpx.URL(url).host for url in urls if url]
    return frozenset(key for key in map(_host_key, hosts) if key)


def check_callback_url(url: str) -> None:
    """Raise :class:`UnsafeUrl` with the reason unless ``url`` may receive callbacks.

    The URL is parsed as the callback client will parse it. A literal IP host must also pass
    the connect-time address check; a host name is checked when the callback connects.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnsafeUrl("must be an absolute http or https URL")
    if settings.app_env == "production" and parsed.scheme != "https":
        raise UnsafeUrl("must use https")
    host = _host_key(parsed.host)
    if host not in allowed_hosts():
        raise UnsafeUrl(f"host {parsed.host!r} is not in CALLBACK_ALLOWED_HOSTS")
    try:
        literal = ip_address(host)
    except ValueError:  # a name: checked on the addresses it resolves to when connecting
        return
    if reason := refusal_reason(literal):
        raise UnsafeUrl(f"blocked: {reason}")
