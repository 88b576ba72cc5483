"""Regex extraction of emails, URLs, dates, money amounts and phone numbers.

Every pattern runs in linear time on any input (``tests/abuse/test_cpu_bound_jobs.py``): a
failed attempt never rescans a long run of characters from each of its positions. An e-mail
is tried only from the start of a run of local-part characters (leading ``.%+-`` are dropped
from the value), taken possessively; an amount without a currency sign starts only where a
number starts.
"""

from __future__ import annotations

import re
from typing import Any

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_AMOUNT = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_CURRENCY_CODE = r"(?:usd|eur|gbp|cad|aud|chf|jpy|inr|mxn|brl)"

#: Each kind, in the order matched; what one kind matched is hidden from the kinds after it,
#: so the digits of a date or a URL never come back as a phone number.
PATTERNS: dict[str, re.Pattern[str]] = {
    "urls": re.compile(r"\b(?:https?://|www\.)[^\s<>\"'`]+", re.I),
    "emails": re.compile(
        r"(?<![\w.%+-])[.%+-]*+\w[\w.%+-]*+@(?:[a-z0-9-]++\.)+[a-z]{2,63}\b", re.I
    ),
    "dates": re.compile(
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?"
        r"|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"
        rf"|\b{_MONTH}\.? {_DAY}(?:,? \d{{4}})?\b"
        rf"|\b{_DAY} (?:of )?{_MONTH}\.?(?:,? \d{{4}})?\b"
        r"|\b(?:today|tonight|tomorrow|yesterday"
        r"|(?:next |this )?(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b",
        re.I,
    ),
    "amounts": re.compile(
        rf"(?:[$€£¥₹]|\b{_CURRENCY_CODE} ?)(?:{_AMOUNT})"
        rf"|\b(?<!\d[,.])(?:{_AMOUNT}) ?(?:{_CURRENCY_CODE}|dollars?|euros?|pounds?|cents?)\b",
        re.I,
    ),
    "phones": re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{5,}\d\b"),
}
#: Digits a phone number has at least and at most (E.164 allows 15).
PHONE_DIGITS = (7, 15)
_TRAILING = ".,;:!?)]}'\""
_LOCAL_PUNCTUATION = ".%+-"


def _phone(candidate: str) -> str | None:
    """``candidate`` when it has a phone number's count of digits, else None."""
    digits = sum(ch.isdigit() for ch in candidate)
    return candidate if PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1] else None


def extract(text: str) -> dict[str, Any]:
    """``{"emails", "phones", "urls", "dates", "amounts"}``: lists of strings as written.

    Each list keeps first occurrences, in text order, without repeats. URLs lose trailing
    punctuation; phone numbers have 7 to 15 digits, with ``+``, spaces, dots, dashes and
    brackets allowed between them. Dates are ISO (``2026-12-01``, with a time), numeric
    (``12/01/2026``), with a month name (``Dec 1``, ``1st of December 2026``), or relative day
    words (``tomorrow``, ``next Monday``); amounts carry a currency sign, code or word.
    """
    found: dict[str, list[str]] = {}
    remaining = text
    for kind, pattern in PATTERNS.items():
        values: dict[str, None] = {}
        for match in pattern.finditer(remaining):
            value: str | None = match.group()
            if kind == "urls":
                value = match.group().rstrip(_TRAILING)
            elif kind == "emails":
                value = match.group().lstrip(_LOCAL_PUNCTUATION)
            elif kind == "phones":
                value = _phone(match.group())
            if value:
                values[value] = None
        found[kind] = list(values)
        remaining = pattern.sub(lambda m: " " * len(m.group()), remaining)
    return {kind: found[kind] for kind in ("emails", "phones", "urls", "dates", "amounts")}
