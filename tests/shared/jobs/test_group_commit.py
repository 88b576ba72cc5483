"""Group commit: concurrent creates through the gateway share script calls, and each request
still gets its own answer (new job, idempotent replay, or conflict)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from local.gateway import build_app
from shared.jobs import group_commit
from shared.jobs.store import JobStore

HOUR_MS = 3_600_000


@dataclass
class Sent:
    """One request of the scenario and its answer."""

    kind: str
    text: str  #: the SMS message sent
    key: str | None  #: its Idempotency-Key
    answer: httpx.Response

    @property
    def job_id(self) -> str:
        return str(self.answer.json()["jobId"])


def _pairs(sent: list[Sent]) -> list[list[Sent]]:
    """``sent`` grouped by idempotency key (each key was sent twice)."""
    by_key: dict[str | None, list[Sent]] = {}
    for s in sent:
        by_key.setdefault(s.key, []).append(s)
    assert all(len(pair) == 2 for pair in by_key.values())
    return list(by_key.values())


def sms(text: str) -> dict[str, Any]:
    return {
        "phoneNumber": "+14155550100",
        "message": text,
        "contactId": "contact-1",
        "workspaceId": "ws-group-commit",
        "delay": HOUR_MS,
    }


async def _post(
    client: httpx.AsyncClient, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {"idempotency-key": key} if key else {}
    return await client.post("/api/schedule-sms", json=body, headers=headers)


@pytest.mark.usefixtures("redis_prefix")
def test_200_concurrent_creates_each_get_their_own_answer(api_key: str) -> None:
    app = build_app(threads=0)
    store = JobStore()

    async def scenario() -> tuple[int, list[Sent], dict[str, str]]:
        transport = httpx.ASGITransport(app=app)
        auth = {"authorization": f"Bearer {api_key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway", headers=auth
        ) as client:
            first: dict[str, str] = {}  # earlier keyed requests: key -> job id
            for i in range(60):
                response = await _post(client, sms(f"earlier {i}"), f"k{i}")
                assert response.status_code == 202, response.text
                first[f"k{i}"] = response.json()["jobId"]
            calls_before = group_commit.for_running_loop().calls
            kinds: list[tuple[str, dict[str, Any], str | None]] = []
            kinds += [("new", sms(f"new {i}"), None) for i in range(80)]
            kinds += [("replay", sms(f"earlier {i}"), f"k{i}") for i in range(30)]
            kinds += [("conflict", sms(f"changed {i}"), f"k{30 + i}") for i in range(30)]
            kinds += [("twin", sms(f"twin {j}"), f"t{j}") for j in range(20) for _ in range(2)]
            kinds += [("rival", sms(f"rival {j}.{s}"), f"r{j}") for j in range(10) for s in (1, 2)]
            assert len(kinds) == 200
            answers = await asyncio.gather(*(_post(client, body, key) for _, body, key in kinds))
            calls = group_commit.for_running_loop().calls - calls_before
        sent = [
            Sent(k, b["message"], key, a) for (k, b, key), a in zip(kinds, answers, strict=True)
        ]
        return calls, sent, first

    before = store.count("sms", "delayed")
    calls, sent, first = asyncio.run(scenario())
    assert calls < 100, f"200 concurrent creates took {calls} script calls: no group commit"

    def stored_text(job_id: str) -> str:
        job = store.get(job_id)
        assert job is not None, job_id
        return str(job.data["message"])

    def of(kind: str) -> list[Sent]:
        return [s for s in sent if s.kind == kind]

    new_ids = set()
    for s in of("new"):
        assert s.answer.status_code == 202, s.answer.text
        assert "idempotent-replayed" not in s.answer.headers
        assert stored_text(s.job_id) == s.text
        new_ids.add(s.job_id)
    assert len(new_ids) == 80
    for s in of("replay"):
        assert s.answer.status_code == 202, s.answer.text
        assert s.answer.headers["idempotent-replayed"] == "true"
        assert s.job_id == first[str(s.key)]
    for s in of("conflict"):
        assert s.answer.status_code == 422, s.answer.text
        assert s.answer.headers["content-type"] == "application/problem+json"
        assert first[str(s.key)] in s.answer.json()["detail"]
    for pair in _pairs(of("twin")):
        assert [s.answer.status_code for s in pair] == [202, 202]
        assert len({s.job_id for s in pair}) == 1
        replayed = sorted(s.answer.headers.get("idempotent-replayed", "") for s in pair)
        assert replayed == ["", "true"]
        assert stored_text(pair[0].job_id) == pair[0].text
    for pair in _pairs(of("rival")):
        assert sorted(s.answer.status_code for s in pair) == [202, 422]
        won = next(s for s in pair if s.answer.status_code == 202)
        assert stored_text(won.job_id) == won.text
    # 60 earlier + 80 new + 20 twins + 10 rivals: nothing more, nothing less
    assert store.count("sms", "delayed") - before == 60 + 80 + 20 + 10


@pytest.mark.usefixtures("redis_prefix")
def test_a_lone_create_outside_the_gateway_takes_the_blocking_path() -> None:
    """Lambda, workers and tests call handlers directly: no loop, no group commit."""
    from shared.jobs.queues import QUEUES
    from shared.jobs.store import NewJob

    spec = QUEUES["sms"]
    job = NewJob(queue="sms", actor=spec.actor, data={"message": "direct"}, due_ms=0,
                 delay_ms=HOUR_MS, max_attempts=1)  # fmt: skip
    (created,) = group_commit.create_many([job])
    assert created.status == "created"
    stored = JobStore().get(created.job_id)
    assert stored is not None and stored.state == "delayed"
