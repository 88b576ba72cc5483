"""The dashboard's HTML: Jinja2 templates (autoescaped) and the headers every page carries.

Pages load only the project's own script and stylesheet (``static/``, served by
``shared.dashboard.static``), the script through a per-response nonce: ``script-src
'nonce-…'``, no inline script or style attribute, no other origin, no framing.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from shared.dashboard.access import Viewer, csrf_token
from shared.http import Response

BASE = "/admin/queues"
#: How often an open page refreshes its counts and lists, in ms (while the tab is visible).
REFRESH_MS = 5000
TEMPLATES = Path(__file__).with_name("templates")


def _when(ms: int | None) -> str:
    """Epoch ms as ``YYYY-MM-DD HH:MM:SS`` UTC ("—" for none)."""
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _age(ms: int | None, now_ms: int) -> str:
    """How long ago ``ms`` was, e.g. ``3m 12s`` ("—" for none)."""
    if not ms:
        return "—"
    s = max(0, (now_ms - ms) // 1000)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(when=_when, pretty=_pretty)
ENV.globals.update(age=_age, base=BASE)


def security_headers(nonce: str) -> dict[str, str]:
    return {
        "content-security-policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'"
        ),
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "same-origin",
        "cache-control": "no-store",
    }


def page(template: str, viewer: Viewer, **context: Any) -> Response:
    """``template`` rendered for ``viewer`` (with a fresh nonce and CSRF token)."""
    nonce = secrets.token_urlsafe(18)
    html = ENV.get_template(template).render(
        nonce=nonce, viewer=viewer, csrf=csrf_token(viewer), refresh_ms=REFRESH_MS, **context
    )
    return Response(html, content_type="text/html; charset=utf-8", headers=security_headers(nonce))
