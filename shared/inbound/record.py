"""What is kept of an inbound delivery: its body as a payload, its headers without secrets."""

from __future__ import annotations

import base64
import json
from typing import Any

#: Deepest nesting of a JSON payload kept as JSON (deeper: kept as text), in levels.
MAX_JSON_DEPTH = 100
#: Header names never stored (credentials), and words that mark one as a secret.
_DROPPED = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SECRET_WORDS = ("token", "secret", "password", "api-key", "apikey", "session")


def stored_headers(headers: dict[str, str]) -> dict[str, str]:
    """The request's headers without credentials (``Authorization``, cookies, any name that
    says token, secret, password, api-key or session)."""
    return {
        name: value
        for name, value in headers.items()
        if name not in _DROPPED and not any(word in name for word in _SECRET_WORDS)
    }


def payload_of(body: bytes) -> tuple[Any, str | None]:
    """(payload, encoding): the body as JSON, else as text, else base64 (``"base64"``).

    JSON nested deeper than :data:`MAX_JSON_DEPTH` stays text: the record must stay readable
    to every part of the engine (Lua's cjson stops at 1,000 levels).
    """
    if not body.strip():
        return None, None
    try:
        value = json.loads(body, parse_constant=_no_constant)
        if _depth(value) <= MAX_JSON_DEPTH:
            return value, None
    except (ValueError, RecursionError):
        pass
    try:
        return body.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), "base64"


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    """How deeply ``value``'s lists and objects nest (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest
