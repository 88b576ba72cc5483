"""Whether a submitted ``metadata.callbackEndpoint`` may be appended to a backend's URL."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

#: Longest ``metadata.callbackEndpoint``, in characters.
MAX_CALLBACK_PATH_CHARS = 2048
#: Layers of percent-encoding undone before a callback path is checked (``%252e`` has two).
MAX_DECODE_ROUNDS = 4

_PATH_SHAPE = "must be a path starting with a single '/' (e.g. /send-sms), not a URL"


def _dot_segment_error(form: str) -> str | None:
    """Why one spelling of a path (raw or decoded) is refused, or None."""
    if "\\" in form:
        return "must not contain a backslash (some servers read it as '/')"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in form):
        return "must not contain control characters, encoded or not"
    lowered = form.lower()
    if "%2f" in lowered or "%5c" in lowered:
        return "must not contain an encoded '/' or '\\'"
    for segment in unicodedata.normalize("NFKC", form).split("/"):
        name = segment.split(";", 1)[0].strip()
        if name and not name.strip("."):
            return "must not contain '.' or '..' segments, in any spelling (%2e, ..;, etc.)"
    return None


def callback_path_error(path: object) -> str | None:
    """Why ``path`` may not serve as ``metadata.callbackEndpoint``, or None when it may.

    Allowed: printable ASCII without spaces, at most :data:`MAX_CALLBACK_PATH_CHARS`,
    starting with exactly one ``/``. The part before ``?`` is then percent-decoded until it no
    longer changes (up to :data:`MAX_DECODE_ROUNDS` layers) and every spelling is refused if
    it has a backslash, a control character, an encoded ``/`` or ``\\``, or a dot segment
    (``.``, ``..``, also with ``;params`` or Unicode look-alikes): a backend that decodes or
    normalises the path must not be led outside the endpoint it configured.
    """
    if not (
        isinstance(path, str)
        and path.startswith("/")
        and not path.startswith("//")
        and len(path) <= MAX_CALLBACK_PATH_CHARS
        and all("!" <= c <= "~" for c in path)
    ):
        return _PATH_SHAPE
    form = path.split("?", 1)[0]
    for _ in range(MAX_DECODE_ROUNDS + 1):
        if reason := _dot_segment_error(form):
            return reason
        decoded = unquote(form)
        if decoded == form:
            return None
        form = decoded
    return f"must not be percent-encoded more than {MAX_DECODE_ROUNDS} times over"
