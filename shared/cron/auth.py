"""Who may call seed 002's ``/api/bullmq/initialize``: the admin, or ``SERVICE_TOKEN`` (the
seed's app calls its BullMQ server with it)."""

from __future__ import annotations

from shared.http.auth import authenticate_admin, match_key
from shared.settings import SERVICE_ORG, ApiKey, settings


def authenticate_admin_or_service(headers: dict[str, str]) -> ApiKey:
    """``Authorization: Bearer SERVICE_TOKEN``, else whatever admin credentials
    ``authenticate_admin`` accepts (401 otherwise)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and settings.service_token:
        service = match_key(token.strip(), [ApiKey(SERVICE_ORG, settings.service_token)])
        if service is not None:
            return service
    return authenticate_admin(headers)
