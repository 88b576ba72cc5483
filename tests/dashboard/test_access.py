"""Who gets into the dashboard and what a state-changing request needs, over real HTTP: basic
auth (admin, read-only users, the seed's aliases), admin/viewer JWTs, CSRF tokens, cross-site
refusal, the CSP, and production's refusal of a weak password."""

from __future__ import annotations

import re
import time

import httpx
import jwt
import pytest

from shared.dashboard.access import CSRF_TTL_S, Viewer, csrf_token
from shared.settings import Settings, settings
from tests.dashboard.conftest import ADMIN, VIEWER, Dashboard

PAGES = ["/admin/queues", "/admin/queues/queue/sms", "/admin/queues/static/dashboard.js",
         "/api/admin/jobs?queue=sms&state=waiting"]  # fmt: skip


def token_of(page: httpx.Response) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found, page.text[:500]
    return found.group(1)


def paused(d: Dashboard) -> bool:
    return bool(d.store.client.exists(d.store.qkey("sms", "paused")))


@pytest.mark.parametrize("path", PAGES)
def test_every_dashboard_route_needs_credentials(dashboard: Dashboard, path: str):
    for who in (None, (ADMIN[0], "wrong-password"), ("nobody", ADMIN[1])):
        answer = dashboard.client(who).get(path)
        assert answer.status_code == 401, (who, answer.text)
        assert answer.headers["www-authenticate"].startswith("Basic ")
    assert dashboard.client().get(path).status_code == 200
    assert dashboard.client(VIEWER).get(path).status_code == 200


def test_an_action_without_credentials_is_401_and_changes_nothing(dashboard: Dashboard):
    answer = dashboard.client(None).post("/admin/queues/actions/queue-pause", json={"queue": "sms"})
    assert answer.status_code == 401
    assert not paused(dashboard)


def test_ui_and_admin_redirect_to_the_dashboard(dashboard: Dashboard):
    for path in ("/ui", "/admin"):
        answer = dashboard.client(None).get(path)
        assert answer.status_code == 302 and answer.headers["location"] == "/admin/queues"


def test_the_seed_bull_board_variables_are_the_dashboard_credentials(monkeypatch):
    monkeypatch.setenv("BULL_BOARD_USERNAME", "board")
    monkeypatch.setenv("BULL_BOARD_PASSWORD", "board-password-123")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.dashboard_username, s.dashboard_password) == ("board", "board-password-123")


def test_with_the_page_token_the_admin_acts(dashboard: Dashboard):
    admin = dashboard.client()
    token = token_of(admin.get("/admin/queues"))
    answer = admin.post("/admin/queues/actions/queue-pause", json={"queue": "sms"},
                        headers={"x-csrf-token": token})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] == {"paused": True} and paused(dashboard)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "123.abc",
     lambda: csrf_token(Viewer(VIEWER[0], "viewer")),  # another user's
     lambda: csrf_token(Viewer(ADMIN[0], "admin"), now_s=time.time() - CSRF_TTL_S - 5)],  # old
)  # fmt: skip
def test_without_a_valid_csrf_token_an_action_is_403(dashboard: Dashboard, token):
    value = token() if callable(token) else token
    headers = {"x-csrf-token": value} if value else {}
    answer = dashboard.client().post(
        "/admin/queues/actions/queue-pause", json={"queue": "sms"}, headers=headers
    )
    assert answer.status_code == 403 and "CSRF" in answer.json()["detail"]
    assert not paused(dashboard)


def test_a_read_only_user_sees_everything_and_changes_nothing(dashboard: Dashboard):
    viewer = dashboard.client(VIEWER)
    page = viewer.get("/admin/queues/queue/sms")
    assert page.status_code == 200 and "read-only" in page.text
    assert "data-action" not in page.text  # no action buttons drawn
    answer = viewer.post("/admin/queues/actions/queue-pause", json={"queue": "sms"},
                         headers={"x-csrf-token": token_of(page)})  # fmt: skip
    assert answer.status_code == 403 and "read-only" in answer.json()["detail"]
    assert not paused(dashboard)
    assert viewer.post("/api/queues/sms/pause").status_code == 401  # not admin on the API either


@pytest.mark.parametrize(
    "headers",
    [{"origin": "https://evil.example"}, {"origin": "null"}, {"sec-fetch-site": "cross-site"},
     {"sec-fetch-site": "same-site"}],
)  # fmt: skip
def test_a_cross_site_action_is_refused_even_with_credentials_and_token(
    dashboard: Dashboard, headers: dict[str, str]
):
    admin = dashboard.client()
    token = token_of(admin.get("/admin/queues"))
    answer = admin.post("/admin/queues/actions/queue-pause", json={"queue": "sms"},
                        headers={"x-csrf-token": token, **headers})  # fmt: skip
    assert answer.status_code == 403 and "Cross-site" in answer.json()["detail"]
    api = admin.post("/api/queues/sms/pause", headers=headers)  # the admin API refuses it too
    assert api.status_code == 403 and "Cross-site" in api.json()["detail"]
    assert not paused(dashboard)


def test_a_same_origin_browser_request_passes(dashboard: Dashboard):
    admin = dashboard.client()
    token = token_of(admin.get("/admin/queues"))
    host = dashboard.url.removeprefix("http://")
    same = {"origin": dashboard.url, "sec-fetch-site": "same-origin", "x-csrf-token": token}
    answer = admin.post("/admin/queues/actions/queue-pause", json={"queue": "sms"}, headers=same)
    assert answer.status_code == 200, (host, answer.text)


def test_pages_carry_a_strict_csp_and_only_nonced_scripts(dashboard: Dashboard):
    page = dashboard.client().get("/admin/queues")
    csp = page.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp)
    assert nonce and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert scripts and all(f'nonce="{nonce.group(1)}"' in s for s in scripts)
    assert " style=" not in page.text and "<style" not in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    second = dashboard.client().get("/admin/queues").headers["content-security-policy"]
    assert second != csp  # a fresh nonce per response


def test_admin_and_viewer_jwts(dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(settings, "jwt_secret", "jwt-secret-for-the-dashboard-tests-0123")

    def bearer(role: str) -> dict[str, str]:
        claims = {"sub": "alice", "role": role, "exp": int(time.time()) + 600}
        token = jwt.encode(claims, "jwt-secret-for-the-dashboard-tests-0123", algorithm="HS256")
        return {"authorization": f"Bearer {token}"}

    plain = httpx.Client(base_url=dashboard.url)
    assert plain.get("/api/admin/jobs?queue=sms&state=failed", headers=bearer("viewer")).is_success
    page = plain.get("/admin/queues", headers=bearer("admin"))
    assert page.status_code == 200 and "jwt:alice" in page.text
    forged = plain.post("/admin/queues/actions/queue-pause", json={"queue": "sms"},
                        headers={**bearer("viewer"), "x-csrf-token": token_of(page)})  # fmt: skip
    assert forged.status_code == 403
    assert plain.get("/admin/queues", headers=bearer("billing")).status_code == 403


def test_a_disabled_dashboard_is_not_there(dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(settings, "dashboard_enabled", False)
    assert dashboard.client().get("/admin/queues").status_code == 404


@pytest.mark.parametrize(
    "password, refused",
    [("", "empty"), ("admin123", "seed default"), ("short-pw", "shorter than 12"),
     ("a-long-enough-password", None)],
)  # fmt: skip
def test_production_refuses_a_weak_dashboard_password(monkeypatch, password, refused):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("API_KEYS", "k1")
    monkeypatch.setenv("DASHBOARD_PASSWORD", password)
    if refused:
        with pytest.raises(ValueError, match=refused):
            Settings(_env_file=None)  # type: ignore[call-arg]
        monkeypatch.setenv("DASHBOARD_ENABLED", "false")  # without the dashboard it starts
    assert Settings(_env_file=None).app_env == "production"  # type: ignore[call-arg]


def test_production_refuses_a_weak_read_only_password(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("API_KEYS", "k1")
    monkeypatch.setenv("DASHBOARD_PASSWORD", "a-long-enough-password")
    monkeypatch.setenv("DASHBOARD_READONLY_USERS", "bob:short")
    with pytest.raises(ValueError, match="'bob'") as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "short" not in str(refused.value).replace("shorter", "")  # the password is not echoed
    monkeypatch.setenv("DASHBOARD_READONLY_USERS", "bob")
    with pytest.raises(ValueError, match="no password"):
        Settings(_env_file=None)  # type: ignore[call-arg]
