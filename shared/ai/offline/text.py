"""Text helpers of the offline provider: sentences, words, a light stemmer, token estimates."""

from __future__ import annotations

import math
import re

#: Characters per token assumed when estimating token counts (OpenAI's rule of thumb for
#: English text with its BPE tokenizers).
CHARS_PER_TOKEN = 4


def wordlist(text: str) -> list[str]:
    """The whitespace-separated words of ``text`` (for word lists kept as prose-like data)."""
    return text.split()


#: Common English words that carry no topic (ignored when scoring sentences and keywords).
STOPWORDS = frozenset(
    wordlist(
        """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves also may might must shall us let get got"""
    )
)

#: A word: letters or digits, with apostrophes inside (``don't``, also with a typographic one).
WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
#: Where a sentence ends: after . ! or ? (and closing quotes or brackets) before whitespace, at
#: a blank line, or before a list item on the next line. A run of marks is taken whole and only
#: from its first mark, so a long run not followed by whitespace costs linear time.
_SENTENCE_END = re.compile(
    r"(?<![.!?])[.!?]++[\"'\u201d\u2019)\]]*+(?=\s|$)|\n[^\S\n]*\n|\n(?=[^\S\n]*(?:[-*•]|\d+[.)])\s)"
)
#: Words after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    wordlist("mr mrs ms dr prof sr jr st vs etc e.g i.e inc ltd corp approx")
)


def plain_apostrophes(text: str) -> str:
    """``text`` with typographic apostrophes (U+2019) made plain (``'``)."""
    return text.replace("\u2019", "'")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased; apostrophes inside a word are kept (``don't``)."""
    return [plain_apostrophes(w) for w in WORD.findall(text.lower())]


def sentences(text: str) -> list[str]:
    """``text`` split into sentences, whitespace inside each collapsed.

    A full stop after a common abbreviation (``Dr.``, ``e.g.``) or a single letter does not
    end a sentence.
    """
    parts: list[str] = []
    pending = ""
    start = 0
    for end in [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]:
        piece = " ".join(text[start:end].split())
        start = end
        if not piece:
            continue
        pending = f"{pending} {piece}" if pending else piece
        last = pending.rsplit(" ", 1)[-1].lower().rstrip(".")
        if end < len(text) and pending.endswith(".") and (last in _ABBREVIATIONS or len(last) == 1):
            continue
        parts.append(pending)
        pending = ""
    return parts


def stem(word: str) -> str:
    """A light English stem, so that ``bills``, ``billed``, ``billing`` all give ``bill``.

    Strips one of ``ing``, ``ed``, ``es``, ``s`` (not ``ss``) and then a final ``e``, keeping at
    least three letters. Not a linguistic stemmer: only used to compare words with each other.
    """
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                break
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """The words of ``text`` that are not stopwords or numbers."""
    return [w for w in words(text) if w not in STOPWORDS and not w.isdigit()]


def estimate_tokens(text: str) -> int:
    """Tokens ``text`` would take, estimated as one per :data:`CHARS_PER_TOKEN` characters."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def shorten(text: str, max_chars: int) -> str:
    """``text`` cut at a word boundary to at most ``max_chars`` characters, ending in "…"."""
    if len(text) <= max_chars:
        return text
    cut = text[: max(max_chars - 1, 0)]
    if not (text[len(cut)].isspace() or cut[-1:].isspace()) and " " in cut:
        cut = cut.rsplit(" ", 1)[0]  # drop the word cut in two
    return cut.rstrip(" ,;:") + "…"
