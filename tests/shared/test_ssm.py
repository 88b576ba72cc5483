"""Secrets from SSM Parameter Store (moto) when ``SSM_PREFIX`` is set."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import redis
from moto import mock_aws

from local.embedded_redis import free_port
from shared import redis_client, ssm
from shared.settings import Settings, settings
from tests.aws import REGION
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "/queue-services/test"
SECRETS = {
    "API_KEYS": "acme:ssm-key-1,ssm-key-2",
    "WEBHOOK_SECRET": "whsec_c3NtLXNpZ25pbmcta2V5",
    "DASHBOARD_PASSWORD": "ssm-dashboard-pw",
    "JWT_SECRET": "ssm-jwt-secret",
    "AI_API_KEY": "sk-ssm-ai",
}


@pytest.fixture
def parameters(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """moto's SSM holding the five default secrets as SecureStrings under ``PREFIX``."""
    for name in ("API_KEYS", "WEBHOOK_SECRET", "DASHBOARD_PASSWORD", "BULL_BOARD_PASSWORD",
                 "JWT_SECRET", "AI_API_KEY", "SSM_PREFIX", "SSM_SECRETS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    ssm.clear_cache()
    with mock_aws():
        client = boto3.client("ssm", region_name=REGION)
        for name, value in SECRETS.items():
            client.put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="SecureString")
        yield client
    ssm.clear_cache()


def build(**values: str) -> Settings:
    return Settings(_env_file=None, aws_region=REGION, **values)  # type: ignore[call-arg]


def test_the_secrets_load_from_ssm_at_start_up(parameters: object, monkeypatch):
    monkeypatch.setenv("SSM_PREFIX", PREFIX)
    settings = build()
    assert settings.api_keys == SECRETS["API_KEYS"]
    assert [k.org for k in settings.parsed_api_keys()] == ["acme", "default"]
    assert settings.webhook_secret == SECRETS["WEBHOOK_SECRET"]
    assert settings.dashboard_password == SECRETS["DASHBOARD_PASSWORD"]
    assert settings.jwt_secret == SECRETS["JWT_SECRET"]
    assert settings.ai_api_key == SECRETS["AI_API_KEY"]


def test_ssm_wins_over_the_environment_and_says_so_without_the_value(
    parameters: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setenv("API_KEYS", "env-key")
    monkeypatch.setenv("BULL_BOARD_PASSWORD", "env-pw")  # the seed's alias counts too
    monkeypatch.setenv("SERVICE_TOKEN", "env-service")  # not in SSM_SECRETS: untouched
    with caplog.at_level(logging.WARNING, "qs.ssm"):
        settings = build(ssm_prefix=PREFIX)
    assert settings.api_keys == SECRETS["API_KEYS"]
    assert settings.dashboard_password == SECRETS["DASHBOARD_PASSWORD"]
    assert settings.service_token == "env-service"
    assert "API_KEYS is set in the environment and in SSM" in caplog.text
    assert "DASHBOARD_PASSWORD is set" in caplog.text
    assert "env-key" not in caplog.text and "ssm-key" not in caplog.text


def test_ssm_secrets_chooses_which_settings_come_from_ssm(parameters, monkeypatch):
    parameters.put_parameter(  # type: ignore[attr-defined]
        Name=f"{PREFIX}/SERVICE_TOKEN", Value="ssm-service-token", Type="SecureString"
    )
    monkeypatch.setenv("JWT_SECRET", "env-jwt")
    settings = build(ssm_prefix=PREFIX + "/", ssm_secrets="service_token, API_KEYS")
    assert settings.service_token == "ssm-service-token"
    assert settings.api_keys == SECRETS["API_KEYS"]
    assert settings.jwt_secret == "env-jwt" and settings.ai_api_key == ""


def test_a_missing_parameter_stops_start_up_naming_it_and_no_value(parameters: object):
    parameters.delete_parameter(Name=f"{PREFIX}/JWT_SECRET")  # type: ignore[attr-defined]
    with pytest.raises(ValueError) as caught:
        build(ssm_prefix=PREFIX)
    text = str(caught.value)
    assert f"{PREFIX}/JWT_SECRET not found in SSM Parameter Store ({REGION})" in text
    assert not any(value in text for value in SECRETS.values())


def test_values_are_cached_for_the_process(parameters: object):
    first = build(ssm_prefix=PREFIX)
    for name in SECRETS:
        parameters.delete_parameter(Name=f"{PREFIX}/{name}")  # type: ignore[attr-defined]
    again = build(ssm_prefix=PREFIX)  # no round trip: the deleted parameters are not missed
    assert again.jwt_secret == first.jwt_secret == SECRETS["JWT_SECRET"]
    ssm.clear_cache()
    with pytest.raises(ValueError, match="not found"):
        build(ssm_prefix=PREFIX)


def test_names_beyond_one_calls_limit_take_several_calls(parameters):
    names = list(ssm.SECRET_SETTINGS)
    assert len(names) > 10  # SSM (and moto) refuse more than 10 names in one call
    for name in names:
        special = {"REDIS_URL": "redis://ssm-redis:6379/0", "WEBHOOK_SECRETS": "orders:ssm-in",
                   "DASHBOARD_READONLY_USERS": "viewer:ssm-viewer-pw"}  # fmt: skip
        value = special.get(name, f"ssm-{name.lower()}")
        parameters.put_parameter(  # type: ignore[attr-defined]
            Name=f"{PREFIX}/{name}", Value=value, Type="SecureString", Overwrite=True
        )
    settings = build(ssm_prefix=PREFIX, ssm_secrets=",".join(names))
    assert settings.redis_password == "ssm-redis_password"
    # REDIS_URL names no password: REDIS_PASSWORD's fills it in
    assert settings.resolved_redis_url() == "redis://:ssm-redis_password@ssm-redis:6379/0"
    assert settings.webhook_secrets == "orders:ssm-in"
    assert settings.service_token == "ssm-service_token"
    assert settings.dashboard_readonly_users == "viewer:ssm-viewer-pw"


def test_a_plain_string_parameter_is_used_with_a_warning(parameters, caplog):
    parameters.put_parameter(  # type: ignore[attr-defined]
        Name=f"{PREFIX}/AI_API_KEY", Value="plain", Type="String", Overwrite=True
    )
    with caplog.at_level(logging.WARNING, "qs.ssm"):
        assert build(ssm_prefix=PREFIX).ai_api_key == "plain"
    assert f"{PREFIX}/AI_API_KEY is a plain String, not a SecureString" in caplog.text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ssm_prefix": "queue-services"}, "SSM_PREFIX must be a parameter path"),
        ({"ssm_prefix": "/"}, "SSM_PREFIX must be a parameter path"),
        (
            {"ssm_prefix": PREFIX, "ssm_secrets": "API_KEYS,LOG_LEVEL"},
            "SSM_SECRETS names LOG_LEVEL",
        ),
    ],
)
def test_bad_ssm_settings_are_refused(parameters: object, values: dict[str, str], message: str):
    with pytest.raises(ValueError, match=message):
        build(**values)


def test_without_ssm_prefix_settings_import_no_boto3():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSM_")}
    code = "import sys, shared.settings; assert 'boto3' not in sys.modules, 'boto3 imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def _answers(url: str, token: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, password=token, socket_timeout=1).ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def redis_with_token(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A Redis of this test's own that takes only ``AUTH <token>``, as ElastiCache does:
    (its URL without credentials, the token)."""
    port, token = free_port(), f"tok-{secrets.token_hex(16)}"
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", token,
            "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: _answers(url, token), what="redis-server answering")
        yield url, token
    finally:
        server.terminate()
        server.wait(10)


def test_the_redis_token_from_ssm_completes_the_redis_url_the_functions_get(
    parameters, monkeypatch: pytest.MonkeyPatch, redis_with_token: tuple[str, str]
):
    """serverless.yml gives REDIS_URL without credentials and REDIS_PASSWORD in SSM_SECRETS:
    the service connects with the SecureString's token, which is in no environment."""
    url, token = redis_with_token
    parameters.put_parameter(  # type: ignore[attr-defined]
        Name=f"{PREFIX}/REDIS_PASSWORD", Value=token, Type="SecureString"
    )
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    loaded = build(ssm_prefix=PREFIX, ssm_secrets="API_KEYS,REDIS_PASSWORD")
    assert loaded.redis_url == url and loaded.redis_password == token
    assert token not in "".join(os.environ.values())
    with pytest.raises(redis.AuthenticationError):  # the URL alone is refused
        redis.Redis.from_url(url, socket_timeout=1).ping()
    monkeypatch.setattr(settings, "redis_url", loaded.redis_url)
    monkeypatch.setattr(settings, "redis_password", loaded.redis_password)
    assert redis_client.get_redis().ping()


def test_a_redis_url_with_its_own_password_keeps_it():
    built = Settings(  # type: ignore[call-arg]
        _env_file=None, redis_url="rediss://:own@cache:6379/0", redis_password="other"
    )
    assert built.resolved_redis_url() == "rediss://:own@cache:6379/0"
    named = Settings(  # type: ignore[call-arg]
        _env_file=None, redis_url="rediss://app@cache:6379/1", redis_password="p@ss/w"
    )
    assert named.resolved_redis_url() == "rediss://app:p%40ss%2Fw@cache:6379/1"
