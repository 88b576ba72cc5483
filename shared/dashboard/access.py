"""Who may use the dashboard, and the checks every state-changing dashboard request passes.

- Sign-in: HTTP basic with ``DASHBOARD_USERNAME``/``DASHBOARD_PASSWORD`` (role ``admin``) or a
  ``DASHBOARD_READONLY_USERS`` entry (role ``viewer``: sees everything, changes nothing), or
  whatever else ``shared.http.auth.authenticate_admin`` accepts as admin (an admin JWT).
- CSRF: a state-changing request carries ``X-CSRF-Token``, an HMAC of the caller's name and
  the hour it was issued, keyed by a random secret kept in Redis (one for every gateway and
  Lambda instance); valid ``CSRF_TTL_S``.
- Cross-site: browsers resend basic credentials by themselves, so a state-changing request
  whose ``Sec-Fetch-Site`` is not same-origin, or whose ``Origin`` is not this host, is refused.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from shared.http import Problem, admin_jwt
from shared.http.auth import authenticate_admin, match_key
from shared.http.same_site import check_same_site
from shared.redis_client import get_redis, key
from shared.settings import parse_readonly_users, settings

Role = Literal["admin", "viewer"]

#: How long a CSRF token is accepted after it was issued, in seconds.
CSRF_TTL_S = 12 * 3600
#: How far ahead of this host's clock another gateway's token may be dated, in seconds.
CLOCK_SKEW_S = 300
_CHALLENGE = {"www-authenticate": 'Basic realm="queue-services admin", charset="UTF-8"'}


@dataclass(frozen=True)
class Viewer:
    """A signed-in dashboard user."""

    name: str
    role: Role

    @property
    def can_change(self) -> bool:
        return self.role == "admin"


def _basic(headers: dict[str, str]) -> tuple[str, str] | None:
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Problem(401, "Malformed basic credentials.", headers=_CHALLENGE) from None
    return user, password


def _readonly(user: str, password: str) -> bool:
    """Whether ``user``/``password`` is a ``DASHBOARD_READONLY_USERS`` entry (every entry is
    compared, in constant time)."""
    found = False
    for name, secret in parse_readonly_users(settings.dashboard_readonly_users):
        same_name = hmac.compare_digest(user.encode(), name.encode())
        same_secret = hmac.compare_digest(password.encode(), secret.encode())
        found |= same_name and same_secret
    return found


def sign_in(headers: dict[str, str], *, read_only: bool) -> Viewer:
    """The dashboard user behind ``headers``; 401 (with a basic challenge, so a browser asks)
    when there is none, 404 when the dashboard is disabled. ``read_only``: the request only
    reads (a viewer JWT is accepted too)."""
    if not settings.dashboard_enabled:
        raise Problem(404, "The dashboard is disabled (DASHBOARD_ENABLED=false).")
    jwt_user = _jwt_user(headers)
    if jwt_user is not None:
        return jwt_user
    basic = _basic(headers)
    if basic and _readonly(*basic):
        return Viewer(basic[0], "viewer")
    try:
        authenticate_admin(headers, read_only=read_only)
    except Problem as refused:
        if refused.status == 401:
            raise Problem(401, refused.detail, headers=_CHALLENGE) from None
        raise
    return Viewer(basic[0] if basic else "admin", "admin")


def _jwt_user(headers: dict[str, str]) -> Viewer | None:
    """The user of a Bearer admin/viewer JWT (named ``jwt:<sub>``), None without one; 401 for
    an invalid token, 403 for one with neither role."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not admin_jwt.jwt_configured():
        return None
    if not admin_jwt.looks_like_jwt(token) or match_key(token) is not None:
        return None
    claims = admin_jwt.verify(token)
    roles = admin_jwt.roles_of(claims)
    name = f"jwt:{claims.get('sub') or 'unnamed'}"
    if "admin" in roles:
        return Viewer(name, "admin")
    if "viewer" in roles:
        return Viewer(name, "viewer")
    raise Problem(403, "The JWT is valid but names neither the 'admin' nor the 'viewer' role.")


def require_admin(viewer: Viewer) -> None:
    """403 for a viewer: only the admin changes anything."""
    if not viewer.can_change:
        raise Problem(403, f"{viewer.name!r} is a read-only dashboard user: nothing was changed.")


@functools.cache
def _secret(prefix: str) -> bytes:
    """This deployment's CSRF key: random, made once and kept in Redis (per ``prefix``)."""
    client = get_redis()
    name = key("dashboard", "csrf-key")
    client.set(name, secrets.token_hex(32), nx=True)
    return str(client.get(name)).encode()


def _mac(viewer: Viewer, issued: int) -> str:
    text = f"{issued}|{viewer.role}|{viewer.name}".encode()
    return hmac.new(_secret(settings.redis_prefix), text, hashlib.sha256).hexdigest()[:40]


def csrf_token(viewer: Viewer, *, now_s: float | None = None) -> str:
    """A CSRF token for ``viewer``: ``<issued epoch s>.<mac>``."""
    issued = int(now_s if now_s is not None else time.time())
    return f"{issued}.{_mac(viewer, issued)}"


def check_csrf(headers: dict[str, str], viewer: Viewer, *, now_s: float | None = None) -> None:
    """403 unless ``X-CSRF-Token`` is a token issued to ``viewer`` within ``CSRF_TTL_S``."""
    token = headers.get("x-csrf-token", "")
    issued, _, mac = token.partition(".")
    now = now_s if now_s is not None else time.time()
    valid = (
        issued.isdigit()
        and -CLOCK_SKEW_S <= now - int(issued) <= CSRF_TTL_S
        and hmac.compare_digest(mac.encode(), _mac(viewer, int(issued)).encode())
    )
    if not valid:
        raise Problem(
            403, "Missing or invalid CSRF token (X-CSRF-Token): reload the dashboard and retry."
        )


def for_change(headers: dict[str, str], method: str) -> Viewer:
    """Sign-in plus every check of a state-changing dashboard request: same site, admin,
    CSRF token (in that order: a forged cross-site request learns nothing else)."""
    if method in ("GET", "HEAD"):
        raise Problem(405, "State-changing dashboard requests are POSTs.")
    check_same_site(headers)
    viewer = sign_in(headers, read_only=False)
    require_admin(viewer)
    check_csrf(headers, viewer)
    return viewer
