"""AI tasks for the AI jobs and AI-response queues, over one small provider interface.

``run_task(task, text, options)`` (or ``summarize(text)``, ``classify(text)`` …) returns a
:class:`Completion`: the task's ``output`` plus token usage and cost. The provider comes from
settings: :class:`OpenAICompatibleProvider` when ``AI_API_URL`` is set, else the offline
:class:`LocalProvider`. Both give the same ``output`` shape per task:

============  =====================================================================
summarize     ``{"summary", "originalLength", "summaryLength"}`` (lengths in characters)
classify      ``{"label", "scores": {label: 0..1}, "keywords": [str]}``
sentiment     ``{"label": "positive"|"negative"|"neutral", "score": -1..1}``
translate     ``{"text", "targetLanguage", "sourceLanguage", "approximate", "unknownWords"}``
extract       ``{"emails", "phones", "urls", "dates", "amounts"}``, each a list of strings
reply         ``{"text"}``: a short reply to an inbound SMS
============  =====================================================================

A provider that gives up raises :class:`AIError`; its ``retryable`` and ``retry_after_s``
map onto ``shared.jobs.runner.JobFailed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.ai.base import TASKS, AIError, Completion, Provider, ProviderName, Task
from shared.ai.options import TaskOptions, parse_options
from shared.ai.pricing import cost_cents

if TYPE_CHECKING:
    from shared.ai.local_provider import LocalProvider
    from shared.ai.openai_provider import OpenAICompatibleProvider
    from shared.ai.provider import get_provider
    from shared.ai.tasks import (
        classify,
        extract,
        reply,
        run_task,
        sentiment,
        summarize,
        translate,
    )

#: Names imported on first use, by module: the providers and tasks (httpx, the offline models'
#: child process) are for the workers, not for the cold start of a handler that stores AI jobs.
_LAZY = {
    "LocalProvider": "shared.ai.local_provider",
    "OpenAICompatibleProvider": "shared.ai.openai_provider",
    "get_provider": "shared.ai.provider",
    **dict.fromkeys(
        ["classify", "extract", "reply", "run_task", "sentiment", "summarize", "translate"],
        "shared.ai.tasks",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TASKS",
    "AIError",
    "Completion",
    "LocalProvider",
    "OpenAICompatibleProvider",
    "Provider",
    "ProviderName",
    "Task",
    "TaskOptions",
    "classify",
    "cost_cents",
    "extract",
    "get_provider",
    "parse_options",
    "reply",
    "run_task",
    "sentiment",
    "summarize",
    "translate",
]
