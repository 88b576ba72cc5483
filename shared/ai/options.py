"""Each task's ``options``: camelCase in JSON (``maxSentences``), snake_case in Python.

An options object names its task (``SummarizeOptions.task == "summarize"``), so a provider
needs nothing else to know what to do. :func:`parse_options` validates an API body's
``options`` for a task and raises pydantic's ``ValidationError`` (a 422) when they are wrong;
counts are JSON integers (not ``"3"``, ``3.0`` or ``true``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from shared.ai.base import Task

#: Longest ``reply`` the caller may ask for, in characters (ten SMS segments).
MAX_REPLY_CHARS = 1600

#: A classification label: 1-64 characters, surrounding whitespace dropped.
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
#: An ISO 639 language code, optionally with a region or script: ``es``, ``pt-br``, ``zh-hant``.
LanguageCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$"
    ),
]


class TaskOptions(BaseModel):
    """Base of every task's options; unknown keys are ignored."""

    model_config = ConfigDict(
        extra="ignore", alias_generator=to_camel, populate_by_name=True, frozen=True
    )
    task: ClassVar[Task]


class SummarizeOptions(TaskOptions):
    task: ClassVar[Task] = "summarize"
    max_sentences: StrictInt = Field(3, ge=1, le=20)  #: longest summary, in sentences


class ClassifyOptions(TaskOptions):
    task: ClassVar[Task] = "classify"
    #: candidate labels; None: billing, support, sales, scheduling, spam, other
    labels: list[Label] | None = Field(None, min_length=1, max_length=50)

    @field_validator("labels")
    @classmethod
    def _unique(cls, labels: list[str] | None) -> list[str] | None:
        if labels is None:
            return None
        seen: dict[str, str] = {}
        for label in labels:
            seen.setdefault(label.casefold(), label)
        return list(seen.values())


class SentimentOptions(TaskOptions):
    task: ClassVar[Task] = "sentiment"


class TranslateOptions(TaskOptions):
    task: ClassVar[Task] = "translate"
    target_language: LanguageCode  #: ISO 639-1 code of the language wanted, e.g. ``es``
    source_language: LanguageCode | None = None  #: None: let the provider tell


class ExtractOptions(TaskOptions):
    task: ClassVar[Task] = "extract"


class ReplyOptions(TaskOptions):
    task: ClassVar[Task] = "reply"
    max_chars: StrictInt = Field(320, ge=20, le=MAX_REPLY_CHARS)  #: longest reply, in characters
    #: extra guidance for a language model (business name, tone); the local provider ignores it
    instructions: str | None = Field(None, max_length=1000)


#: The options class of each task.
OPTIONS: dict[Task, type[TaskOptions]] = {
    cls.task: cls
    for cls in (
        SummarizeOptions,
        ClassifyOptions,
        SentimentOptions,
        TranslateOptions,
        ExtractOptions,
        ReplyOptions,
    )
}


def parse_options(task: Task, options: Mapping[str, Any] | None) -> TaskOptions:
    """``task``'s options from a JSON object (None: the defaults); raises ``ValidationError``."""
    return OPTIONS[task].model_validate(dict(options or {}))
