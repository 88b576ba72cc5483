"""What ``qs dev`` watches: code under ``functions/``, ``shared/``, ``local/`` (recursively), and
``serverless.yml`` and ``.env`` at the project root.

The two root files are watched through their folder (not recursively, so ``.venv`` and
``.local`` cost nothing): a new inode — ``sed -i``, an editor's rename-on-save, a file created
later — is seen as well as an append or an in-place write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import watchfiles

#: Folders whose ``.py``, ``.lua`` and ``.yml`` files reload on a change (recursively).
WATCHED_DIRS = ("functions", "shared", "local")
#: Files at the project root that reload on a change.
WATCHED_FILES = ("serverless.yml", ".env")
#: Changes are grouped for at most this many ms; a quiet gap of ``STEP_MS`` ends a group.
DEBOUNCE_MS, STEP_MS = 300, 20

Changes = set[tuple[watchfiles.Change, str]]


def watch_project(root: Path, stop: threading.Event, put: Callable[[Changes], object]) -> None:
    """Call ``put(changes)`` for each group of changes under ``root``, from two daemon threads,
    until ``stop`` is set."""
    dirs = [root / d for d in WATCHED_DIRS if (root / d).is_dir()]
    files = {str(root / f) for f in WATCHED_FILES}

    def in_dirs(_: watchfiles.Change, path: str) -> bool:
        return path.endswith((".py", ".lua", ".yml")) and "__pycache__" not in path

    def at_root(_: watchfiles.Change, path: str) -> bool:
        return path in files

    for paths, recursive, keep in ((dirs, True, in_dirs), ([root], False, at_root)):
        args = (paths, recursive, keep, stop, put)
        threading.Thread(target=_watch, args=args, name="watch", daemon=True).start()


def _watch(
    paths: list[Path],
    recursive: bool,
    keep: Callable[[watchfiles.Change, str], bool],
    stop: threading.Event,
    put: Callable[[Changes], object],
) -> None:
    for changes in watchfiles.watch(
        *paths,
        watch_filter=keep,
        stop_event=stop,
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        recursive=recursive,
        raise_interrupt=False,
    ):
        put(changes)
