"""What is kept of a delivery: the body as JSON, text or base64; headers without secrets."""

from __future__ import annotations

from shared.inbound.record import MAX_JSON_DEPTH, payload_of, stored_headers


def test_a_json_body_is_kept_as_json_and_anything_else_losslessly():
    assert payload_of(b'{"a": [1, 2]}') == ({"a": [1, 2]}, None)
    assert payload_of(b"a=1&b=2") == ("a=1&b=2", None)
    assert payload_of(b"\xff\x00") == ("/wA=", "base64")
    assert payload_of(b"  ") == (None, None)


def test_json_that_the_engine_could_not_read_back_stays_text():
    assert payload_of(b'{"n": NaN}') == ('{"n": NaN}', None)
    deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    assert payload_of(deep) == (deep.decode(), None)
    fits = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert isinstance(payload_of(fits)[0], list)
    very_deep = b"[" * 100_000 + b"]" * 100_000  # past Python's recursion limit
    assert payload_of(very_deep) == (very_deep.decode(), None)


def test_credentials_are_never_stored():
    headers = {
        "authorization": "Bearer x",
        "proxy-authorization": "Basic y",
        "cookie": "s=1",
        "x-api-key": "k",
        "x-telegram-bot-api-secret-token": "t",
        "x-session-id": "s",
        "x-hub-signature-256": "sha256=ab",
        "user-agent": "GitHub-Hookshot/1",
    }
    assert stored_headers(headers) == {
        "x-hub-signature-256": "sha256=ab",
        "user-agent": "GitHub-Hookshot/1",
    }
