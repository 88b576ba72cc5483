"""API-key authentication: ``Authorization: Bearer <key>`` checked in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac

from shared.http.problems import Problem
from shared.settings import ApiKey, settings

#: Organisation of a caller that authenticated with ``SERVICE_TOKEN``.
SERVICE_ORG = "service"
#: Organisation of a caller that authenticated as dashboard admin.
ADMIN_ORG = "admin"


def accepted_keys() -> list[ApiKey]:
    """Every credential that opens the API: ``API_KEYS`` entries plus ``SERVICE_TOKEN``."""
    keys = settings.parsed_api_keys()
    if settings.service_token:
        keys.append(ApiKey(SERVICE_ORG, settings.service_token))
    return keys


def match_key(presented: str) -> ApiKey | None:
    """The accepted key equal to ``presented``; every key is compared, in constant time."""
    found = None
    candidate = presented.encode()
    for key in accepted_keys():
        if hmac.compare_digest(candidate, key.secret.encode()):
            found = key
    return found


def authenticate(headers: dict[str, str]) -> ApiKey:
    """The caller's key, or a 401 problem when it is missing or wrong."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    challenge = {"www-authenticate": 'Bearer realm="queue-services"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "Send 'Authorization: Bearer <API key>'.", headers=challenge)
    key = match_key(token.strip())
    if key is None:
        raise Problem(401, "The API key is not valid.", headers=challenge)
    return key


def authenticate_admin(headers: dict[str, str]) -> ApiKey:
    """HTTP basic auth with ``DASHBOARD_USERNAME``/``DASHBOARD_PASSWORD``; 401 otherwise.

    With no password configured, nobody is admin (there is no default password).
    """
    challenge = {"www-authenticate": 'Basic realm="queue-services admin", charset="UTF-8"'}
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Problem(401, "Admin credentials required (HTTP basic auth).", headers=challenge)
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
