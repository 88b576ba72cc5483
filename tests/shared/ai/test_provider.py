"""The OpenAI-compatible provider against a real fake API on 127.0.0.1: usage, retries, errors;
and how the process's provider and costs come from settings."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.embedded_redis import free_port
from shared.ai import (
    AIError,
    LocalProvider,
    OpenAICompatibleProvider,
    cost_cents,
    get_provider,
    run_task,
)
from shared.ai.options import SentimentOptions, SummarizeOptions
from shared.settings import Settings, settings
from tests.servers import serve

API_KEY = "sk-test-123"
MODEL = "test-model"
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


@dataclass
class Step:
    """One scripted answer; ``body`` None means a chat completion of the server's ``content``."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay_s: float = 0.0


class FakeOpenAI:
    """``POST /v1/chat/completions``: records each request, answers the scripted steps in
    order, then ``after`` (default: success with ``USAGE``)."""

    def __init__(self) -> None:
        self.url = ""
        self.app = Starlette(
            routes=[Route("/v1/chat/completions", self._endpoint, methods=["POST"])]
        )
        self.reset()

    def reset(self, *steps: Step, after: Step | None = None, content: str = "") -> None:
        self.steps = list(steps)
        self.after = after or Step()
        self.content = content or json.dumps({"summary": "The short version."})
        self.usage: dict[str, int] | None = USAGE
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []

    async def _endpoint(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), await request.json()))
        step = self.steps.pop(0) if self.steps else self.after
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        body = step.body
        if body is None:
            message = {"role": "assistant", "content": self.content}
            body = {"id": "c1", "model": f"{MODEL}-2025", "choices": [{"message": message}]}
            if self.usage is not None:
                body["usage"] = self.usage
        return JSONResponse(body, status_code=step.status, headers=step.headers)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    with serve(fake.app) as url:
        fake.url = url
        yield fake


@pytest.fixture
def api(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


@pytest.fixture
def waits() -> list[float]:
    """Records the provider's waits between tries instead of sleeping."""
    return []


def provider(api: FakeOpenAI, waits: list[float] | None = None, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "api_key": API_KEY,
        "model": MODEL,
        "timeout_s": 2.0,
        "max_retries": 3,
        "backoff_base_s": 0.01,
    }
    if waits is not None:
        options["sleep"] = waits.append
    return OpenAICompatibleProvider(f"{api.url}/v1", **{**options, **kwargs})


TEXT = "Quarterly revenue grew 12 percent. Costs stayed flat. The board approved the budget."


def test_a_completion_reports_usage_and_the_request_carries_key_model_and_text(api):
    result = provider(api).complete(TEXT, SummarizeOptions(max_sentences=1))

    assert result.output == {
        "summary": "The short version.",
        "originalLength": len(TEXT),
        "summaryLength": len("The short version."),
    }
    assert result.text == "The short version."
    assert (result.prompt_tokens, result.completion_tokens, result.total_tokens) == (11, 7, 18)
    assert not result.tokens_estimated
    assert (result.provider, result.model, result.attempts) == ("openai", MODEL, 1)
    [(headers, body)] = api.requests
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert body["model"] == MODEL
    system, user = body["messages"]
    assert user == {"role": "user", "content": TEXT}
    assert system["role"] == "system"
    assert "at most 1 sentence" in system["content"]
    assert "JSON" in system["content"]


def test_a_429_with_retry_after_is_waited_out_then_succeeds(api):
    api.reset(Step(429, {"retry-after": "1"}, {"error": {"message": "slow down"}}))
    started = time.monotonic()

    result = provider(api).complete(TEXT, SummarizeOptions())

    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 1.8
    assert result.attempts == 2
    assert len(api.requests) == 2
    assert result.total_tokens == 18


def test_a_retry_after_given_as_an_http_date_is_honoured(api, waits):
    api.reset(Step(503, {"retry-after": formatdate(time.time() + 2, usegmt=True)}))

    result = provider(api, waits).complete(TEXT, SummarizeOptions())

    assert result.attempts == 2
    [wait] = waits
    assert 0.5 < wait <= 2.0


def test_a_500_is_retried_after_an_exponential_backoff_with_jitter(api, waits):
    api.reset(Step(500), Step(502), Step(500))

    result = provider(api, waits, backoff_base_s=0.1).complete(TEXT, SummarizeOptions())

    assert result.attempts == 4
    assert len(waits) == 3
    for wait, base in zip(waits, (0.1, 0.2, 0.4), strict=True):
        assert base * 0.8 <= wait <= base * 1.2


def test_a_500_forever_ends_in_a_retryable_error_after_max_retries(api, waits):
    api.reset(after=Step(500, body={"error": {"message": "overloaded"}}))

    with pytest.raises(AIError) as caught:
        provider(api, waits, max_retries=2).complete(TEXT, SummarizeOptions())

    error = caught.value
    assert error.retryable
    assert (error.status, error.attempts) == (500, 3)
    assert "HTTP 500" in str(error) and "overloaded" in str(error)
    assert len(api.requests) == 3
    assert len(waits) == 2


def test_an_answer_slower_than_the_timeout_is_a_retryable_timeout_error(api):
    api.reset(Step(delay_s=1.5))
    started = time.monotonic()

    with pytest.raises(AIError) as caught:
        provider(api, timeout_s=0.3, max_retries=0).complete(TEXT, SummarizeOptions())

    assert time.monotonic() - started < 1.0
    assert caught.value.retryable
    assert caught.value.status is None
    assert "within 0.3 s" in str(caught.value)


def test_a_timeout_is_retried_like_a_5xx(api, waits):
    api.reset(Step(delay_s=1.0))

    result = provider(api, waits, timeout_s=0.3).complete(TEXT, SummarizeOptions())

    assert result.attempts == 2
    assert len(waits) == 1


def test_a_400_fails_at_once_and_is_not_retryable(api, waits):
    api.reset(Step(400, body={"error": {"message": "model `nope` does not exist"}}))

    with pytest.raises(AIError) as caught:
        provider(api, waits).complete(TEXT, SummarizeOptions())

    assert not caught.value.retryable
    assert caught.value.status == 400
    assert "does not exist" in str(caught.value)
    assert len(api.requests) == 1
    assert waits == []


def test_a_408_is_retried(api, waits):
    api.reset(Step(408))

    assert provider(api, waits).complete(TEXT, SummarizeOptions()).attempts == 2


def test_a_retry_after_beyond_the_cap_is_left_to_the_job_retry(api, waits):
    api.reset(Step(429, {"retry-after": "120"}))

    with pytest.raises(AIError) as caught:
        provider(api, waits, max_wait_s=30).complete(TEXT, SummarizeOptions())

    assert caught.value.retryable
    assert caught.value.retry_after_s == 120
    assert len(api.requests) == 1
    assert waits == []


def test_no_retry_starts_that_the_budget_cannot_cover(api, waits):
    api.reset(after=Step(500))

    with pytest.raises(AIError) as caught:
        provider(api, waits, backoff_base_s=1.0).complete(TEXT, SummarizeOptions(), budget_s=0.5)

    assert caught.value.retryable
    assert len(api.requests) == 1
    assert waits == []


def test_connection_refused_is_retried_then_a_retryable_error(waits):
    nobody = OpenAICompatibleProvider(
        f"http://127.0.0.1:{free_port()}/v1", max_retries=2, backoff_base_s=0.01,
        sleep=waits.append,
    )  # fmt: skip

    with pytest.raises(AIError) as caught:
        nobody.complete(TEXT, SummarizeOptions())

    assert caught.value.retryable
    assert (caught.value.status, caught.value.attempts) == (None, 3)
    assert "connection" in str(caught.value)
    assert len(waits) == 2


def test_a_200_that_is_not_a_chat_completion_is_not_retryable(api):
    api.reset(Step(200, body={"unexpected": True}))

    with pytest.raises(AIError) as caught:
        provider(api).complete(TEXT, SummarizeOptions())

    assert not caught.value.retryable
    assert "malformed" in str(caught.value)


def test_an_answer_in_code_fences_is_read_and_normalised(api):
    api.reset(content='```json\n{"label": "Positive", "score": 1.7}\n```')

    result = provider(api).complete("Loved it", SentimentOptions())

    assert result.output == {"label": "positive", "score": 1.0}


def test_token_counts_are_estimated_when_the_api_reports_no_usage(api):
    api.usage = None

    result = provider(api).complete(TEXT, SummarizeOptions())

    assert result.tokens_estimated
    assert result.prompt_tokens > len(TEXT) // 4
    assert result.completion_tokens == -(-len(api.content) // 4)


def test_cost_comes_from_the_configured_price_per_1k_tokens(api, monkeypatch):
    monkeypatch.setattr(settings, "ai_cost_per_1k_tokens", {MODEL: 0.06})

    result = provider(api).complete(TEXT, SummarizeOptions())

    assert result.cost_cents == pytest.approx(18 * 0.06 / 1000)
    assert result.to_dict()["costCents"] == result.cost_cents
    assert cost_cents("unlisted-model", 1000) == 0.0
    local = LocalProvider().complete(TEXT, SummarizeOptions())
    monkeypatch.setattr(settings, "ai_cost_per_1k_tokens", {"local": 5.0})
    assert local.cost_cents == 0.0


def test_prices_are_read_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("AI_COST_PER_1K_TOKENS", '{"gpt-4o-mini": 0.06, "gpt-4o": 0.5}')

    assert Settings(_env_file=None).ai_cost_per_1k_tokens == {"gpt-4o-mini": 0.06, "gpt-4o": 0.5}


def test_the_process_provider_follows_ai_api_url(api, monkeypatch):
    monkeypatch.setattr(settings, "ai_api_url", "")
    assert isinstance(get_provider(), LocalProvider)
    assert run_task("sentiment", "great service").provider == "local"

    monkeypatch.setattr(settings, "ai_api_url", f"{api.url}/v1")
    monkeypatch.setattr(settings, "ai_api_key", API_KEY)
    monkeypatch.setattr(settings, "ai_model", MODEL)
    remote = get_provider()

    assert isinstance(remote, OpenAICompatibleProvider)
    assert get_provider() is remote
    assert remote.model == MODEL
    assert run_task("summarize", TEXT, {"maxSentences": 2}).provider == "openai"
    assert api.requests[-1][0]["authorization"] == f"Bearer {API_KEY}"
