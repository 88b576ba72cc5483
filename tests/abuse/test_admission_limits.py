"""``POST /api/ai-response`` admission limits under hostile use: one organisation cannot spend
another's allowance, and neither a chosen ``rate_limit_key`` nor a respelled contact escapes the
per-contact limit; limiter keys cannot collide across ``:``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from local.gateway import build_app
from shared.http.ratelimit import Limit, admit, limiter_key
from shared.schemas import canonical_contact
from shared.settings import settings
from tests.servers import serve

KEYS = {"orga": "key-a-0123456789", "orgb": "key-b-0123456789"}
BODY = {
    "workspace_id": "ws-1", "contact_id": "+14155550199", "message_id": "m1",
    "message_text": "Can I move my appointment?", "callback_url": "http://127.0.0.1:9/cb",
}  # fmt: skip


class Api:
    """The gateway with a client per organisation."""

    def __init__(self, url: str) -> None:
        self.clients = {
            org: httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"})
            for org, key in KEYS.items()
        }

    def post(self, org: str, **fields: Any) -> int:
        answer = self.clients[org].post("/api/ai-response", json=BODY | fields)
        assert answer.status_code in (202, 429), answer.text
        return answer.status_code


@pytest.fixture
def api(redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """Two organisations; 3 per contact, 6 per workspace, per minute."""
    monkeypatch.setattr(settings, "api_keys", ",".join(f"{o}:{k}" for o, k in KEYS.items()))
    monkeypatch.setattr(settings, "ai_response_limit_per_contact", 3)
    monkeypatch.setattr(settings, "ai_response_limit_per_workspace", 6)
    with serve(build_app()) as url:
        api = Api(url)
        yield api
        for client in api.clients.values():
            client.close()


def test_one_organisation_cannot_exhaust_another_organisations_contact_or_workspace(api: Api):
    assert [api.post("orgb") for _ in range(4)] == [202, 202, 202, 429]
    others = [api.post("orgb", contact_id=f"c{i}") for i in range(4)]
    assert others == [202, 202, 202, 429], "orgb's workspace ws-1 is full (6)"
    assert [api.post("orga") for _ in range(3)] == [202] * 3, "orga's same ids are untouched"
    assert [api.post("orga", contact_id=f"c{i}") for i in range(3)] == [202] * 3
    assert api.post("orga", contact_id="c9") == 429


@pytest.mark.parametrize(
    "spelling",
    [
        "+1 415 555 0199",
        "+1 (415) 555-0199",
        "+1.415.555.0199",
        "14155550199",
        "0014155550199",
        "+14155550199\u200b",
        "\u2060+1415555\u00ad0199\ufeff",
        "\uff0b\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff19\uff19",  # full width
    ],
    ids=repr,
)
def test_a_respelled_contact_counts_against_the_same_limit(api: Api, spelling: str):
    assert [api.post("orga") for _ in range(3)] == [202] * 3
    assert api.post("orga", contact_id=spelling) == 429


def test_a_respelled_non_phone_contact_counts_against_the_same_limit(api: Api):
    spellings = ["bob@example.com", "Bob@Example.com", "bob@example.com\u200b"]
    assert [api.post("orga", contact_id=s) for s in spellings] == [202] * 3
    assert api.post("orga", contact_id="BOB@EXAMPLE.COM") == 429


def test_a_chosen_rate_limit_key_adds_a_limit_and_never_escapes_the_contacts(api: Api):
    assert [api.post("orga", rate_limit_key=f"k{i}") for i in range(3)] == [202] * 3
    assert api.post("orga", rate_limit_key="fresh") == 429, "the contact's limit still holds"
    assert api.post("orga", rate_limit_key="ws-1:other") == 429
    shared = [api.post("orga", contact_id=f"x{i}", rate_limit_key="team") for i in range(3)]
    assert shared == [202] * 3
    assert api.post("orga", contact_id="x9", rate_limit_key="team") == 429, "the key's own limit"


def test_a_chosen_rate_limit_key_never_escapes_the_workspace_limit(api: Api):
    codes = [api.post("orga", contact_id=f"c{i}", rate_limit_key=f"k{i}") for i in range(7)]
    assert codes == [202] * 6 + [429]


def test_ids_joined_with_colons_do_not_collide(api: Api):
    assert [api.post("orga", workspace_id="a:b", contact_id="c") for _ in range(3)] == [202] * 3
    assert api.post("orga", workspace_id="a", contact_id="b:c") == 202
    assert api.post("orga", workspace_id="a:b", contact_id="c") == 429


def test_limiter_keys_carry_the_organisation_as_hash_tag_and_encode_every_part(
    redis_prefix: str, r: redis.Redis
):
    limit = Limit("ai-response:contact", 1, 60_000)
    left = limiter_key("org", limit, ("a:b", "c"))
    right = limiter_key("org", limit, ("a", "b:c"))
    assert left != right
    assert left.startswith(f"{redis_prefix}:rl:{{org}}:")
    assert limiter_key("o}x", limit, ("{w}",)).count("{") == 1, "one hash tag, the org's"
    assert admit([(limit, ("a:b", "c"))], org="org").admitted
    assert admit([(limit, ("a", "b:c"))], org="org").admitted
    assert admit([(limit, ("a:b", "c"))], org="other").admitted
    assert not admit([(limit, ("a:b", "c"))], org="org").admitted


def test_canonical_contact_spells_phones_as_e164_and_other_ids_folded():
    assert canonical_contact("+1 (415) 555-0199\u200b") == "+14155550199"
    assert canonical_contact("Bob@Example.COM\ufeff") == "bob@example.com"
    assert canonical_contact("12345") == "12345", "too short for a phone number: kept"
