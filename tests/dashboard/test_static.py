"""The dashboard's script and stylesheet (shared/dashboard/static.py)."""

from __future__ import annotations

import pytest

from shared.dashboard.static import CONTENT_TYPES, STATIC, static_file
from shared.http import Problem


def test_every_static_file_has_its_content_type():
    files = [p for p in STATIC.iterdir() if p.is_file()]
    assert files and {p.suffix for p in files} <= set(CONTENT_TYPES)
    answer = static_file("dashboard.js")
    assert answer.content_type == "text/javascript; charset=utf-8"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert static_file("dashboard.css").content_type == "text/css; charset=utf-8"


@pytest.mark.parametrize("name", ["../render.py", "missing.js", ""])
def test_anything_else_is_a_404(name: str):
    with pytest.raises(Problem) as caught:
        static_file(name)
    assert caught.value.status == 404
