"""The module Dramatiq workers load (``dramatiq local.worker_app``): the broker, then every actor.

Job actors come from the queue table in ``shared/``; cron actors from ``serverless.yml``.
"""

from __future__ import annotations

from local import cron, manifest
from shared.jobs.actors import declare_job_actors
from shared.jobs.broker import get_broker

broker = get_broker()
job_actors = declare_job_actors()
functions = manifest.load()
cron_actors = cron.declare_actors(functions)
cron_schedules = cron.schedule_entries(functions)
