"""``GET /test-email``: the seed's test form, behind the dashboard credentials."""

from __future__ import annotations

import base64

import pytest

from functions.api.test_email import handler
from shared.settings import settings
from tests.conftest import load_event


def get(authorization: str | None) -> dict:
    event = load_event("http_get_health")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/test-email"
    if authorization:
        event["headers"]["authorization"] = authorization
    return handler(event, None)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setattr(settings, "dashboard_username", "ops")
    monkeypatch.setattr(settings, "dashboard_password", "s3cret-pass")
    return "ops", "s3cret-pass"


def test_the_form_needs_the_dashboard_credentials(admin):
    assert get(None)["statusCode"] == 401
    assert get(None)["headers"]["www-authenticate"].startswith("Basic")
    assert get(basic("ops", "wrong"))["statusCode"] == 401
    assert get("Bearer some-api-key")["statusCode"] == 401


def test_with_no_dashboard_password_configured_nobody_gets_in(monkeypatch):
    monkeypatch.setattr(settings, "dashboard_password", "")
    assert get(basic("admin", ""))["statusCode"] == 401


def test_the_form_posts_the_seed_fields_to_schedule_email_under_a_strict_csp(admin):
    response = get(basic(*admin))
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith("text/html")
    page = response["body"]
    for field in ("apiKey", "to", "subject", "html", "contactId", "workspaceId", "delay"):
        assert f'id="{field}"' in page
    assert '"/api/schedule-email"' in page
    csp = response["headers"]["content-security-policy"]
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in page and "default-src 'none'" in csp
    assert get(basic(*admin))["body"] != page, "a fresh nonce per response"
