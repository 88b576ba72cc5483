"""Cursor paging over one or more sorted sets of job ids, merged (a split queue's sub-queues).

Order: by score then member, newest (highest) first, or oldest first with ``ascending`` —
Redis' own order of a sorted set, ties included, so a position is "score ``s``, ``k`` members
of that score already taken" and each next page is one ``Z[REV]RANGEBYSCORE … LIMIT k n`` per
set: O(log N + n), never a scan. A member added or removed at exactly the cursor's score can
shift that page by one; no other change moves it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from shared.http import Problem

#: A set's position: (score, members of that score taken), or None before the first page;
#: ``DONE`` once it has nothing more.
Position = tuple[float, int] | None
DONE = "done"


@dataclass(frozen=True)
class Item:
    """One id of a page, with its score and the set it came from."""

    member: str
    score: float
    source: int


@dataclass
class Pager:
    """Pages over ``keys`` merged, from ``cursor`` (``encode``'s output) on."""

    client: Any
    keys: list[str]
    ascending: bool = False
    positions: list[Position | str] = field(default_factory=list)
    _fetched: list[Item] = field(default_factory=list, repr=False)  #: the last peek, whole
    _short: set[int] = field(default_factory=set, repr=False)  #: sets it found exhausted

    @classmethod
    def start(cls, client: Any, keys: list[str], cursor: str, *, ascending: bool = False) -> Pager:
        pager = cls(client, keys, ascending)
        pager.positions = decode(cursor, len(keys)) if cursor else [None] * len(keys)
        return pager

    @property
    def done(self) -> bool:
        return all(p == DONE for p in self.positions)

    def peek(self, n: int) -> list[Item]:
        """The next ``n`` items in order (the cursor does not move: see ``advance``)."""
        pipe = self.client.pipeline(transaction=False)
        live = [i for i, p in enumerate(self.positions) if p != DONE]
        for i in live:
            pos = self.positions[i]
            score, skip = pos if isinstance(pos, tuple) else (None, 0)
            if self.ascending:
                low = "-inf" if score is None else repr(score)
                pipe.zrangebyscore(self.keys[i], low, "+inf", skip, n, withscores=True)
            else:
                high = "+inf" if score is None else repr(score)
                pipe.zrevrangebyscore(self.keys[i], high, "-inf", skip, n, withscores=True)
        items: list[Item] = []
        self._short = set()
        for i, reply in zip(live, pipe.execute() if live else [], strict=True):
            if len(reply) < n:
                self._short.add(i)  # this set has nothing past what it returned
            items += [Item(str(m), float(s), i) for m, s in reply]
        items.sort(key=lambda it: (it.score, it.member), reverse=not self.ascending)
        self._fetched = items
        return items[:n]

    def advance(self, taken: list[Item]) -> None:
        """Move past ``taken`` (a prefix of the last ``peek``); a set whose every fetched
        item was taken and that returned fewer than asked is done."""
        for item in taken:
            pos = self.positions[item.source]
            if isinstance(pos, tuple) and pos[0] == item.score:
                self.positions[item.source] = (item.score, pos[1] + 1)
            else:
                self.positions[item.source] = (item.score, 1)
        left = {it.source for it in self._fetched[len(taken) :]}
        for i in self._short:
            if i not in left:
                self.positions[i] = DONE

    def cursor(self) -> str | None:
        """The cursor of the next page, None when every set is done."""
        return None if self.done else encode(self.positions)


def encode(positions: list[Position | str]) -> str:
    raw = json.dumps([p if p in (None, DONE) else list(p) for p in positions])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, sets: int) -> list[Position | str]:
    """A cursor back into positions; 422 when it is not one of this listing's."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != sets:
            raise ValueError
        out: list[Position | str] = []
        for p in raw:
            if p is None or p == DONE:
                out.append(p)
            else:
                score, taken = p
                if not isinstance(taken, int) or taken < 0:
                    raise ValueError
                out.append((float(score), taken))
        return out
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise Problem(
            422, "The cursor is not valid for this listing: use a nextCursor it returned."
        ) from None
