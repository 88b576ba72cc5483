"""The dashboard in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright's
Python package; ``make test`` installs it): sign-in, counts, search by workspace, a failed job
retried, a queue paused and resumed, a read-only user and a missing CSRF token refused, live
refresh paused while the tab is hidden. Effects are checked through the API and the store;
screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from shared.dashboard import render
from tests.dashboard.conftest import ADMIN, VIEWER, Dashboard

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def fast_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "REFRESH_MS", 300)


def open_as(browser: Browser, who: tuple[str, str], width: int = 1280) -> Page:
    context = browser.new_context(
        http_credentials={"username": who[0], "password": who[1]},
        viewport={"width": width, "height": 900},
    )
    return context.new_page()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def until(page: Page, condition: Any, what: str, timeout_ms: int = 10_000) -> None:
    """Wait for ``condition()`` while Playwright delivers its events (a plain sleep would
    block them)."""
    for _ in range(timeout_ms // 50):
        if condition():
            return
        page.wait_for_timeout(50)
    pytest.fail(f"{what} not met within {timeout_ms} ms")


def api_state(d: Dashboard, job_id: str) -> Any:
    answer = httpx.get(f"{d.url}/api/job-status/{job_id}",
                       headers={"authorization": "Bearer dash-test-key"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()["state"]


def queue_paused(d: Dashboard) -> bool:
    admin = d.client()
    answer = admin.get("/api/queues/sms")
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["paused"])


def test_a_wrong_password_is_refused(browser: Browser, dashboard: Dashboard):
    page = open_as(browser, (ADMIN[0], "not-the-password"))
    answer = page.goto(f"{dashboard.url}/admin/queues")
    assert answer is not None and answer.status == 401
    page.context.close()


def test_the_admin_searches_retries_a_failed_job_and_pauses_a_queue(
    browser: Browser, dashboard: Dashboard, fast_refresh: None
):
    for i in range(6):
        dashboard.job(ws=f"ws-{i % 2}", ct=f"contact-{i}")
    wanted = dashboard.job(ws="ws-needle", ct="c-9", data={"message": "find me"})
    failed = dashboard.job(ws="ws-broken")
    dashboard.fail(failed, "Traceback (most recent call last):\nRuntimeError: backend said 500")
    dashboard.job(delay_ms=3_600_000)

    page = open_as(browser, ADMIN)
    page.goto(f"{dashboard.url}/admin/queues")
    row = page.locator('tr[data-queue="sms"]')
    expect(row.locator('td[data-count="waiting"]')).to_have_text("7")
    expect(row.locator('td[data-count="failed"]')).to_have_text("1")
    expect(row.locator('td[data-count="delayed"]')).to_have_text("1")
    expect(page.get_by_text("No workers alive")).to_be_visible()
    shot(page, "overview")

    dashboard.job(ws="ws-0")  # live: the count follows without a reload
    expect(row.locator('td[data-count="waiting"]')).to_have_text("8", timeout=10_000)

    row.get_by_role("link", name="sms").click()
    page.get_by_label("Workspace id").fill("ws-needle")
    page.get_by_role("button", name="Search", exact=True).click()
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(wanted)
    expect(rows.first).to_contain_text("c-9")
    shot(page, "queue")

    page.get_by_role("button", name="Clear").click()
    page.locator('.tabs a[data-tab="failed"]').click()
    page.get_by_role("link", name=failed).click()
    expect(page.locator("pre.error").first).to_contain_text("RuntimeError: backend said 500")
    expect(page.locator("#attempts")).to_contain_text("failed")
    shot(page, "job")
    page.get_by_role("button", name="Retry").click()
    expect(page.locator("#toast")).to_contain_text("job-retry")
    expect(page.locator("[data-job-state]")).to_have_text("waiting")  # no reload needed
    expect(page.locator("#audit")).to_contain_text("job-retry")
    expect(page.locator("#audit")).to_contain_text(ADMIN[0])
    assert api_state(dashboard, failed) == "waiting"

    page.goto(f"{dashboard.url}/admin/queues/queue/sms")
    page.get_by_role("button", name="Pause queue").click()
    expect(page.locator("#queue-state")).to_contain_text("paused")
    assert queue_paused(dashboard)
    page.get_by_role("button", name="Resume queue").click()
    expect(page.locator("#queue-state")).to_contain_text("running")
    assert not queue_paused(dashboard)

    # A request without the page's CSRF token: 403, nothing changes.
    status = page.evaluate(
        """async () => (await fetch("/admin/queues/actions/queue-pause", {method: "POST",
             headers: {"content-type": "application/json"},
             body: JSON.stringify({queue: "sms"})})).status"""
    )
    assert status == 403 and not queue_paused(dashboard)
    page.context.close()


def test_a_read_only_user_sees_but_cannot_change(browser: Browser, dashboard: Dashboard):
    failed = dashboard.job()
    dashboard.fail(failed)
    page = open_as(browser, VIEWER, width=390)  # a phone's width
    page.goto(f"{dashboard.url}/admin/queues/job/{failed}")
    expect(page.get_by_text("read-only")).to_be_visible()
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    shot(page, "job-phone-read-only")
    forged = page.evaluate(
        """async (jobId) => {
             const token = document.querySelector('meta[name="csrf-token"]').content;
             const answer = await fetch("/admin/queues/actions/job-retry", {method: "POST",
               headers: {"content-type": "application/json", "x-csrf-token": token},
               body: JSON.stringify({jobId})});
             return answer.status; }""",
        failed,
    )
    assert forged == 403
    assert api_state(dashboard, failed) == "failed"
    page.context.close()


UNNAMED = """() => [...document.querySelectorAll("button, input, textarea, select, a[href]")]
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                  && !el.textContent.trim())
  .map((el) => el.outerHTML.slice(0, 80))"""


def test_every_control_has_an_accessible_name_and_takes_the_keyboard(
    browser: Browser, dashboard: Dashboard
):
    failed = dashboard.job()
    dashboard.fail(failed)
    page = open_as(browser, ADMIN)
    for path in ("/admin/queues", "/admin/queues/queue/sms", f"/admin/queues/job/{failed}"):
        page.goto(dashboard.url + path)
        assert page.evaluate(UNNAMED) == [], path
    page.goto(f"{dashboard.url}/admin/queues/queue/sms?state=failed")
    page.get_by_label("Workspace id").focus()
    page.keyboard.type(dashboard.store.get(failed).workspace_id)  # type: ignore[union-attr]
    page.keyboard.press("Enter")  # the search runs from the keyboard
    expect(page.locator("#jobs tbody tr").first).to_contain_text(failed)
    page.context.close()


def test_live_refresh_pauses_while_the_tab_is_hidden(
    browser: Browser, dashboard: Dashboard, fast_refresh: None
):
    page = open_as(browser, ADMIN)
    page.goto(f"{dashboard.url}/admin/queues")
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/admin/queues") else None)
    until(page, lambda: len(polls) >= 2, "the page polling while visible")
    page.evaluate(
        """() => { Object.defineProperty(document, "hidden", {value: true, configurable: true});
                   document.dispatchEvent(new Event("visibilitychange")); }"""
    )
    expect(page.locator("#live-status")).to_have_text("paused (tab hidden)")
    page.wait_for_timeout(400)  # a poll already on its way may land
    seen = len(polls)
    page.wait_for_timeout(1500)  # five periods: none may fire while hidden
    assert len(polls) == seen
    page.evaluate(
        """() => { Object.defineProperty(document, "hidden", {value: false, configurable: true});
                   document.dispatchEvent(new Event("visibilitychange")); }"""
    )
    until(page, lambda: len(polls) > seen, "polling again once visible")
    page.context.close()
