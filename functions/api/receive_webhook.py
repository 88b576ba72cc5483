"""POST /webhooks/{channel}: a provider's webhook, verified by the channel's signature scheme
(no API key: providers cannot send one) -> 202 {success, webhookId, duplicate}."""

from __future__ import annotations

from typing import Any

from shared.http import Request, Response, http_handler
from shared.inbound.ingest import WebhookAccepted, accept


@http_handler(auth="none", response=WebhookAccepted)
def handler(request: Request[Any]) -> Response:
    return accept(request)
