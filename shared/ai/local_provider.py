"""The built-in offline provider: deterministic, dependency-free text processing, not an LLM.

Used when ``AI_API_URL`` is unset. Each task is a small classic algorithm (``shared.ai.offline``):
the same input always gives the same output, in microseconds, at no cost. Token counts are
estimates (one token per 4 characters) so usage figures stay comparable with a real model's.
"""

from __future__ import annotations

import json
from typing import Any

from shared.ai.base import Completion, ProviderName, output_text
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


class LocalProvider:
    """Runs every task offline; see ``shared.ai.offline`` for what each one does."""

    name: ProviderName = "local"
    model: str = LOCAL_MODEL

    def complete(
        self, text: str, options: TaskOptions, *, budget_s: float | None = None
    ) -> Completion:
        """The task's result; never fails for any text. ``budget_s`` is not needed here."""
        output = self._run(text, options)
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

    @staticmethod
    def _run(text: str, options: TaskOptions) -> dict[str, Any]:
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
