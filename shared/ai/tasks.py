"""One function per AI task, for job processors: each returns a :class:`Completion`.

``run_task`` serves the AI jobs queue (``{type, text, options}`` as the API stored them); the
named functions are for code that knows its task, such as the AI-response (SMS reply) queue.
All of them use :func:`get_provider` unless given a ``provider``, and raise :class:`AIError`
when the provider gives up (``retryable`` tells whether the job should be tried again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from shared.ai.base import AIError, Completion, Provider, Task
from shared.ai.options import (
    ClassifyOptions,
    ExtractOptions,
    ReplyOptions,
    SentimentOptions,
    SummarizeOptions,
    TaskOptions,
    TranslateOptions,
    parse_options,
)
from shared.ai.provider import get_provider


def run_task(
    task: Task,
    text: str,
    options: Mapping[str, Any] | TaskOptions | None = None,
    *,
    provider: Provider | None = None,
    budget_s: float | None = None,
) -> Completion:
    """Run ``task`` on ``text``; ``options`` as JSON (camelCase) or an options object.

    Invalid options raise a non-retryable :class:`AIError`. ``budget_s``: the most seconds the
    call may take, retries included (see ``Provider.complete``).
    """
    if not isinstance(options, TaskOptions):
        try:
            options = parse_options(task, options)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}"
                for e in exc.errors()
            )
            raise AIError(f"invalid {task} options: {problems}", retryable=False) from exc
    elif options.task != task:
        raise ValueError(f"{type(options).__name__} are not options of task {task!r}")
    return (provider or get_provider()).complete(text, options, budget_s=budget_s)


def summarize(text: str, *, max_sentences: int = 3, provider: Provider | None = None) -> Completion:
    """``output``: ``{"summary", "originalLength", "summaryLength"}`` (lengths in characters)."""
    return run_task(
        "summarize", text, SummarizeOptions(max_sentences=max_sentences), provider=provider
    )


def classify(
    text: str, *, labels: list[str] | None = None, provider: Provider | None = None
) -> Completion:
    """``output``: ``{"label", "scores": {label: 0..1}, "keywords": [...]}``."""
    return run_task("classify", text, ClassifyOptions(labels=labels), provider=provider)


def sentiment(text: str, *, provider: Provider | None = None) -> Completion:
    """``output``: ``{"label": "positive"|"negative"|"neutral", "score": -1..1}``."""
    return run_task("sentiment", text, SentimentOptions(), provider=provider)


def translate(
    text: str,
    *,
    target_language: str,
    source_language: str | None = None,
    provider: Provider | None = None,
) -> Completion:
    """``output``: ``{"text", "targetLanguage", "sourceLanguage", "approximate",
    "unknownWords"}``; languages as ISO 639-1 codes."""
    options = TranslateOptions(target_language=target_language, source_language=source_language)
    return run_task("translate", text, options, provider=provider)


def extract(text: str, *, provider: Provider | None = None) -> Completion:
    """``output``: ``{"emails", "phones", "urls", "dates", "amounts"}``, lists of strings."""
    return run_task("extract", text, ExtractOptions(), provider=provider)


def reply(
    text: str,
    *,
    max_chars: int = 320,
    instructions: str | None = None,
    provider: Provider | None = None,
) -> Completion:
    """``output``: ``{"text"}``, a reply of at most ``max_chars`` characters to an inbound SMS."""
    options = ReplyOptions(max_chars=max_chars, instructions=instructions)
    return run_task("reply", text, options, provider=provider)
