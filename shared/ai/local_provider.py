"""The built-in offline provider: deterministic, dependency-free text processing, not an LLM.

Used when ``AI_API_URL`` is unset. Each task is a small classic algorithm (``shared.ai.offline``):
the same input always gives the same output, in microseconds, at no cost. Token counts are
estimates (one token per 4 characters) so usage figures stay comparable with a real model's.

Tasks run in a child process (``shared.ai.isolation``), so a large text keeps the GIL of that
child, not of the worker that also sends heartbeats and other queues' callbacks; one still
running after :data:`OFFLINE_TASK_LIMIT_S` (or the call's ``budget_s``) is killed and fails
for good: the same text would take as long again.
"""

from __future__ import annotations

import json
from typing import Any

from shared.ai.base import AIError, Completion, ProviderName, output_text
from shared.ai.isolation import ChildDied, IsolatedTimeout, run_isolated
from shared.ai.offline.classify import classify
from shared.ai.offline.extract import extract
from shared.ai.offline.reply import reply
from shared.ai.offline.sentiment import sentiment
from shared.ai.offline.summarize import summarize
from shared.ai.offline.text import estimate_tokens
from shared.ai.offline.translate import translate
from shared.ai.options import (
    ClassifyOptions,
    ExtractOptions,
    ReplyOptions,
    SentimentOptions,
    SummarizeOptions,
    TaskOptions,
    TranslateOptions,
)

#: Model name reported by the local provider.
LOCAL_MODEL = "local"
#: Hard wall-clock limit of one offline task, in seconds: below the ai-jobs queue's 50 s time
#: limit, so the job fails with its own reason rather than the engine's.
OFFLINE_TASK_LIMIT_S = 30.0


class LocalProvider:
    """Runs every task offline; see ``shared.ai.offline`` for what each one does."""

    name: ProviderName = "local"
    model: str = LOCAL_MODEL

    def __init__(self, *, isolated: bool = True, limit_s: float = OFFLINE_TASK_LIMIT_S) -> None:
        self.isolated = isolated  #: run tasks in a child process (False: in this thread)
        self.limit_s = limit_s  #: hard wall-clock limit of one task, in seconds

    def complete(
        self, text: str, options: TaskOptions, *, budget_s: float | None = None
    ) -> Completion:
        """The task's result. Raises a non-retryable :class:`AIError` when the task ran past
        ``min(budget_s, limit_s)`` seconds, a retryable one when its child process died."""
        if self.isolated:
            limit_s = self.limit_s if budget_s is None else min(budget_s, self.limit_s)
            try:
                output = run_isolated(run_offline, text, options, limit_s=limit_s)
            except IsolatedTimeout as exc:
                raise AIError(f"offline {options.task} task: {exc}", retryable=False) from exc
            except ChildDied as exc:
                raise AIError(f"offline {options.task} task: {exc}", retryable=True) from exc
        else:
            output = run_offline(text, options)
        return Completion(
            task=options.task,
            output=output,
            text=output_text(options.task, output),
            prompt_tokens=estimate_tokens(text),
            completion_tokens=estimate_tokens(json.dumps(output, ensure_ascii=False)),
            model=self.model,
            provider=self.name,
            tokens_estimated=True,
        )


def run_offline(text: str, options: TaskOptions) -> dict[str, Any]:
    """The offline task that ``options`` name, run on ``text`` in this thread."""
    match options:
        case SummarizeOptions():
            return summarize(text, options.max_sentences)
        case ClassifyOptions():
            return classify(text, options.labels)
        case SentimentOptions():
            return sentiment(text)
        case TranslateOptions():
            return translate(text, options.target_language, options.source_language)
        case ExtractOptions():
            return extract(text)
        case ReplyOptions():
            return reply(text, options.max_chars)
    raise TypeError(f"no local implementation of {type(options).__name__}")
