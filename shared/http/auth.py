"""Authentication: ``Authorization: Bearer <key>`` checked in constant time, and who may see more
than one organisation.

Three kinds of caller:

- an ``API_KEYS`` entry: sees its own organisation's jobs;
- ``SERVICE_TOKEN`` (organisation ``service``): the trusted service-to-service key, sees every
  organisation's jobs and the monitoring routes;
- an operator on the monitoring routes (metrics, health status): ``SERVICE_TOKEN``,
  ``METRICS_TOKEN`` (for scrapers; it opens nothing else) or the dashboard admin's basic auth.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from shared.http import admin_jwt
from shared.http.problems import Problem
from shared.settings import ADMIN_ORG, METRICS_ORG, SERVICE_ORG, ApiKey, settings

#: Sent with every 401 of a Bearer route.
_BEARER_CHALLENGE = {"www-authenticate": 'Bearer realm="queue-services"'}


def accepted_keys() -> list[ApiKey]:
    """Every credential that opens the API: ``API_KEYS`` entries plus ``SERVICE_TOKEN``."""
    keys = settings.parsed_api_keys()
    if settings.service_token:
        keys.append(ApiKey(SERVICE_ORG, settings.service_token))
    return keys


def match_key(presented: str, keys: list[ApiKey] | None = None) -> ApiKey | None:
    """The key of ``keys`` (default: the accepted ones) equal to ``presented``; every key is
    compared, in constant time."""
    found = None
    candidate = presented.encode()
    for key in accepted_keys() if keys is None else keys:
        if hmac.compare_digest(candidate, key.secret.encode()):
            found = key
    return found


def sees_every_org(principal: ApiKey | None) -> bool:
    """Whether ``principal`` may read any organisation's jobs (only ``SERVICE_TOKEN``)."""
    return principal is not None and principal.org == SERVICE_ORG


def _bearer(headers: dict[str, str]) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "Send 'Authorization: Bearer <API key>'.", headers=_BEARER_CHALLENGE)
    return token.strip()


def authenticate(headers: dict[str, str]) -> ApiKey:
    """The caller's key, or a 401 problem when it is missing or wrong."""
    key = match_key(_bearer(headers))
    if key is None:
        raise Problem(401, "The API key is not valid.", headers=_BEARER_CHALLENGE)
    return key


def authenticate_operator(headers: dict[str, str]) -> ApiKey:
    """A caller allowed to see every organisation's figures: Bearer ``SERVICE_TOKEN``,
    ``METRICS_TOKEN`` or an admin/viewer JWT, or the dashboard admin's basic auth. 401 without
    valid credentials, 403 for an ordinary API key or a JWT without the role."""
    scheme = headers.get("authorization", "").partition(" ")[0].lower()
    if scheme == "basic":
        return authenticate_admin(headers)
    token = _bearer(headers)
    operators = [ApiKey(METRICS_ORG, settings.metrics_token)] if settings.metrics_token else []
    if settings.service_token:
        operators.append(ApiKey(SERVICE_ORG, settings.service_token))
    operator = match_key(token, operators)
    if operator is not None:
        return operator
    if match_key(token) is not None:
        raise Problem(
            403,
            "This route shows every organisation's figures: it needs SERVICE_TOKEN, "
            "METRICS_TOKEN, an admin JWT or the dashboard admin's credentials, not an API key.",
        )
    if admin_jwt.jwt_configured() and admin_jwt.looks_like_jwt(token):
        admin_jwt.authorize(token, read_only=True)  # admin or viewer: these routes only read
        return ApiKey(ADMIN_ORG, "")
    raise Problem(401, "The token is not valid.", headers=_BEARER_CHALLENGE)


_BASIC_CHALLENGE = {"www-authenticate": 'Basic realm="queue-services admin", charset="UTF-8"'}


def authenticate_admin(headers: dict[str, str], *, read_only: bool = False) -> ApiKey:
    """The dashboard admin's basic auth, or a Bearer JWT with the ``admin`` role (``viewer``
    too when ``read_only``: a GET); 401 without valid credentials, 403 for a valid JWT
    without the role."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        token = token.strip()
        is_key = match_key(token) is not None
        if not is_key and admin_jwt.jwt_configured() and admin_jwt.looks_like_jwt(token):
            admin_jwt.authorize(token, read_only=read_only)
            return ApiKey(ADMIN_ORG, "")
        raise Problem(
            401,
            "This is an admin route: send the dashboard's basic credentials or an admin JWT "
            "(JWT_SECRET / JWT_PUBLIC_KEY); an API key is not admin.",
            headers=_BASIC_CHALLENGE,
        )
    return _basic_admin(headers)


def _basic_admin(headers: dict[str, str]) -> ApiKey:
    """HTTP basic auth with ``DASHBOARD_USERNAME``/``DASHBOARD_PASSWORD``; 401 otherwise.

    With no password configured, nobody is admin (there is no default password).
    """
    challenge = _BASIC_CHALLENGE
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Problem(
            401, "Admin credentials required (HTTP basic auth or an admin JWT).", headers=challenge
        )
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Problem(401, "Malformed basic credentials.", headers=challenge) from None
    expected = settings.dashboard_password.encode()
    user_ok = hmac.compare_digest(user.encode(), settings.dashboard_username.encode())
    password_ok = hmac.compare_digest(password.encode(), expected)
    if not (expected and user_ok and password_ok):
        raise Problem(401, "The admin credentials are not valid.", headers=challenge)
    return ApiKey(ADMIN_ORG, "")
