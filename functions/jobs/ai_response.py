"""Job ``ai-response``: generate a reply to an inbound message, POST it to ``callback_url``.

The reply is kept on the job when the callback fails, so a retry re-sends the same text
without asking the AI provider (and paying) again.
"""

from __future__ import annotations

from typing import Any

from shared.ai import AIError, run_task
from shared.ai.response import callback_payload
from shared.delivery.send import deliver
from shared.jobs.runner import JobFailed
from shared.jobs.store import Job

#: Seconds the AI call may take, retries included (within the queue's 50 s time limit).
AI_BUDGET_S = 30.0


def process(job: Job) -> dict[str, Any]:
    generated = (job.result or {}).get("ai")
    if generated is None:
        try:
            generated = run_task("reply", job.data["message_text"], budget_s=AI_BUDGET_S).to_dict()
        except AIError as exc:
            raise JobFailed(
                f"AI provider: {exc.message}",
                retryable=exc.retryable,
                retry_after_s=exc.retry_after_s,
            ) from exc
    text = generated["output"]["text"]
    usage = {
        "kind": "reply",
        "tokens": generated["totalTokens"],
        "costCents": generated["costCents"],
    }
    kept = {"ai": generated, "usage": usage}
    delivered = deliver(
        job, job.data["callback_url"], callback_payload(job, text), guarded=True, keep=kept
    )
    return {**kept, "callback": delivered}
