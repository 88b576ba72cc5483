"""A scheduler process that fires synthetic cron ticks as fast as it can (fault suite).

``python cron_firer.py FIRST_EPOCH_S COUNT GO_FILE``: ``COUNT`` ticks a minute apart from
``FIRST_EPOCH_S``, each through ``CronScheduler.fire(tick)`` as ``qs scheduler`` fires them;
prints ``ready`` once loaded, waits for ``GO_FILE`` to exist, then prints each tick's number
after firing it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pendulum

from local import worker_app
from local.scheduler import CronScheduler


def main(first_s: int, count: int, go: Path) -> None:
    scheduler = CronScheduler(worker_app.cron_actors)
    start = pendulum.from_timestamp(first_s, tz="UTC")
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    for n in range(count):
        scheduler.fire(start.add(minutes=n))
        print(n, flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
