"""What AI tokens cost, from ``AI_COST_PER_1K_TOKENS`` (model name -> US cents per 1K tokens)."""

from __future__ import annotations

from shared.settings import settings

#: Decimal places kept in a cost, in cents (a millionth of a cent).
COST_DECIMALS = 6


def cost_cents(model: str, tokens: int) -> float:
    """US cents that ``tokens`` (prompt + completion) of ``model`` cost; 0 for unlisted models.

    The model name must match a key of ``AI_COST_PER_1K_TOKENS`` exactly.
    """
    per_1k = settings.ai_cost_per_1k_tokens.get(model, 0.0)
    return round(per_1k * max(tokens, 0) / 1000, COST_DECIMALS)
