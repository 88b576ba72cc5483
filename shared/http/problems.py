"""RFC 9457 problem details (``application/problem+json``) as Lambda proxy responses."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError

#: Media type of every error body this service returns.
PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    """An HTTP error that becomes a problem+json response.

    ``extensions`` become extra members of the body (e.g. ``errors`` for 422).
    """

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title or HTTPStatus(status).phrase)
        self.status = status
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document."""
        doc: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status}
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        doc.update(self.extensions)
        return doc

    def to_response(self, instance: str | None = None) -> dict[str, Any]:
        """A Lambda proxy response carrying this problem."""
        return {
            "statusCode": self.status,
            "headers": {"content-type": PROBLEM_CONTENT_TYPE, **self.headers},
            "body": json.dumps(self.body(instance)),
            "isBase64Encoded": False,
        }


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as ``[{field, message, type}]`` with dotted field paths."""
    errors = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"]) or "body"
        errors.append({"field": field, "message": err["msg"], "type": err["type"]})
    return errors


def validation_problem(exc: ValidationError) -> Problem:
    """422 listing every invalid field."""
    return invalid_fields(field_errors(exc))


def invalid_fields(errors: list[dict[str, str]]) -> Problem:
    """422 listing ``errors`` (``[{field, message, type}]``)."""
    return Problem(
        422,
        f"{len(errors)} invalid field(s): " + ", ".join(e["field"] for e in errors),
        title="Validation failed",
        errors=errors,
    )
