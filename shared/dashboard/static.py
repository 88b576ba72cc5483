"""The dashboard's own script and stylesheet (``static/``), served without the template engine:
``GET /admin/queues/static/{file}`` imports only this (no Jinja2 at its cold start)."""

from __future__ import annotations

from pathlib import Path

from shared.http import Problem, Response

STATIC = Path(__file__).with_name("static")
#: Content type by suffix of the files in ``static/`` (tests/dashboard keep it complete).
CONTENT_TYPES = {".css": "text/css", ".js": "text/javascript"}


def static_file(name: str) -> Response:
    """One of the project's static files (``static/``); 404 for anything else."""
    files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
    if name not in files:
        raise Problem(404, f"No dashboard file {name!r}.")
    kind = CONTENT_TYPES.get(files[name].suffix, "application/octet-stream")
    return Response(
        files[name].read_text(),
        content_type=f"{kind}; charset=utf-8",
        headers={"cache-control": "private, max-age=300", "x-content-type-options": "nosniff"},
    )
