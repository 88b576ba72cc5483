"""``serverless.yml`` and the code agree: declared handlers import; every handler is declared."""

from __future__ import annotations

import importlib
import pkgutil

import functions
from local.cron import cron_jobs
from local.manifest import load
from shared.jobs.queues import QUEUES

MANIFEST = load()


def handler_modules() -> set[str]:
    """Every module under ``functions/`` that defines a ``handler``."""
    found = set()
    for info in pkgutil.walk_packages(functions.__path__, "functions."):
        module = importlib.import_module(info.name)
        if callable(getattr(module, "handler", None)):
            found.add(info.name)
    return found


def test_every_declared_handler_imports_and_is_callable():
    for fn in MANIFEST.functions.values():
        assert callable(fn.load()), fn.name


def test_every_handler_in_the_code_is_declared_in_serverless_yml():
    declared = {fn.module for fn in MANIFEST.functions.values()}
    assert handler_modules() - declared == set()


def test_http_functions_live_in_api_and_cron_functions_in_cron():
    for fn in MANIFEST.functions.values():
        if fn.routes:
            assert fn.module.startswith("functions.api."), fn.name
        if fn.schedules:
            assert fn.module.startswith("functions.cron."), fn.name


def test_every_schedule_translates_for_the_emulator():
    assert {job.function.name for job in cron_jobs(MANIFEST)} == {
        fn.name for fn in MANIFEST.functions.values() if fn.schedules
    }


def test_every_job_processor_in_the_queue_table_imports():
    for spec in QUEUES.values():
        if spec.processor:
            module, _, name = spec.processor.partition(":")
            assert callable(getattr(importlib.import_module(module), name)), spec.name


def test_routes_are_unique():
    keys = [(r.method, r.path) for r, _ in MANIFEST.routes]
    assert len(keys) == len(set(keys))
