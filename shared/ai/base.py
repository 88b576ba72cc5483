"""What every AI provider shares: the task names, the result, the error, the interface."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from shared.ai.pricing import cost_cents

if TYPE_CHECKING:
    from shared.ai.options import TaskOptions

#: The AI jobs of ``POST /v1/jobs/{type}``, plus ``reply`` for the AI-response (SMS) queue.
Task = Literal["summarize", "classify", "sentiment", "translate", "extract", "reply"]
#: Every task, in the order above.
TASKS: tuple[Task, ...] = ("summarize", "classify", "sentiment", "translate", "extract", "reply")
#: ``openai``: any OpenAI-compatible API; ``local``: the built-in offline provider.
ProviderName = Literal["openai", "local"]

#: The key of ``output`` holding each task's main value (``extract`` has none).
_MAIN_KEY: dict[Task, str] = {
    "summarize": "summary",
    "classify": "label",
    "sentiment": "label",
    "translate": "text",
    "reply": "text",
}


def output_text(task: Task, output: dict[str, Any]) -> str:
    """``output``'s main value as plain text; for ``extract``, compact JSON of ``output``."""
    key = _MAIN_KEY.get(task)
    if key is None:
        return json.dumps(output, separators=(",", ":"), ensure_ascii=False)
    return str(output.get(key) or "")


@dataclass(frozen=True)
class Completion:
    """One task's result: a JSON-able ``output`` and what it cost in tokens.

    ``output`` has the same keys whichever provider made it (see ``shared.ai`` for the shapes);
    ``text`` is its main value as plain text (the summary, label, translation or reply; for
    ``extract``, compact JSON of ``output``).
    """

    task: Task
    output: dict[str, Any]
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    provider: ProviderName
    tokens_estimated: bool = False  #: counts are estimates (~4 characters per token), not usage
    attempts: int = 1  #: HTTP requests made, retries included (1 for the local provider)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_cents(self) -> float:
        """US cents from ``AI_COST_PER_1K_TOKENS``; always 0 for the local provider."""
        return 0.0 if self.provider == "local" else cost_cents(self.model, self.total_tokens)

    def to_dict(self) -> dict[str, Any]:
        """The job result: ``output`` plus usage, in the API's camelCase."""
        return {
            "output": self.output,
            "provider": self.provider,
            "model": self.model,
            "promptTokens": self.prompt_tokens,
            "completionTokens": self.completion_tokens,
            "totalTokens": self.total_tokens,
            "tokensEstimated": self.tokens_estimated,
            "costCents": self.cost_cents,
        }


class AIError(Exception):
    """A task the provider gave up on.

    ``retryable`` says whether trying the job again later may work (rate limit, 5xx, timeout,
    network); ``retry_after_s`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after_s: float | None = None,
        status: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.status = status  #: HTTP status of the last response, None when none arrived
        self.attempts = attempts  #: HTTP requests made before giving up


class Provider(Protocol):
    """Runs one task; the options' type names the task (see ``shared.ai.options``)."""

    name: ProviderName
    model: str

    def complete(
        self, text: str, options: TaskOptions, *, budget_s: float | None = None
    ) -> Completion:
        """The task's result; raises :class:`AIError` when it cannot be had.

        ``budget_s``: seconds this call may take at most, retries included (a retry that could
        not finish in time is not started); None: no limit beyond the provider's own.
        """
        ...
