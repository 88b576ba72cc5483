"""A container's health check: ``python -m local.healthcheck [worker|scheduler|gateway]``.

Exit 0 when this container's process is alive, 1 when not (Docker ``HEALTHCHECK``, ECS
``healthCheck``). A worker or scheduler is alive when a process of this host (``host:pid``
members of its role's heartbeat set) beat within ``HEARTBEAT_TTL_S``; a gateway when its
``GET /api/health`` answers. While Redis itself is unreachable a worker or scheduler is not
judged (exit 0): restarting every container would not bring Redis back, and the health-check
function and the alarms report the outage. Without an argument the role is read from the
container's main process (``qs worker`` …, PID 1).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence
from pathlib import Path

ROLES = ("worker", "scheduler", "gateway")


def main_process_role(cmdline: Path = Path("/proc/1/cmdline")) -> str | None:
    """The ``qs`` subcommand PID 1 runs (``worker``, ``scheduler``, ``gateway``), if any."""
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return None
    return next((a.decode() for a in args if a.decode() in ROLES), None)


def beats_here(role: str, host: str | None = None) -> bool | None:
    """True if a process of ``host`` (default: this one) beats as ``role``; None while Redis
    does not answer."""
    import redis

    from shared.jobs.liveness import alive

    prefix = f"{host or socket.gethostname()}:"
    try:
        return any(member.startswith(prefix) for member in alive(role))
    except redis.RedisError:
        return None


def gateway_answers(timeout_s: float = 5.0) -> bool:
    """``GET /api/health`` on this host's ``PORT`` answers with a status below 500."""
    import httpx

    from shared.settings import settings

    try:
        response = httpx.get(f"http://127.0.0.1:{settings.port}/api/health", timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return response.status_code < 500


def check(role: str) -> tuple[bool, str]:
    """Whether ``role`` is healthy here, and why."""
    if role == "gateway":
        ok = gateway_answers()
        return ok, "GET /api/health answers" if ok else "GET /api/health does not answer"
    state = beats_here(role)
    if state is None:
        return True, "redis unreachable: not judged"
    return state, f"a {role} of this host beats" if state else f"no {role} of this host beats"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    role = args[0] if args else main_process_role()
    if role not in ROLES:
        print(f"healthcheck: name the role ({', '.join(ROLES)}), not {role!r}", file=sys.stderr)
        return 2
    ok, why = check(role)
    print(f"{role}: {why}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
