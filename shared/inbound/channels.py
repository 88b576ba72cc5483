"""Which channels accept webhooks, and how each is verified (``WEBHOOK_SECRETS``,
``WEBHOOK_ALLOW_UNSIGNED``).

``WEBHOOK_SECRETS`` is comma-separated ``channel:secret`` (Standard Webhooks) or
``channel:scheme:secret`` entries, scheme one of :data:`SCHEMES`. A channel named twice has
several secrets (rotation: any one verifies), all of one scheme. Secrets may contain ``:``
but not ``,``. This module reads no settings, so ``shared.settings`` can check both values
when it loads.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass
from typing import Literal

Scheme = Literal["standard", "stripe", "github"]
#: The signature schemes a channel may name; ``standard`` when it names none.
SCHEMES: tuple[Scheme, ...] = ("standard", "stripe", "github")
#: A channel name: it becomes part of a path and of Redis keys, so 1-64 letters, digits,
#: ``.``, ``_`` or ``-``, starting with a letter or digit.
CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: ``WEBHOOK_ALLOW_UNSIGNED`` entry that allows every channel without a secret.
ANY_CHANNEL = "*"


@dataclass(frozen=True)
class Channel:
    """A signed channel: its scheme and the secrets any one of which verifies a delivery."""

    name: str
    scheme: Scheme
    secrets: tuple[str, ...]


def _entries(text: str) -> list[str]:
    return [entry for entry in (part.strip() for part in text.split(",")) if entry]


def _check_secret(channel: str, scheme: Scheme, secret: str) -> None:
    if not secret:
        raise ValueError(f"WEBHOOK_SECRETS entry for channel {channel!r} has an empty secret")
    if scheme == "standard" and secret.startswith("whsec_"):
        try:
            base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                f"WEBHOOK_SECRETS entry for channel {channel!r}: a whsec_ secret must be "
                "base64 after its prefix"
            ) from None


def _check_name(name: str, setting: str) -> str:
    if not CHANNEL_NAME.fullmatch(name):
        raise ValueError(
            f"{setting} names channel {name[:70]!r}: a channel is 1-64 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return name


@functools.cache
def parse_secrets(text: str) -> dict[str, Channel]:
    """``WEBHOOK_SECRETS`` as channels by name; ``ValueError`` (naming the channel, never the
    secret) on a malformed entry or a channel given two schemes."""
    found: dict[str, Channel] = {}
    for entry in _entries(text):
        name, sep, rest = entry.partition(":")
        if not sep:
            raise ValueError("a WEBHOOK_SECRETS entry has no ':' between channel and secret")
        name = _check_name(name.strip(), "WEBHOOK_SECRETS")
        scheme: Scheme = "standard"
        head, sep, tail = rest.partition(":")
        if sep and head in SCHEMES:
            scheme, rest = head, tail
        secret = rest.strip()
        _check_secret(name, scheme, secret)
        known = found.get(name)
        if known is not None and known.scheme != scheme:
            raise ValueError(
                f"WEBHOOK_SECRETS gives channel {name!r} two schemes ({known.scheme}, {scheme})"
            )
        secrets = (known.secrets if known else ()) + (secret,)
        found[name] = Channel(name, scheme, secrets)
    return found


@functools.cache
def parse_unsigned(text: str) -> frozenset[str]:
    """``WEBHOOK_ALLOW_UNSIGNED`` as a set of channel names (``*``: every channel)."""
    return frozenset(
        entry if entry == ANY_CHANNEL else _check_name(entry, "WEBHOOK_ALLOW_UNSIGNED")
        for entry in _entries(text)
    )
