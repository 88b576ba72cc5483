"""Tenancy and exposure: no API key can claim a reserved organisation, and the figures that
cover every organisation (metrics, health status) are for operators only."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from local.embedded_redis import free_port
from local.gateway import build_app
from shared.settings import Settings, settings
from tests.abuse.conftest import Gateway
from tests.servers import serve

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sekrit-" + uuid.uuid4().hex


def settings_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("API_KEYS", "SERVICE_TOKEN", "METRICS_TOKEN", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


# --- Reserved and malformed organisations are refused at start-up -------------------------------


@pytest.mark.parametrize(
    "entry, org",
    [
        (f"service:{SECRET}", "service"),
        (f"Service:{SECRET}", "Service"),
        (f"admin:{SECRET}", "admin"),
        (f"metrics:{SECRET}", "metrics"),
        (f"-:{SECRET}", "-"),
    ],
)
def test_an_api_key_claiming_a_reserved_organisation_is_refused(
    monkeypatch: pytest.MonkeyPatch, entry: str, org: str
):
    monkeypatch.setenv("DASHBOARD_PASSWORD", "pw-" + SECRET)
    with pytest.raises(ValueError, match="reserved") as refused:
        settings_with(monkeypatch, API_KEYS=f"acme:k1,{entry}")
    message = str(refused.value)
    assert repr(org) in message
    assert SECRET not in message  # neither the key nor any other secret is echoed


@pytest.mark.parametrize(
    "entry, why",
    [
        (f":{SECRET}", "organisation is empty"),
        ("acme:", "empty key"),
        (f"acme{{sms}}:{SECRET}", "refused"),  # a hash tag inside Redis keys
        (f"ac*me:{SECRET}", "refused"),  # a glob character
        (f"ac me:{SECRET}", "refused"),
    ],
)
def test_a_malformed_api_keys_entry_is_refused_without_echoing_its_key(
    monkeypatch: pytest.MonkeyPatch, entry: str, why: str
):
    with pytest.raises(ValueError, match=why) as refused:
        settings_with(monkeypatch, API_KEYS=entry)
    assert SECRET not in str(refused.value)


def test_one_key_cannot_belong_to_two_callers(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(ValueError, match="same key as organisation 'acme'") as refused:
        settings_with(monkeypatch, API_KEYS=f"acme:{SECRET},globex:{SECRET}")
    assert SECRET not in str(refused.value)
    with pytest.raises(ValueError, match="same key as SERVICE_TOKEN"):
        settings_with(monkeypatch, API_KEYS=f"acme:{SECRET}", SERVICE_TOKEN=SECRET)


def test_an_explicit_default_organisation_is_the_same_as_a_plain_key(
    monkeypatch: pytest.MonkeyPatch,
):
    s = settings_with(monkeypatch, API_KEYS="default:k1, k2, acme: k3")
    assert [(k.org, k.secret) for k in s.parsed_api_keys()] == [
        ("default", "k1"),
        ("default", "k2"),
        ("acme", "k3"),
    ]


def test_qs_gateway_refuses_to_start_with_a_service_api_key(redis_url: str, redis_prefix: str):
    env = os.environ | {
        "APP_ENV": "production",
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "API_KEYS": f"orga:ka-1,service:{SECRET}",
    }
    command = [sys.executable, "-m", "local.cli", "gateway", "--port", str(free_port())]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode != 0
    err = done.stderr.decode()
    assert "'service' is reserved" in err
    assert SECRET not in err + done.stdout.decode()


def test_service_token_sees_every_organisations_jobs(prod_gateway: Gateway):
    sms = {"phoneNumber": "+1234567890", "message": "hi", "contactId": "c", "workspaceId": "w"}
    created = httpx.post(
        f"{prod_gateway.url}/api/schedule-sms",
        json=sms | {"delay": 3_600_000},
        headers=prod_gateway.auth("orga"),
    )
    assert created.status_code == 202, created.text
    status = f"{prod_gateway.url}/api/job-status/{created.json()['jobId']}"
    service = {"authorization": f"Bearer {prod_gateway.service_token}"}
    assert httpx.get(status, headers=service).status_code == 200
    assert httpx.get(status, headers=prod_gateway.auth("orgb")).status_code == 404


def test_service_token_reads_and_lists_every_organisations_ai_jobs(prod_gateway: Gateway):
    create = f"{prod_gateway.url}/v1/jobs/sentiment"
    body = {"text": "I love this"}
    mine = httpx.post(create, json=body, headers=prod_gateway.auth("orga")).json()["id"]
    theirs = httpx.post(create, json=body, headers=prod_gateway.auth("orgb")).json()["id"]
    service = {"authorization": f"Bearer {prod_gateway.service_token}"}
    assert httpx.get(f"{prod_gateway.url}/v1/jobs/{theirs}", headers=service).status_code == 200
    listed = httpx.get(f"{prod_gateway.url}/v1/jobs", headers=service).json()
    assert {j["id"] for j in listed["jobs"]} >= {mine, theirs} and listed["total"] >= 2
    own = httpx.get(f"{prod_gateway.url}/v1/jobs", headers=prod_gateway.auth("orga")).json()
    assert [j["id"] for j in own["jobs"]] == [mine]
    other = httpx.get(f"{prod_gateway.url}/v1/jobs/{theirs}", headers=prod_gateway.auth("orga"))
    assert other.status_code == 404


# --- Every organisation's figures: operators only ----------------------------------------------


@dataclass
class Credentials:
    url: str
    api_key: str
    service_token: str
    metrics_token: str
    admin: str


@pytest.fixture
def gateway(redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Credentials]:
    creds = ("ka-" + uuid.uuid4().hex, "svc-" + uuid.uuid4().hex, "mt-" + uuid.uuid4().hex)
    monkeypatch.setattr(settings, "api_keys", f"acme:{creds[0]}")
    monkeypatch.setattr(settings, "service_token", creds[1])
    monkeypatch.setattr(settings, "metrics_token", creds[2])
    monkeypatch.setattr(settings, "dashboard_password", "pw")
    admin = base64.b64encode(f"{settings.dashboard_username}:pw".encode()).decode()
    with serve(build_app()) as url:
        yield Credentials(url, *creds, admin=admin)


OPERATOR_ROUTES = ("/api/metrics", "/metrics", "/api/health/status")


@pytest.mark.parametrize("path", OPERATOR_ROUTES)
def test_an_api_key_gets_403_on_every_organisations_figures(gateway: Credentials, path: str):
    response = httpx.get(gateway.url + path, headers={"authorization": f"Bearer {gateway.api_key}"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "METRICS_TOKEN" in response.json()["detail"]
    assert httpx.get(gateway.url + path).status_code == 401
    wrong = {"authorization": "Bearer nope"}
    assert httpx.get(gateway.url + path, headers=wrong).status_code == 401


@pytest.mark.parametrize("path", OPERATOR_ROUTES)
def test_operators_read_every_organisations_figures(gateway: Credentials, path: str):
    for authorization in (
        f"Bearer {gateway.metrics_token}",
        f"Bearer {gateway.service_token}",
        f"Basic {gateway.admin}",
    ):
        response = httpx.get(gateway.url + path, headers={"authorization": authorization})
        assert response.status_code in (200, 503), (authorization, response.text)  # 503: degraded
        assert response.headers["content-type"] != "application/problem+json"


def test_the_metrics_token_opens_nothing_but_the_figures(gateway: Credentials):
    auth = {"authorization": f"Bearer {gateway.metrics_token}"}
    sms = {"phoneNumber": "+1234567890", "message": "hi", "contactId": "c", "workspaceId": "w"}
    assert httpx.post(f"{gateway.url}/api/schedule-sms", json=sms, headers=auth).status_code == 401
    assert httpx.get(f"{gateway.url}/api/job-status/x", headers=auth).status_code == 401
