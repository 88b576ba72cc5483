"""Any OpenAI-compatible chat-completions API (OpenAI, Azure-style gateways, vLLM, Ollama, …).

One pooled ``httpx.Client`` per provider, safe to share between threads. A request that fails
with 408, 429, 5xx, a timeout or a connection error is tried again, up to ``max_retries``
times: after the server's ``Retry-After`` when it sends one, else after an exponential
back-off with jitter. A ``Retry-After`` longer than ``max_wait_s`` is not waited out here: the
call fails at once with it in :class:`AIError`, for the job's own retry to honour. Other
errors (4xx, a malformed answer) fail at once and are not retryable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from shared.ai.base import AIError, Completion, ProviderName, output_text
from shared.ai.offline.text import estimate_tokens
from shared.ai.options import TaskOptions
from shared.ai.prompts import build_messages, read_output
from shared.delivery.callbacks import parse_retry_after
from shared.delivery.signing import USER_AGENT
from shared.jobs.retry import backoff_ms
from shared.settings import settings

log = logging.getLogger("qs.ai")

#: Longest wait before a retry, in seconds; a longer ``Retry-After`` ends the call instead.
MAX_RETRY_WAIT_S = 30.0
#: Wait before the first retry when the server names none, in seconds; doubles per retry,
#: ±20 % jitter.
BACKOFF_BASE_S = 0.5
#: Characters of an error response quoted in :class:`AIError`.
ERROR_BODY_CHARS = 300
#: Connections kept per provider (one per worker thread is plenty).
LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30.0)

_RETRYABLE_STATUSES = frozenset({408, 429})


def chat_completions_url(base_url: str) -> str:
    """``{base_url}/chat/completions``; a URL that already ends so is kept as it is."""
    base = base_url.strip().rstrip("/")
    return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


def _error_detail(response: httpx.Response) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the body's start."""
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text
    return " ".join(str(message).split())[:ERROR_BODY_CHARS]


def _count(usage: Any, key: str) -> int | None:
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class OpenAICompatibleProvider:
    """Runs tasks with ``POST {base_url}/chat/completions`` (see the module docstring)."""

    name: ProviderName = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "",
        model: str = "gpt-4o-mini",
        timeout_s: float = 30.0,
        max_retries: int = 3,
        max_wait_s: float = MAX_RETRY_WAIT_S,
        backoff_base_s: float = BACKOFF_BASE_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``timeout_s`` bounds each connect, read and write of a request, in seconds;
        ``max_retries`` counts tries after the first; ``sleep`` waits between tries."""
        if max_retries < 0:
            raise ValueError(f"max_retries counts retries and cannot be negative: {max_retries}")
        self.url = chat_completions_url(base_url)
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self.backoff_base_s = backoff_base_s
        self._sleep = sleep
        headers = {"user-agent": USER_AGENT}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            headers=headers, timeout=timeout_s, limits=LIMITS, follow_redirects=False
        )

    @classmethod
    def from_settings(cls) -> OpenAICompatibleProvider:
        """A provider for ``AI_API_URL``, ``AI_API_KEY``, ``AI_MODEL``, ``AI_TIMEOUT_S`` and
        ``AI_MAX_RETRIES``."""
        return cls(
            settings.ai_api_url,
            api_key=settings.ai_api_key,
            model=settings.ai_model,
            timeout_s=settings.ai_timeout_s,
            max_retries=settings.ai_max_retries,
        )

    def complete(
        self, text: str, options: TaskOptions, *, budget_s: float | None = None
    ) -> Completion:
        """The task's result; raises :class:`AIError` when the API cannot give it.

        ``budget_s``: seconds this call may take, retries included; each request's timeout is
        cut to what is left and no retry starts that could not end in time.
        """
        messages = build_messages(text, options)
        body = {"model": self.model, "messages": messages, "temperature": 0}
        deadline = None if budget_s is None else time.monotonic() + budget_s
        attempt = 0
        while True:
            attempt += 1
            try:
                content, usage = self._post(body, attempt, deadline)
            except AIError as error:
                wait = self._retry_wait(error, attempt, deadline)
                if wait is None:
                    raise
                log.warning(
                    "AI request failed (%s); retry %d of %d in %.2f s",
                    error,
                    attempt,
                    self.max_retries,
                    wait,
                )
                self._sleep(wait)
                continue
            return self._completion(content, usage, messages, text, options, attempt)

    def _post(self, body: dict[str, Any], attempt: int, deadline: float | None) -> tuple[str, Any]:
        """One request: the answer's message content and ``usage``, or :class:`AIError`."""
        timeout = self.timeout_s
        if deadline is not None:
            timeout = max(min(timeout, deadline - time.monotonic()), 0.001)
        try:
            response = self._client.post(self.url, json=body, timeout=timeout)
        except httpx.TimeoutException as exc:
            error = f"no answer from {self.url} within {timeout:g} s ({type(exc).__name__})"
            raise AIError(error, retryable=True, attempts=attempt) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            error = f"invalid AI_API_URL {self.url!r}: {exc}"
            raise AIError(error, retryable=False, attempts=attempt) from exc
        except httpx.TransportError as exc:
            error = f"connection to {self.url} failed: {exc or type(exc).__name__}"
            raise AIError(error, retryable=True, attempts=attempt) from exc
        status = response.status_code
        if not 200 <= status < 300:
            raise AIError(
                f"HTTP {status} from {self.url}: {_error_detail(response)}",
                retryable=status in _RETRYABLE_STATUSES or status >= 500,
                retry_after_s=parse_retry_after(response.headers.get("retry-after")),
                status=status,
                attempts=attempt,
            )
        try:
            answer = response.json()
            content = answer["choices"][0]["message"]["content"]
            if not isinstance(content, str):  # e.g. null with a refusal or a tool call
                raise TypeError("the answer has no text content")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            error = f"malformed answer from {self.url}: {_error_detail(response)}"
            raise AIError(error, retryable=False, status=status, attempts=attempt) from exc
        return content, answer.get("usage")

    def _retry_wait(self, error: AIError, attempt: int, deadline: float | None) -> float | None:
        """Seconds to wait before trying again after ``error``; None: give up."""
        if not error.retryable or attempt > self.max_retries:
            return None
        if error.retry_after_s is not None:
            if error.retry_after_s > self.max_wait_s:
                return None  # too long to block a worker: the job's retry waits instead
            wait = error.retry_after_s
        else:
            base_ms = round(self.backoff_base_s * 1000)
            wait = min(
                backoff_ms(attempt, kind="exponential", delay_ms=base_ms) / 1000, self.max_wait_s
            )
        if deadline is not None and time.monotonic() + wait >= deadline:
            return None
        return wait

    def _completion(
        self,
        content: str,
        usage: Any,
        messages: list[dict[str, str]],
        text: str,
        options: TaskOptions,
        attempts: int,
    ) -> Completion:
        """The result of an answer ``content``; tokens from ``usage``, else estimated."""
        output = read_output(content, text, options)
        prompt, completion = _count(usage, "prompt_tokens"), _count(usage, "completion_tokens")
        estimated = prompt is None or completion is None
        if prompt is None:
            prompt = estimate_tokens("".join(m["content"] for m in messages))
        if completion is None:
            completion = estimate_tokens(content)
        return Completion(
            task=options.task,
            output=output,
            text=output_text(options.task, output),
            prompt_tokens=prompt,
            completion_tokens=completion,
            model=self.model,
            provider=self.name,
            tokens_estimated=estimated,
            attempts=attempts,
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()
