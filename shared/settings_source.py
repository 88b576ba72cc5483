"""Where ``Settings`` reads its raw values: the process environment over a ``.env`` file.

A field is read from the upper-case of its name, or from its alias choices in order
(``DASHBOARD_PASSWORD``, then ``BULL_BOARD_PASSWORD``), matched case-insensitively; the
environment wins over the file. A dict field's value is JSON (``QUEUE_SHARDS={"sms": 4}``).

The file: ``NAME=value`` lines (``export NAME=value`` too), ``#`` comment lines, an unquoted
value ending at `` #``; ``'...'`` is literal, ``"..."`` takes ``\\n``, ``\\t``, ``\\r``,
``\\"`` and ``\\\\`` escapes, and either may span lines. ``${VAR}`` is not expanded.

This replaces pydantic-settings, whose import and per-field source machinery cost a Lambda cold
start about 30-40 ms (bench/imports.py) for what these few rules do.
"""

from __future__ import annotations

import json
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

#: Where ``Settings()`` looks for the file, relative to the working directory.
ENV_FILE = ".env"

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_INLINE_COMMENT = re.compile(r"\s#")


def env_names(name: str, field: FieldInfo) -> list[str]:
    """The variables ``field`` is read from, first found wins (its alias choices, else its
    name), upper-case."""
    choices = getattr(field.validation_alias, "choices", None)
    if choices:
        return [c.upper() for c in choices if isinstance(c, str)]
    return [name.upper()]


def raw_values(
    fields: Mapping[str, FieldInfo], env_file: str | os.PathLike[str] | None = ENV_FILE
) -> dict[str, Any]:
    """The values the environment and ``env_file`` give, by field name; JSON decoded for
    dict and list fields. ``ValueError`` naming the variable when such JSON is malformed."""
    environ = {k.upper(): v for k, v in os.environ.items()}
    from_file = {k.upper(): v for k, v in read_env_file(env_file).items()} if env_file else {}
    values: dict[str, Any] = {}
    for name, field in fields.items():
        for source in (environ, from_file):
            found = next((n for n in env_names(name, field) if n in source), None)
            if found is not None:
                values[name] = _decoded(found, source[found], field)
                break
    return values


def _decoded(variable: str, text: str, field: FieldInfo) -> Any:
    if typing.get_origin(field.annotation) not in (dict, list):
        return text
    try:
        return json.loads(text)
    except ValueError as exc:  # says where, never what: the value may be a secret's neighbour
        raise ValueError(f"{variable} is not valid JSON: {exc}") from None


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The variables of a ``.env`` file (empty when there is none), as written."""
    file = Path(path)
    if not file.is_file():
        return {}
    return parse_env_text(file.read_text(encoding="utf-8"))


def parse_env_text(text: str) -> dict[str, str]:
    """``NAME=value`` pairs of a ``.env`` text (rules in the module docstring); a later line
    wins. ``ValueError`` naming the variable whose quote never closes."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].lstrip()
        index += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line.removeprefix("export ").lstrip()
        name, sep, rest = line.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        rest = rest.lstrip()
        if rest[:1] not in ("'", '"'):
            values[name] = _INLINE_COMMENT.split(rest, maxsplit=1)[0].rstrip()
            continue
        quote, body = rest[0], rest[1:]
        while (end := _closing(body, quote)) < 0:
            if index >= len(lines):
                raise ValueError(f".env: the value of {name} opens a quote that never closes")
            body += "\n" + lines[index]
            index += 1
        values[name] = body[:end] if quote == "'" else _unescape(body[:end])
    return values


def _closing(body: str, quote: str) -> int:
    """Index of the quote that ends ``body``, or -1; in ``"..."`` a backslash escapes."""
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and quote == '"':
            index += 2
            continue
        if char == quote:
            return index
        index += 1
    return -1


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), body, flags=re.S)
