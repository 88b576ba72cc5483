"""Job ``ai-jobs``: run one AI task (summarize, classify, sentiment, translate, extract)."""

from __future__ import annotations

from typing import Any

from shared.ai import AIError, run_task
from shared.ai.jobs import COMMON_OPTIONS
from shared.jobs.runner import JobFailed
from shared.jobs.store import Job

#: Seconds the AI call may take, retries included (within the queue's 50 s time limit).
AI_BUDGET_S = 40.0


def process(job: Job) -> dict[str, Any]:
    data = job.data
    options = {k: v for k, v in (data.get("options") or {}).items() if k not in COMMON_OPTIONS}
    try:
        completion = run_task(data["type"], data["text"], options, budget_s=AI_BUDGET_S)
    except AIError as exc:
        raise JobFailed(
            f"AI provider: {exc.message}", retryable=exc.retryable, retry_after_s=exc.retry_after_s
        ) from exc
    usage = {
        "kind": data["type"],
        "tokens": completion.total_tokens,
        "costCents": completion.cost_cents,
    }
    return {**completion.to_dict(), "usage": usage}
