"""Settings read from the environment over a ``.env`` file (shared/settings_source.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import Settings
from shared.settings_source import parse_env_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {n.upper() for n in Settings.model_fields} | {"BULL_BOARD_PASSWORD"}
    for name in list(os.environ):
        if name.upper() in names:
            monkeypatch.delenv(name)


def test_the_environment_wins_over_the_file_and_names_match_in_any_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    env_file = tmp_path / ".env"
    env_file.write_text("REDIS_PREFIX=from-file\nport=4001\nMAX_DELAY_DAYS=10\n")
    monkeypatch.setenv("redis_prefix", "from-env")
    loaded = Settings(_env_file=env_file)
    assert loaded.redis_prefix == "from-env"
    assert loaded.port == 4001 and loaded.max_delay_days == 10
    assert {"redis_prefix", "port", "max_delay_days"} <= loaded.model_fields_set
    assert "redis_host" not in loaded.model_fields_set  # a default is not "set"
    assert Settings(_env_file=None).port == 3000


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PORT", "4001")
    assert Settings(_env_file=None, port=4002).port == 4002


def test_alias_choices_are_read_in_order(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BULL_BOARD_PASSWORD", "seed-name")
    assert Settings(_env_file=None).dashboard_password == "seed-name"
    monkeypatch.setenv("DASHBOARD_PASSWORD", "our-name")
    assert Settings(_env_file=None).dashboard_password == "our-name"


def test_dict_settings_are_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    env_file = tmp_path / ".env"
    env_file.write_text('AI_COST_PER_1K_TOKENS={"gpt-4o-mini": 0.06}\n')
    monkeypatch.setenv("QUEUE_SHARDS", '{"sms": 4}')
    monkeypatch.setenv("QUEUE_LIMITS", '{"sms": {"concurrency": 5, "workspace_limiter": null}}')
    loaded = Settings(_env_file=env_file)
    assert loaded.queue_shards == {"sms": 4}
    assert loaded.ai_cost_per_1k_tokens == {"gpt-4o-mini": 0.06}
    limits = loaded.queue_limits["sms"]
    assert limits.concurrency == 5 and "workspace_limiter" in limits.model_fields_set


@pytest.mark.parametrize("value", ["", "{sms: 4", "secret-looking-text"])
def test_malformed_json_is_refused_naming_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, value: str
):
    monkeypatch.setenv("QUEUE_SHARDS", value)
    with pytest.raises(ValueError, match="QUEUE_SHARDS is not valid JSON") as caught:
        Settings(_env_file=None)
    assert value not in str(caught.value) or not value


def test_a_bad_value_is_a_validation_error_naming_the_field(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REDIS_PORT", "six")
    with pytest.raises(ValueError, match="redis_port") as caught:
        Settings(_env_file=None)
    assert "six" not in str(caught.value)  # hide_input_in_errors


def test_the_file_format():
    text = "\n".join(
        [
            "# a comment",
            "",
            "PLAIN=a b c   # a comment after the value",
            "HASH=abc#def",
            "export EXPORTED=1",
            "SINGLE='literal \\n $HOME # not a comment'",
            'DOUBLE="line\\nnext \\"quoted\\" back\\\\slash \\q"',
            "EMPTY=",
            'PEM="-----BEGIN PUBLIC KEY-----',
            "MIIB",
            '-----END PUBLIC KEY-----"',
            "  INDENTED = spaced  ",
            "NO_EQUALS_SIGN",
            "PLAIN=later wins",
        ]
    )
    assert parse_env_text(text) == {
        "PLAIN": "later wins",
        "HASH": "abc#def",
        "EXPORTED": "1",
        "SINGLE": "literal \\n $HOME # not a comment",
        "DOUBLE": 'line\nnext "quoted" back\\slash \\q',
        "EMPTY": "",
        "PEM": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
        "INDENTED": "spaced",
    }


def test_an_unclosed_quote_is_refused_naming_the_variable():
    with pytest.raises(ValueError, match="the value of TOKEN opens a quote that never closes"):
        parse_env_text('TOKEN="s3cret\nOTHER=1\n')


def test_the_example_file_loads_as_the_defaults():
    example = Settings(_env_file=ROOT / ".env.example").model_dump()
    defaults = Settings(_env_file=None).model_dump()
    assert example.pop("redis_url") == "" and defaults.pop("redis_url") is None  # both: unset
    assert example == defaults


def test_importing_settings_imports_no_settings_library():
    code = (
        "import sys, shared.settings; "
        "assert not {'pydantic_settings', 'dotenv'} & set(sys.modules), 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
