"""The offline provider: deterministic, and useful enough for each task."""

from __future__ import annotations

import math

import pytest

from shared.ai import (
    AIError,
    LocalProvider,
    classify,
    extract,
    reply,
    run_task,
    sentiment,
    summarize,
    translate,
)
from shared.ai.options import TaskOptions, parse_options

LOCAL = LocalProvider()

ARTICLE = (
    "The city council approved the new bicycle lane plan on Tuesday. "
    "The plan adds protected bicycle lanes to the main streets and links the bicycle network "
    "to the train station. "
    "Some residents attended the meeting. "
    "Coffee was served afterwards. "
    "Construction of the bicycle lanes starts in spring."
)
KEY_SENTENCE = (
    "The plan adds protected bicycle lanes to the main streets and links the bicycle network "
    "to the train station."
)
CONTACT = (
    "Hi, this is Jane (jane.doe@example.com). Call me at +1 (555) 123-4567 about invoice "
    "INV-2291 for $1,200.50, due on 2026-12-01. Details: https://example.com/invoices/2291."
)

SAMPLES: list[tuple[str, str, dict]] = [
    ("summarize", ARTICLE, {"maxSentences": 2}),
    ("classify", "I was charged twice, please refund my payment", {}),
    ("classify", "Can we move my appointment?", {"labels": ["Billing", "Scheduling"]}),
    ("sentiment", "I love this, great service", {}),
    ("translate", "Hello, thank you very much", {"targetLanguage": "de"}),
    ("extract", CONTACT, {}),
    ("reply", "Is the shop open on Sunday?", {}),
]


@pytest.mark.parametrize(("task", "text", "options"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_every_task_gives_the_same_output_for_the_same_input(task, text, options):
    first = run_task(task, text, options, provider=LOCAL)
    second = run_task(task, text, options, provider=LocalProvider())

    assert first == second
    assert first.output
    assert (first.provider, first.model, first.task) == ("local", "local", task)


def test_token_counts_are_estimated_at_four_characters_per_token():
    result = sentiment("I love this, great service", provider=LOCAL)

    assert result.tokens_estimated
    assert result.prompt_tokens == math.ceil(len("I love this, great service") / 4)
    assert result.completion_tokens > 0
    assert result.cost_cents == 0.0


def test_the_summary_keeps_the_key_sentence_in_text_order():
    result = summarize(ARTICLE, max_sentences=2, provider=LOCAL)
    summary = result.output["summary"]

    assert KEY_SENTENCE in summary
    assert "Coffee" not in summary
    assert summary.count(".") == 2
    first, second = summary.split(". ", 1)
    assert ARTICLE.index(first) < ARTICLE.index(second)
    assert result.output["originalLength"] == len(ARTICLE)
    assert result.output["summaryLength"] == len(summary) < len(ARTICLE)
    assert result.text == summary


def test_a_text_shorter_than_the_summary_is_kept_whole():
    text = "One sentence only.  Two,\nin fact."

    assert summarize(text, provider=LOCAL).output["summary"] == "One sentence only. Two, in fact."


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I love this, great service", "positive"),
        ("this is terrible, I hate it", "negative"),
        ("The parcel arrived on Tuesday.", "neutral"),
        ("no problem at all, thanks!", "positive"),
    ],
)
def test_sentiment_follows_the_opinion_words(text, label):
    output = sentiment(text, provider=LOCAL).output

    assert output["label"] == label
    assert -1 <= output["score"] <= 1
    assert (output["score"] > 0) == (label == "positive")


@pytest.mark.parametrize("text", ["not good", "It was not very good.", "I don't like it"])
def test_a_negated_compliment_is_not_positive(text):
    output = sentiment(text, provider=LOCAL).output

    assert output["label"] != "positive"
    assert output["score"] < 0


def test_extraction_finds_email_phone_url_date_and_amount():
    output = extract(CONTACT, provider=LOCAL).output

    assert output == {
        "emails": ["jane.doe@example.com"],
        "phones": ["+1 (555) 123-4567"],
        "urls": ["https://example.com/invoices/2291"],
        "dates": ["2026-12-01"],
        "amounts": ["$1,200.50"],
    }


def test_extraction_reads_written_dates_and_amounts_and_ignores_short_numbers():
    output = extract(
        "Meet me tomorrow or on Dec 15, 2026; the fee is 300 EUR, room 12.", provider=LOCAL
    ).output

    assert output["dates"] == ["tomorrow", "Dec 15, 2026"]
    assert output["amounts"] == ["300 EUR"]
    assert output["phones"] == []


def test_a_billing_text_is_classified_as_billing():
    output = classify("My invoice shows a double charge, please refund it", provider=LOCAL).output

    assert output["label"] == "billing"
    assert output["scores"]["billing"] == max(output["scores"].values())
    assert {"invoice", "charge", "refund"} <= set(output["keywords"])


def test_the_caller_s_labels_are_used_with_their_spelling():
    output = classify(
        "Can we reschedule our meeting?", labels=["Billing", "Scheduling"], provider=LOCAL
    ).output

    assert output["label"] == "Scheduling"
    assert set(output["scores"]) == {"Billing", "Scheduling"}


def test_a_text_matching_no_keyword_is_other():
    output = classify("The sky is blue.", labels=["shipping", "returns"], provider=LOCAL).output

    assert output["label"] == "other"
    assert output["keywords"] == []


@pytest.mark.parametrize(("lang", "expected"), [("es", "hola gracias"), ("fr", "bonjour merci")])
def test_translation_uses_the_phrase_book(lang, expected):
    output = translate("hello thank you", target_language=lang, provider=LOCAL).output

    assert output["text"] == expected
    assert output["targetLanguage"] == lang
    assert output["approximate"] is True
    assert output["unknownWords"] == []


def test_translation_leaves_unknown_words_untouched_and_lists_them():
    output = translate(
        "Thank you for the flowers, see you tomorrow!", target_language="es", provider=LOCAL
    ).output

    assert output["text"] == "Gracias para the flowers, hasta mañana!"
    assert output["unknownWords"] == ["the", "flowers"]


def test_translation_from_another_language_than_english_is_not_attempted():
    output = translate(
        "hola amigo", target_language="fr", source_language="es", provider=LOCAL
    ).output

    assert output["text"] == "hola amigo"
    assert output["unknownWords"] == ["hola", "amigo"]


def test_the_reply_follows_the_message_topic_and_fits_the_limit():
    billing = reply("Why was my card charged twice? This is unacceptable.", provider=LOCAL)
    short = reply("Can I book an appointment for Friday?", max_chars=40, provider=LOCAL)

    assert "billing" in billing.output["text"]
    assert billing.output["text"].startswith("We're sorry")
    assert billing.text == billing.output["text"]
    assert len(short.output["text"]) <= 40
    assert short.output["text"].endswith("…")


def test_invalid_options_are_a_non_retryable_error():
    with pytest.raises(AIError) as caught:
        run_task("translate", "hello", {"targetLanguage": "Spanish!"}, provider=LOCAL)

    assert not caught.value.retryable
    assert "targetLanguage" in str(caught.value)


def test_options_accept_camel_case_and_name_their_task():
    options: TaskOptions = parse_options("summarize", {"maxSentences": 1, "unknown": True})

    assert options.task == "summarize"
    assert run_task("summarize", ARTICLE, options, provider=LOCAL).output["summary"].count(".") == 1
    with pytest.raises(ValueError, match="not options of task"):
        run_task("classify", ARTICLE, options, provider=LOCAL)
