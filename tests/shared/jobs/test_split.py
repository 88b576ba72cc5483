"""Splitting a queue into sub-queues: names, id codes, hash tags spread over the slots, and the
queue-wide limits shared out (the end-to-end behaviour is in tests/faults/test_split_queue.py)."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from shared.jobs.queues import QUEUES, Rate, effective, share, split, spread_tag


@pytest.mark.parametrize("total", [1, 5, 50, 51])
@pytest.mark.parametrize("shards", [2, 3, 4, 7])
def test_shares_add_up_and_differ_by_one_at_most(total: int, shards: int) -> None:
    parts = [share(total, i, shards) for i in range(shards)]
    assert max(parts) - min(parts) <= 1 and min(parts) >= 1
    assert sum(parts) == max(total, shards)  # a part is never 0: no sub-queue stalls


@pytest.mark.parametrize("shards", [2, 3, 4, 8, 26])
def test_sub_queue_tags_fall_in_their_part_of_the_slots(shards: int) -> None:
    slots = [key_slot(spread_tag("sms", i, shards).encode()) for i in range(shards)]
    assert [slot * shards // 16384 for slot in slots] == list(range(shards))


def test_sub_queues_have_own_names_codes_and_a_share_of_the_limits() -> None:
    parts = split(QUEUES["sms"], 3)
    assert [p.name for p in parts] == ["sms.0", "sms.1", "sms.2"]
    assert [p.code for p in parts] == ["Sa", "Sb", "Sc"]
    assert {p.part_of for p in parts} == {"sms"}
    limits = [effective(p) for p in parts]
    # the seed's 50/s and 5 at once, shared; a per-workspace limit would hold whole
    assert [lim.limiter for lim in limits] == [Rate(17, 1000), Rate(17, 1000), Rate(16, 1000)]
    assert [lim.concurrency for lim in limits] == [2, 2, 1]
    assert split(QUEUES["sms"], 1) == [QUEUES["sms"]]
    with pytest.raises(ValueError, match="1 to 26"):
        split(QUEUES["sms"], 27)
