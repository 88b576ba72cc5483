"""Reads ``serverless.yml``: the functions, their HTTP routes and their schedules."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml


def _default_path() -> Path:
    """serverless.yml at the project root beside this code (a checkout, an editable install),
    else in the working directory: ``pip install .`` puts the code in site-packages, and the
    platforms and units run ``qs`` from the project folder."""
    beside = Path(__file__).resolve().parent.parent / "serverless.yml"
    return beside if beside.exists() else Path.cwd() / "serverless.yml"


#: The manifest at the project root.
DEFAULT_PATH = _default_path()

#: Lambda's default timeout when neither the function nor the provider sets one, in seconds.
DEFAULT_TIMEOUT_S = 6

_HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "*"}


class ManifestError(ValueError):
    """``serverless.yml`` says something the emulator cannot honour."""


@dataclass(frozen=True)
class HttpRoute:
    """One ``httpApi`` event: method (``*`` for any) and path with ``{param}`` placeholders."""

    method: str
    path: str


@dataclass(frozen=True)
class Schedule:
    """One ``schedule`` event: AWS ``rate()``/``cron()`` expressions and the optional input;
    ``timezone`` (IANA, with Serverless v3's ``method: scheduler``) is the wall clock the
    expressions are read on (None: UTC)."""

    expressions: tuple[str, ...]
    input: Any = None
    enabled: bool = True
    name: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class Function:
    """One entry of ``functions:``."""

    name: str
    handler: str  #: serverless notation, e.g. ``functions/api/health.handler``
    timeout_s: int
    routes: tuple[HttpRoute, ...] = ()
    schedules: tuple[Schedule, ...] = ()

    @property
    def module(self) -> str:
        """The Python module of the handler: ``functions.api.health``."""
        path, _, _ = self.handler.rpartition(".")
        return path.replace("/", ".")

    @property
    def attribute(self) -> str:
        return self.handler.rpartition(".")[2]

    def load(self) -> Callable[..., Any]:
        """Import the handler (once per process; Python caches the module)."""
        handler: Callable[..., Any] = getattr(importlib.import_module(self.module), self.attribute)
        return handler


@dataclass
class Manifest:
    service: str
    stage: str
    region: str
    functions: dict[str, Function] = field(default_factory=dict)

    @cached_property
    def routes(self) -> list[tuple[HttpRoute, Function]]:
        return [(route, fn) for fn in self.functions.values() for route in fn.routes]

    def lambda_name(self, function: str) -> str:
        """The deployed Lambda name, ``service-stage-function``."""
        return f"{self.service}-{self.stage}-{function}"

    def find(self, name: str) -> Function:
        """A function by its short name or its full Lambda name."""
        for fn in self.functions.values():
            if name in (fn.name, self.lambda_name(fn.name)):
                return fn
        raise KeyError(name)


_VARIABLE = re.compile(r"\$\{[^}]*\}")


def _literal(value: Any, default: str) -> str:
    """A plain value; unresolved ``${...}`` variables fall back to ``default`` locally."""
    if not isinstance(value, str):
        return default if value is None else str(value)
    match = re.fullmatch(r"\$\{opt:stage,\s*'([^']*)'\}", value)
    if match:
        return match.group(1)
    return default if _VARIABLE.search(value) else value


def _route(fn_name: str, spec: Any) -> HttpRoute:
    if isinstance(spec, str):  # "GET /path" or "*"
        if spec.strip() == "*":
            return HttpRoute("*", "/{proxy+}")
        method, _, path = spec.strip().partition(" ")
        spec = {"method": method, "path": path}
    if not isinstance(spec, dict) or "path" not in spec:
        raise ManifestError(f"function {fn_name!r}: httpApi event needs 'method' and 'path'")
    method = str(spec.get("method", "*")).upper()
    if method not in _HTTP_METHODS:
        raise ManifestError(f"function {fn_name!r}: unknown HTTP method {method!r}")
    path = str(spec["path"])
    if not path.startswith("/"):
        raise ManifestError(f"function {fn_name!r}: path {path!r} must start with '/'")
    return HttpRoute(method, path)


def _schedule(fn_name: str, spec: Any) -> Schedule:
    if isinstance(spec, str):
        return Schedule((spec.strip(),))
    if not isinstance(spec, dict) or "rate" not in spec:
        raise ManifestError(f"function {fn_name!r}: schedule event needs 'rate'")
    rate = spec["rate"]
    expressions = tuple(str(r).strip() for r in (rate if isinstance(rate, list) else [rate]))
    return Schedule(
        expressions,
        input=spec.get("input"),
        enabled=bool(spec.get("enabled", True)),
        name=spec.get("name"),
        timezone=_timezone(fn_name, spec),
    )


def _timezone(fn_name: str, spec: dict[str, Any]) -> str | None:
    """A schedule's IANA ``timezone``; as in Serverless v3, only with ``method: scheduler``
    (EventBridge Scheduler: rules of the default ``eventBus`` method run in UTC)."""
    method = spec.get("method", "eventBus")
    if method not in ("eventBus", "scheduler"):
        raise ManifestError(
            f"function {fn_name!r}: schedule method {method!r} is not 'eventBus' or 'scheduler'"
        )
    timezone = spec.get("timezone")
    if timezone is None:
        return None
    if method != "scheduler":
        raise ManifestError(
            f"function {fn_name!r}: a schedule timezone needs 'method: scheduler' "
            "(EventBridge rules run in UTC)"
        )
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ManifestError(
            f"function {fn_name!r}: unknown schedule timezone {timezone!r} "
            "(an IANA name such as 'Europe/Berlin')"
        ) from None
    return str(timezone)


def load(path: Path | str = DEFAULT_PATH) -> Manifest:
    """Parse ``serverless.yml``; malformed entries raise ``ManifestError`` naming the function."""
    doc = yaml.safe_load(Path(path).read_text())
    provider = doc.get("provider") or {}
    manifest = Manifest(
        service=str(doc.get("service", "service")),
        stage=_literal(provider.get("stage"), "dev"),
        region=_literal(provider.get("region"), "us-east-1"),
    )
    default_timeout = int(provider.get("timeout", DEFAULT_TIMEOUT_S))
    for name, spec in (doc.get("functions") or {}).items():
        if not isinstance(spec, dict) or "handler" not in spec:
            raise ManifestError(f"function {name!r} has no handler")
        routes, schedules = [], []
        for event in spec.get("events") or []:
            if "httpApi" in event:
                routes.append(_route(name, event["httpApi"]))
            elif "schedule" in event:
                schedules.append(_schedule(name, event["schedule"]))
            else:
                raise ManifestError(
                    f"function {name!r}: event {next(iter(event))!r} is not emulated "
                    "(only httpApi and schedule are)"
                )
        manifest.functions[name] = Function(
            name=name,
            handler=str(spec["handler"]),
            timeout_s=int(spec.get("timeout", default_timeout)),
            routes=tuple(routes),
            schedules=tuple(schedules),
        )
    return manifest
