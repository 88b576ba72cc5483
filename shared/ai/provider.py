"""The process's AI provider, chosen by settings: an OpenAI-compatible API or the local one."""

from __future__ import annotations

import os
import threading
from typing import Any

from shared.ai.base import Provider
from shared.ai.local_provider import LocalProvider
from shared.settings import settings

_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], Provider] | None = None


def _configuration() -> tuple[Any, ...]:
    """What a provider is built from; a forked child (another pid) builds its own."""
    return (
        os.getpid(),
        settings.ai_api_url.strip(),
        settings.ai_api_key,
        settings.ai_model,
        settings.ai_timeout_s,
        settings.ai_max_retries,
    )


def get_provider() -> Provider:
    """:class:`OpenAICompatibleProvider` when ``AI_API_URL`` is set, else :class:`LocalProvider`.

    Built once per process and kept (with its connection pool) while the settings stay the same.
    """
    global _cached
    key = _configuration()
    cached = _cached
    if cached is not None and cached[0] == key:
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] != key:
            # imported here: httpx is weight on the cold start of every handler that only
            # stores AI jobs; only a process that calls the API needs it
            from shared.ai.openai_provider import OpenAICompatibleProvider

            provider: Provider = (
                OpenAICompatibleProvider.from_settings() if key[1] else LocalProvider()
            )
            _cached = (key, provider)
        return _cached[1]
