"""HTTP adapter: API Gateway HTTP API (payload v2.0) events in, Lambda proxy responses out."""

from shared.http.adapter import Request, Response, http_handler
from shared.http.problems import Problem

__all__ = ["Problem", "Request", "Response", "http_handler"]
