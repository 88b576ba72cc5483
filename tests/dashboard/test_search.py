"""GET /api/admin/jobs: answered from the job store's indexes (state, workspace, contact, id),
paged by cursor without gaps or repeats (ties included), text search bounded and saying so;
the indexes go with their jobs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.dashboard import search as search_module
from shared.jobs.indexes import contact_index, workspace_index
from shared.jobs.store import NewJob
from shared.settings import settings
from tests.dashboard.conftest import Dashboard


def find(client: httpx.Client, status: int = 200, **params: Any) -> dict[str, Any]:
    answer = client.get("/api/admin/jobs", params=params)
    assert answer.status_code == status, answer.text
    return answer.json()  # type: ignore[no-any-return]


def every_page(client: httpx.Client, **params: Any) -> list[str]:
    ids, cursor = [], ""
    for _ in range(100):
        page = find(client, **params, **({"cursor": cursor} if cursor else {}))
        ids += [j["id"] for j in page["jobs"]]
        cursor = page["nextCursor"]
        if not cursor:
            return ids
    raise AssertionError("paging did not end")


def test_search_by_workspace_and_contact_reads_their_indexes(dashboard: Dashboard):
    mine = [dashboard.job(ws="ws-a", ct=f"c{i % 2}") for i in range(5)]
    others = [dashboard.job(ws="ws-b") for _ in range(3)]
    admin = dashboard.client()
    page = find(admin, queue="sms", workspaceId="ws-a")
    assert page["source"] == "workspace" and page["search"] is None
    assert sorted(j["id"] for j in page["jobs"]) == sorted(mine)
    created = [j["createdAt"] for j in page["jobs"]]
    assert created == sorted(created, reverse=True)  # newest first (ms; ties by id)
    assert {j["workspaceId"] for j in page["jobs"]} == {"ws-a"}
    by_contact = find(admin, queue="sms", workspaceId="ws-a", contactId="c1")
    assert sorted(j["id"] for j in by_contact["jobs"]) == sorted([mine[3], mine[1]])
    key = dashboard.store.qkey("sms", "idx", workspace_index("acme", "ws-b"))
    assert dashboard.store.client.zcard(key) == len(others)
    row = page["jobs"][0]
    assert row["state"] == "waiting" and row["type"] == "sms" and row["org"] == "acme"
    assert row["attempts"] == 0 and row["maxAttempts"] == 3 and row["stateSince"]


def test_paging_covers_every_job_once_even_when_they_share_a_timestamp(dashboard: Dashboard):
    jobs = [
        NewJob(queue="sms", actor="sms", data={"n": i}, due_ms=0, delay_ms=0, max_attempts=1,
               workspace_id="bulk", contact_id=f"c{i}")
        for i in range(23)
    ]  # fmt: skip
    created = [c.job_id for c in dashboard.store.create_many(jobs)]  # one call: one NOW for all
    admin = dashboard.client()
    for params in ({"workspaceId": "bulk"}, {"state": "waiting"}):
        ids = every_page(admin, queue="sms", limit=5, **params)
        assert sorted(ids) == sorted(created) and len(ids) == len(set(ids)), params


def test_state_lists_and_the_state_filter_of_an_index(dashboard: Dashboard):
    failed = dashboard.job(ws="ws-f")
    dashboard.fail(failed, "ValueError: no route")
    waiting = dashboard.job(ws="ws-f")
    delayed = [dashboard.job(ws="ws-f", delay_ms=ms) for ms in (90_000, 60_000)]
    admin = dashboard.client()
    assert [j["id"] for j in find(admin, queue="sms", state="failed")["jobs"]] == [failed]
    soonest = find(admin, queue="sms", state="delayed")["jobs"]
    assert [j["id"] for j in soonest] == delayed[::-1]  # delayed: soonest due first
    only = find(admin, queue="sms", workspaceId="ws-f", state="waiting")
    assert [j["id"] for j in only["jobs"]] == [waiting]
    assert only["search"]["scanned"] == 4 and only["search"]["complete"] is True


def test_a_job_id_finds_its_job_in_any_queue(dashboard: Dashboard):
    job = dashboard.job("email", data={"to": "x@example.com"})
    admin = dashboard.client()
    page = find(admin, q=job)
    assert page["source"] == "id" and [j["id"] for j in page["jobs"]] == [job]
    assert page["queue"] == "email"
    assert find(admin, q=job, queue="sms")["jobs"] == []  # another queue's job


def test_text_search_scans_a_bounded_window_and_says_so(
    dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(search_module, "SEARCH_WINDOW", 20)
    monkeypatch.setattr(search_module, "SCAN_CHUNK", 7)
    needle = dashboard.job(data={"message": "Order #A-77 shipped"})  # the oldest
    for i in range(45):
        dashboard.job(data={"message": f"routine {i}"})
    admin = dashboard.client()
    first = find(admin, queue="sms", state="waiting", q="order #a-77")
    assert first["jobs"] == [] and first["search"]["scanned"] == 20
    assert first["search"]["complete"] is False and "at most 20" in first["search"]["note"]
    found: list[str] = []
    cursor = first["nextCursor"]
    while cursor and not found:
        page = find(admin, queue="sms", state="waiting", q="order #a-77", cursor=cursor)
        assert page["search"]["scanned"] <= 20
        found, cursor = [j["id"] for j in page["jobs"]], page["nextCursor"]
    assert found == [needle]


def test_a_removed_job_leaves_its_indexes(dashboard: Dashboard):
    job = dashboard.job(ws="gone-ws", ct="gone-ct")
    client, store = dashboard.store.client, dashboard.store
    keys = [store.qkey("sms", "idx", workspace_index("acme", "gone-ws")),
            store.qkey("sms", "idx", contact_index("acme", "gone-ws", "gone-ct"))]  # fmt: skip
    assert all(client.zscore(k, job) is not None for k in keys)
    assert store.cancel(job) == "cancelled"
    assert not any(client.exists(k) for k in keys)
    assert find(dashboard.client(), queue="sms", workspaceId="gone-ws")["jobs"] == []


def test_odd_workspace_ids_get_an_index_of_their_own(dashboard: Dashboard):
    odd = dashboard.job(ws="acme corp:eu", ct="a b")
    plain = dashboard.job(ws="acme", ct="corp:eu")
    admin = dashboard.client()
    assert [j["id"] for j in find(admin, queue="sms", workspaceId="acme corp:eu")["jobs"]] == [odd]
    page = find(admin, queue="sms", workspaceId="acme", contactId="corp:eu")
    assert [j["id"] for j in page["jobs"]] == [plain]


@pytest.mark.parametrize(
    "params, status, says",
    [({"state": "waiting"}, 422, "queue"),
     ({"queue": "nope", "state": "waiting"}, 404, "sms"),
     ({"queue": "sms"}, 422, "state"),
     ({"queue": "sms", "state": "sleeping"}, 422, "state must be"),
     ({"queue": "sms", "contactId": "c"}, 422, "workspaceId"),
     ({"queue": "sms", "state": "waiting", "limit": "0"}, 422, "limit"),
     ({"queue": "sms", "state": "waiting", "limit": "x"}, 422, "limit"),
     ({"queue": "sms", "state": "waiting", "cursor": "bm9wZQ"}, 422, "cursor")],
)  # fmt: skip
def test_bad_queries_are_clear_4xx(dashboard: Dashboard, params, status, says):
    assert says in find(dashboard.client(), status, **params)["detail"]


def test_text_search_finds_non_ascii_and_quoted_text(dashboard: Dashboard):
    accented = dashboard.job(data={"message": 'Café "Zürich" order'})
    dashboard.job(data={"message": "plain"})
    admin = dashboard.client()
    for text in ("café", "ZÜRICH", '"zürich"'):
        page = find(admin, queue="sms", state="waiting", q=text)
        assert [j["id"] for j in page["jobs"]] == [accented], text


def test_two_organisations_with_one_workspace_id_never_share_an_index(
    dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "api_keys", "acme:dash-test-key,globex:globex-test-key")
    admin = dashboard.client()
    ours = [dashboard.job(ws="ws-shared", ct="c1") for _ in range(2)]
    theirs = dashboard.job(ws="ws-shared", ct="c1", org="globex")
    store = dashboard.store
    assert store.client.zcard(store.qkey("sms", "idx", workspace_index("acme", "ws-shared"))) == 2
    assert store.client.zcard(store.qkey("sms", "idx", workspace_index("globex", "ws-shared"))) == 1
    # an admin sees both without naming an organisation (API_KEYS names both), or one with org=
    every = find(admin, queue="sms", workspaceId="ws-shared")
    assert sorted(j["id"] for j in every["jobs"]) == sorted([*ours, theirs])
    only = find(admin, queue="sms", workspaceId="ws-shared", contactId="c1", org="globex")
    assert [j["id"] for j in only["jobs"]] == [theirs] and only["search"] is None
