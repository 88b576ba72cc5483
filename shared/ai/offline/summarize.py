"""Extractive summary: the sentences richest in the text's most frequent words, in text order."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from shared.ai.offline.text import content_words, sentences


def summarize(text: str, max_sentences: int) -> dict[str, Any]:
    """``{"summary", "originalLength", "summaryLength"}``; lengths in characters.

    Each content word (not a stopword) weighs its frequency in the whole text relative to the
    most frequent one; a sentence scores the sum of its words' weights divided by the square
    root of its word count, so neither very short nor very long sentences win by length alone.
    The best ``max_sentences`` are kept in their original order (ties: the earlier one).
    """
    parts = sentences(text)
    if len(parts) > max_sentences:
        frequency = Counter(content_words(text))
        top = max(frequency.values(), default=1)

        def score(sentence: str) -> float:
            found = content_words(sentence)
            return sum(frequency[w] / top for w in found) / math.sqrt(len(found) or 1)

        ranked = sorted(range(len(parts)), key=lambda i: (-score(parts[i]), i))
        parts = [parts[i] for i in sorted(ranked[:max_sentences])]
    summary = " ".join(parts)
    return {"summary": summary, "originalLength": len(text), "summaryLength": len(summary)}
