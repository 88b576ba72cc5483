"""GET /api/admin/jobs?queue=&state=&workspaceId=&contactId=&q=&org=&limit=&cursor=: search one
queue's jobs through the job store's indexes (dashboard admin or read-only user)."""

from __future__ import annotations

from typing import Any

from shared.dashboard.access import sign_in
from shared.dashboard.search import JobPage, search
from shared.http import Problem, Request, http_handler


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return 50
    if not value.strip().isdigit():
        raise Problem(422, f"limit must be a whole number, not {value!r}.")
    return int(value)


@http_handler(auth="none", response=JobPage)
def handler(request: Request[Any]) -> JobPage:
    sign_in(request.headers, read_only=True)
    p = request.query
    return search(
        queue=p.get("queue", ""), state=p.get("state", ""), workspace_id=p.get("workspaceId", ""),
        contact_id=p.get("contactId", ""), q=p.get("q", ""), org=p.get("org", ""),
        limit=_limit(p.get("limit")), cursor=p.get("cursor", ""),
    )  # fmt: skip
