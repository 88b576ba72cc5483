"""Logging set-up: one line per record, with ``key=value`` context (``job_id`` …) appended."""

from __future__ import annotations

import logging

#: Extra record attributes appended to a line when present.
CONTEXT_FIELDS = ("job_id", "queue", "request_id", "function")


class ContextFormatter(logging.Formatter):
    """The standard format plus ``key=value`` for each context field the record carries."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{f}={getattr(record, f)}" for f in CONTEXT_FIELDS if getattr(record, f, "")]
        return f"{line} {' '.join(extras)}" if extras else line


def configure(level: str = "INFO") -> None:
    """Send records to stderr in the service's format (idempotent)."""
    handler = logging.StreamHandler()
    handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
