"""The ``qs`` command's one-shot subcommands: ``routes`` and ``invoke``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from local.cli import main
from tests.conftest import EVENTS, set_queue_limits


def test_routes_lists_every_route_and_schedule_with_its_cron_form(
    capsys: pytest.CaptureFixture[str],
):
    assert main(["routes"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"GET\s+/api/health\s+health\s+functions/api/health.handler", out)
    assert re.search(r"POST\s+/api/jobs/\{jobId\}/promote\s+promote-job", out)
    assert re.search(r"rate\(5 minutes\)\s+\*/5 \* \* \* \*\s+UTC\s+health-check", out)
    assert re.search(r"rate\(1 minute\)\s+\* \* \* \* \*\s+UTC\s+process-scheduled-messages", out)


def test_invoke_health_synthesises_an_http_event(redis_prefix: str, capsys):
    assert main(["invoke", "health"]) == 0
    response = json.loads(capsys.readouterr().out)
    assert response["statusCode"] == 200  # Redis takes writes: degraded, in the body
    assert json.loads(response["body"])["redis"]["ok"] is True


def test_invoke_takes_an_event_file_or_inline_data(redis_prefix: str, capsys):
    assert (
        main(["invoke", "health-check", "--event", str(EVENTS / "scheduled_health_check.json")])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["scheduledAt"] == "2026-11-27T08:30:00Z"
    assert main(["invoke", "health-check", "--data", '{"time": "2026-01-01T00:00:00Z"}']) == 0
    assert json.loads(capsys.readouterr().out)["scheduledAt"] == "2026-01-01T00:00:00Z"


def test_invoke_of_an_unknown_function_names_the_known_ones(capsys, tmp_path: Path):
    assert main(["invoke", "nope"]) == 2
    assert "health" in capsys.readouterr().err


def test_serving_commands_refuse_queue_limits_for_an_unknown_queue(monkeypatch, capsys):
    set_queue_limits(monkeypatch, smss={"concurrency": 3})
    assert main(["worker"]) == 1
    err = capsys.readouterr().err
    assert "refusing to start" in err and "smss" in err and "sms" in err


def test_invoke_puts_the_api_key_in_effect_into_sample_events(
    redis_prefix: str, api_key: str, capsys
):
    sample = EVENTS / "http_post_schedule_sms.json"
    assert "Bearer ${API_KEY}" in sample.read_text()
    assert main(["invoke", "schedule-sms", "--event", str(sample)]) == 0
    response = json.loads(capsys.readouterr().out)
    assert response["statusCode"] == 202, response
    assert json.loads(response["body"])["jobId"].startswith("S")
    assert main(["invoke", "ai-jobs-list"]) == 0  # the synthesised event carries the key too
    assert json.loads(capsys.readouterr().out)["statusCode"] == 200


def test_without_a_key_the_sample_event_is_refused_as_any_unauthenticated_call(
    redis_prefix: str, monkeypatch, capsys
):
    from shared.settings import settings

    monkeypatch.setattr(settings, "api_keys", "")
    monkeypatch.setattr(settings, "service_token", "")
    assert main(["invoke", "ai-jobs-list"]) == 0
    assert json.loads(capsys.readouterr().out)["statusCode"] == 401
