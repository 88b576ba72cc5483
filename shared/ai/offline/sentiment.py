"""Lexicon sentiment: weighted opinion words, intensifiers and negation, scored in [-1, 1]."""

from __future__ import annotations

import math
import re
from typing import Any

from shared.ai.offline.text import WORD, plain_apostrophes, wordlist


def _weighted(words: str, weight: float) -> dict[str, float]:
    return dict.fromkeys(wordlist(words), weight)


#: Opinion words and their weights: 1 mild, 2 strong; negative words weigh below zero.
LEXICON: dict[str, float] = {
    **_weighted(
        """good nice fine helpful happy glad pleased satisfied thanks thank thankful appreciate
        appreciated easy quick fast friendly recommend recommended like liked enjoy enjoyed
        works working worked smooth reliable polite clean comfortable fair correct resolved
        fixed solved useful better welcome kind professional efficient""",
        1.0,
    ),
    **_weighted(
        """great excellent amazing awesome fantastic wonderful love loved loving perfect
        outstanding superb brilliant delighted best incredible exceptional""",
        2.0,
    ),
    **_weighted(
        """bad slow poor wrong late broken issue issues problem problems error errors confusing
        difficult annoying annoyed disappointed disappointing unhappy expensive rude dirty delay
        delayed unfortunately complaint fail failed failing fails missing lost worse unhelpful
        overcharged cancelled canceled waiting""",
        -1.0,
    ),
    **_weighted(
        """terrible awful horrible hate hated hates worst useless disgusting furious angry
        frustrated frustrating scam pathetic unacceptable ridiculous dreadful appalling""",
        -2.0,
    ),
}
#: Words that reverse the opinion of the next few words (as do words ending in ``n't``).
NEGATORS = frozenset(
    wordlist("not no never none nobody nothing neither nor cannot without hardly barely")
)
#: Words that strengthen (above 1) or soften (below 1) the next opinion word.
MODIFIERS = {
    **_weighted("very really so extremely super too absolutely totally incredibly highly", 1.5),
    **_weighted("slightly somewhat kinda fairly", 0.5),
}
#: Words after a negator that it still reaches.
NEGATION_SCOPE = 3
#: A negated opinion counts this many times its weight: "not good" is bad, less so than "bad".
NEGATION_FACTOR = -0.5
#: Normalisation constant of ``score / sqrt(score² + ALPHA)`` (the one VADER uses).
ALPHA = 15.0
#: Scores within this distance of 0 are neutral.
NEUTRAL_BAND = 0.05

#: Words, and the punctuation that ends a clause.
_TOKEN = re.compile(rf"{WORD.pattern}|[.!?,;:]")


def sentiment(text: str) -> dict[str, Any]:
    """``{"label": "positive"|"negative"|"neutral", "score": -1..1}`` (3 decimals).

    Opinion words add their weight, scaled by a preceding intensifier; a negator (``not``,
    ``never``, ``don't`` …) reverses and halves the weights of the next three words, up to the
    end of the clause. The sum ``s`` becomes ``s / sqrt(s² + 15)``.
    """
    total = 0.0
    negated = 0  # words left in the current negation's scope
    modifier = 1.0
    for token in map(plain_apostrophes, _TOKEN.findall(text.lower())):
        if not token[0].isalnum():  # clause punctuation ends negation and modifiers
            negated, modifier = 0, 1.0
            continue
        if token in NEGATORS or token.endswith("n't"):
            negated, modifier = NEGATION_SCOPE, 1.0
            continue
        weight = LEXICON.get(token, 0.0) * modifier
        if negated:
            weight *= NEGATION_FACTOR
            negated -= 1
        total += weight
        modifier = modifier * MODIFIERS[token] if token in MODIFIERS else 1.0
    score = round(total / math.sqrt(total * total + ALPHA), 3)
    if score >= NEUTRAL_BAND:
        label = "positive"
    elif score <= -NEUTRAL_BAND:
        label = "negative"
    else:
        label = "neutral"
    return {"label": label, "score": score}
