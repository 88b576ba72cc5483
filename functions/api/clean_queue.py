"""POST /api/queues/{name}/clean ``{state, graceMs, limit}``: delete up to ``limit`` jobs in
``state`` older than ``graceMs`` (admin)."""

from __future__ import annotations

from shared.admin.queues import CleanBody, Cleaned, clean, known_queue
from shared.http import Request, http_handler


@http_handler(auth="admin", body=CleanBody, response=Cleaned)
def handler(request: Request[CleanBody]) -> Cleaned:
    name, body = known_queue(request.path_params.get("name", "")), request.body
    removed = clean(name, body.state, body.graceMs, body.limit)
    return Cleaned(queue=name, state=body.state, removed=removed)
