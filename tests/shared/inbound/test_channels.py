"""``WEBHOOK_SECRETS`` and ``WEBHOOK_ALLOW_UNSIGNED``: what each entry means, what is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.inbound.channels import Channel, parse_secrets, parse_unsigned
from shared.settings import Settings

WHSEC = "whsec_c2VjcmV0LWtleQ=="


def test_an_entry_without_a_scheme_is_standard_webhooks():
    assert parse_secrets(f"orders:{WHSEC}") == {"orders": Channel("orders", "standard", (WHSEC,))}


def test_an_entry_may_name_its_scheme_and_a_secret_may_contain_colons():
    channels = parse_secrets(" billing:stripe:whsec_abc , repo:github:a:b:c ")
    assert channels["billing"] == Channel("billing", "stripe", ("whsec_abc",))
    assert channels["repo"] == Channel("repo", "github", ("a:b:c",))


def test_a_channel_named_twice_has_both_secrets_for_rotation():
    channels = parse_secrets("repo:github:old,repo:github:new")
    assert channels["repo"].secrets == ("old", "new")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nocolon", "no ':'"),
        ("bad/name:secret", "channel 'bad/name'"),
        ("orders:", "empty secret"),
        ("orders:github:", "empty secret"),
        ("orders:whsec_***", "base64"),
        ("repo:github:a,repo:stripe:b", "two schemes"),
    ],
)
def test_a_malformed_entry_is_refused_naming_the_channel_not_the_secret(text, message):
    with pytest.raises(ValueError, match=message) as refused:
        parse_secrets(text)
    assert "***" not in str(refused.value)


def test_settings_refuse_a_malformed_entry_at_start_up():
    with pytest.raises(ValidationError, match="two schemes"):
        Settings(webhook_secrets="a:github:x,a:stripe:y")
    with pytest.raises(ValidationError, match="WEBHOOK_ALLOW_UNSIGNED"):
        Settings(webhook_allow_unsigned="ok,{bad}")


def test_unsigned_channels_are_a_list_or_every_channel():
    assert parse_unsigned("telegram, whatsapp") == {"telegram", "whatsapp"}
    assert parse_unsigned("*") == {"*"}
    assert parse_unsigned("") == frozenset()
