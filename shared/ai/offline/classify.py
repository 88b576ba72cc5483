"""Keyword classification: the label whose keywords the text names most often."""

from __future__ import annotations

from typing import Any

from shared.ai.offline.text import STOPWORDS, stem, wordlist, words

#: Label given when no keyword matches.
FALLBACK_LABEL = "other"
_KEYWORD_TEXT = {
    "billing": """bill billing invoice receipt charge overcharged payment pay paid refund price fee
        subscription card credit debit cost balance renewal""",
    "support": """help support issue problem error broken bug crash login password reset fix
        working trouble outage unable account access stuck""",
    "sales": """buy purchase quote pricing demo plan upgrade discount interested offer trial
        order sales package deal license""",
    "scheduling": """appointment schedule reschedule book booking meeting calendar available
        availability slot tomorrow today monday tuesday wednesday thursday friday saturday
        sunday confirm cancel time date""",
    "spam": """winner won prize lottery congratulations claim free click bitcoin crypto casino
        viagra urgent guaranteed unsubscribe""",
    FALLBACK_LABEL: "",
}
#: Built-in labels and their keywords (compared after :func:`stem`); ``other`` has none.
DEFAULT_KEYWORDS: dict[str, tuple[str, ...]] = {
    label: tuple(wordlist(text)) for label, text in _KEYWORD_TEXT.items()
}


def _keywords(label: str) -> set[str]:
    """Stems that vote for ``label``: its built-in keywords, else the label's own words."""
    built_in = DEFAULT_KEYWORDS.get(label.casefold())
    if built_in is not None:
        return {stem(w) for w in (*built_in, label.casefold())}
    return {stem(w) for w in words(label) if w not in STOPWORDS}


def classify(text: str, labels: list[str] | None) -> dict[str, Any]:
    """``{"label", "scores": {label: 0..1}, "keywords": [...]}``.

    Each label's score is its share of all keyword hits (3 decimals); ``keywords`` lists the
    text's words that matched, first occurrence first. A built-in label name (``billing`` …)
    brings its keyword list; any other label is matched on its own words. With no hit at all
    the label is ``other``, whether or not ``labels`` names it. Ties go to the label listed
    first.
    """
    candidates = labels or list(DEFAULT_KEYWORDS)
    keywords = {label: _keywords(label) for label in candidates}
    hits = dict.fromkeys(candidates, 0)
    matched: dict[str, None] = {}
    for word in words(text):
        root = stem(word)
        for label in candidates:
            if root in keywords[label]:
                hits[label] += 1
                matched[word] = None
    total = sum(hits.values())
    scores = {label: round(n / total, 3) if total else 0.0 for label, n in hits.items()}
    best = max(candidates, key=lambda label: hits[label])
    return {
        "label": best if total else FALLBACK_LABEL,
        "scores": scores,
        "keywords": list(matched),
    }
