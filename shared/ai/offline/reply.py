"""A template reply to an inbound SMS, chosen by the message's topic, mood and form."""

from __future__ import annotations

from typing import Any

from shared.ai.offline.classify import classify
from shared.ai.offline.sentiment import sentiment
from shared.ai.offline.text import shorten

#: Reply per built-in topic (see ``classify.DEFAULT_KEYWORDS``); ``other`` is split below.
TEMPLATES = {
    "billing": "Thanks for reaching out about billing. We've passed your message to our "
    "billing team and they'll get back to you shortly.",
    "support": "Sorry for the trouble. We've received your message and someone from our team "
    "will help you shortly.",
    "sales": "Thanks for your interest! Someone from our team will follow up with the details "
    "shortly.",
    "scheduling": "Thanks! We've received your scheduling request and will confirm the time "
    "with you shortly.",
    "spam": "Thanks for your message.",
    "question": "Thanks for your question. We'll get back to you with an answer shortly.",
    "positive": "Thank you for the kind words! We're glad to hear it.",
    "other": "Thanks for your message! We'll get back to you shortly.",
}
#: Put before a reply to an unhappy message (unless its template apologises already).
APOLOGY = "We're sorry to hear that. "


def reply(text: str, max_chars: int) -> dict[str, Any]:
    """``{"text"}``: a fixed, polite acknowledgement that promises nothing specific.

    The template follows the message's topic (billing, support, sales, scheduling, spam);
    without one, a question gets the question template and a positive message a thank-you.
    A negative message's reply starts with an apology.
    """
    topic = classify(text, None)["label"]
    mood = sentiment(text)["label"]
    if topic == "other":
        if text.rstrip().endswith("?"):
            topic = "question"
        elif mood == "positive":
            topic = "positive"
    answer = TEMPLATES[topic]
    if mood == "negative" and topic not in ("support", "spam"):
        answer = APOLOGY + answer
    return {"text": shorten(answer, max_chars)}
