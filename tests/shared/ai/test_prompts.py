"""Prompts for a language model, and its answers read back leniently into each task's shape."""

from __future__ import annotations

import json

import pytest

from shared.ai.base import TASKS
from shared.ai.local_provider import LocalProvider
from shared.ai.options import (
    ClassifyOptions,
    ExtractOptions,
    ReplyOptions,
    SentimentOptions,
    SummarizeOptions,
    TaskOptions,
    TranslateOptions,
    parse_options,
)
from shared.ai.prompts import build_messages, json_object, read_output

SAMPLE_OPTIONS: dict[str, dict] = {"translate": {"targetLanguage": "es"}}


@pytest.mark.parametrize(
    "content",
    [
        '{"label": "x"}',
        '```json\n{"label": "x"}\n```',
        'Sure! Here it is: {"label": "x"} Hope that helps.',
    ],
)
def test_the_json_object_is_found_bare_fenced_or_amid_prose(content):
    assert json_object(content) == {"label": "x"}


@pytest.mark.parametrize("content", ["no json here", "[1, 2]", '{"broken": '])
def test_an_answer_without_a_json_object_gives_none(content):
    assert json_object(content) is None


def test_each_prompt_asks_for_json_and_passes_the_text_as_the_user_message():
    for task in TASKS:
        options = parse_options(task, SAMPLE_OPTIONS.get(task))
        system, user = build_messages("some text", options)

        assert "JSON" in system["content"]
        assert user == {"role": "user", "content": "some text"}


def test_prompts_carry_their_options():
    labels = build_messages("x", ClassifyOptions(labels=["Refund", "Other"]))[0]["content"]
    language = build_messages("x", TranslateOptions(target_language="pt-BR"))[0]["content"]
    answer = build_messages("x", ReplyOptions(max_chars=99, instructions="We are Acme."))
    limit = answer[0]["content"]

    assert '["Refund", "Other"]' in labels
    assert '"pt-br"' in language
    assert "99 characters" in limit and "We are Acme." in limit


def test_a_plain_text_answer_becomes_the_main_value():
    text = "A long original text."

    summary = read_output("Short text.", text, SummarizeOptions())
    translation = read_output("Hola.", text, TranslateOptions(target_language="es"))
    answer = read_output("Thanks, see you!", text, ReplyOptions())

    assert summary == {"summary": "Short text.", "originalLength": 21, "summaryLength": 11}
    assert translation["text"] == "Hola."
    assert translation["approximate"] is False
    assert answer == {"text": "Thanks, see you!"}


def test_a_label_is_matched_to_the_callers_spelling_and_scores_are_clamped():
    content = json.dumps({"label": "refund", "scores": {"REFUND": 1.4, "other": "high"}})

    output = read_output(content, "x", ClassifyOptions(labels=["Refund", "Other"]))

    assert output == {"label": "Refund", "scores": {"Refund": 1.0}, "keywords": []}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"label": "NEGATIVE", "score": -0.4}', {"label": "negative", "score": -0.4}),
        ('{"score": 0.6}', {"label": "positive", "score": 0.6}),
        ('{"label": "positive"}', {"label": "positive", "score": 1.0}),
        ("Negative.", {"label": "negative", "score": -1.0}),
        ('{"label": "mixed", "score": "?"}', {"label": "neutral", "score": 0.0}),
    ],
)
def test_sentiment_answers_are_normalised(content, expected):
    assert read_output(content, "x", SentimentOptions()) == expected


def test_extraction_keeps_strings_and_searches_a_prose_answer():
    listed = read_output(
        '{"emails": ["a@b.co", "a@b.co"], "phones": "none", "urls": [1]}', "x", ExtractOptions()
    )
    prose = read_output("The email is a@b.co and the site https://b.co", "x", ExtractOptions())

    assert listed == {"emails": ["a@b.co"], "phones": [], "urls": ["1"], "dates": [], "amounts": []}
    assert prose["emails"] == ["a@b.co"]
    assert prose["urls"] == ["https://b.co"]


def test_a_reply_longer_than_asked_is_shortened():
    content = json.dumps({"text": "word " * 100})

    output = read_output(content, "x", ReplyOptions(max_chars=50))

    assert len(output["text"]) <= 50


@pytest.mark.parametrize("task", TASKS)
def test_a_models_output_has_the_same_keys_as_the_local_providers(task):
    options: TaskOptions = parse_options(task, SAMPLE_OPTIONS.get(task))

    local = LocalProvider().complete("Thanks, great service!", options).output
    remote = read_output("{}", "Thanks, great service!", options)

    assert set(remote) == set(local)
