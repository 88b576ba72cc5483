"""API-key authentication: ``Authorization: Bearer <key>`` checked in constant time."""

from __future__ import annotations

import hmac

from shared.http.problems import Problem
from shared.settings import ApiKey, settings

#: Organisation of a caller that authenticated with ``SERVICE_TOKEN``.
SERVICE_ORG = "service"


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
