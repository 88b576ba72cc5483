"""``.local/dev.env``: how the other ``qs`` commands find a running ``qs dev``.

``qs dev`` writes the Redis URL its children use and the API key and dashboard password it
generated, with its own pid, and removes the file when it stops. ``qs invoke`` (and
``qs gateway``/``worker``/``scheduler`` under ``APP_ENV=dev``) read it: each value applies only
where nothing explicit is configured (no ``REDIS_URL``/``REDIS_HOST``, no ``API_KEYS``/
``SERVICE_TOKEN``, no ``DASHBOARD_PASSWORD``, in the environment or ``.env``). A file whose
``qs dev`` is gone (killed, say) is stale: it is removed and ignored.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from shared.settings import Settings

#: Where ``qs dev`` writes it and the other commands look, relative to the working directory
#: (``qs dev --data-dir`` moves it along with the data).
DEFAULT_PATH = Path(".local") / "dev.env"
#: The pid of the ``qs dev`` supervisor that wrote the file.
PID_KEY = "QS_DEV_PID"


def write(path: Path, values: dict[str, str]) -> None:
    """Write ``values`` and this process's pid to ``path`` (mode 0600), replacing it atomically."""
    lines = [
        "# written by `qs dev`; removed when it stops. Other qs commands read it (see README).",
        f"{PID_KEY}={os.getpid()}",
        *(f"{name}={value}" for name, value in values.items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def remove(path: Path) -> None:
    """Remove the file if this process wrote it."""
    if read(path).get(PID_KEY) == str(os.getpid()):
        path.unlink(missing_ok=True)


def read(path: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of ``path``; empty when it does not exist."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    pairs = (line.partition("=") for line in text.splitlines() if not line.startswith("#"))
    return {name.strip(): value.strip() for name, sep, value in pairs if sep}


def _dev_alive(pid: str) -> bool:
    """Whether ``pid`` is a live ``qs dev`` (not a process that reused the pid; without
    ``/proc``, as on macOS, any live process counts)."""
    if not pid.isdigit():
        return False
    if not Path("/proc/self").exists():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, another user's
            return True
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"dev" in cmdline


def explicit_redis(settings: Settings) -> bool:
    """Whether ``settings`` name a Redis (an empty ``REDIS_URL``/``REDIS_HOST`` does not)."""
    named_host = "redis_host" in settings.model_fields_set and bool(settings.redis_host)
    return bool(settings.redis_url) or named_host


def apply(settings: Settings, path: Path = DEFAULT_PATH) -> list[str]:
    """Fill the unset parts of ``settings`` (and of ``os.environ``) from a live ``qs dev``'s file;
    the names applied (empty when there is no live file). A stale file is removed."""
    values = read(path)
    if not values:
        return []
    if not _dev_alive(values.get(PID_KEY, "")):
        with contextlib.suppress(OSError):
            path.unlink()
        return []
    applied = []
    if "REDIS_URL" in values and not explicit_redis(settings):
        settings.redis_url = values["REDIS_URL"]
        applied.append("REDIS_URL")
    if "API_KEYS" in values and not (settings.parsed_api_keys() or settings.service_token):
        settings.api_keys = values["API_KEYS"]
        applied.append("API_KEYS")
    if "DASHBOARD_PASSWORD" in values and not settings.dashboard_password:
        settings.dashboard_password = values["DASHBOARD_PASSWORD"]
        applied.append("DASHBOARD_PASSWORD")
    for name in applied:  # for any process this one starts
        os.environ[name] = values[name]
    return applied


def api_key(settings: Settings) -> str:
    """The key a sample event carries: the first of ``API_KEYS``, else ``SERVICE_TOKEN``."""
    keys = settings.parsed_api_keys()
    return keys[0].secret if keys else settings.service_token
