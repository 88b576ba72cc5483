"""``qs new job NAME``: the skeleton of a new job type (its processor and its test) and the one
queue-table line to add."""

from __future__ import annotations

import keyword
import re
import string
import sys
from pathlib import Path

#: What ``qs new job`` accepts as a job type's name: lower-case words joined by ``-``.
JOB_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
#: Longest job type name, in characters.
MAX_JOB_NAME_CHARS = 40
#: The project's line length (ruff's ``line-length``), for the skeletons written.
MAX_LINE_CHARS = 100

_PROCESSOR = '''"""Job ``{name}``: what it does, in one sentence."""

from __future__ import annotations

from typing import Any

from shared.jobs.data import JobData, job_data
from shared.jobs.store import Job


class Data(JobData):
    """The job's ``data`` (camelCase in JSON); a job whose data does not fit fails at once."""

    name: str


def process(job: Job) -> dict[str, Any]:
    """One attempt. Raise ``shared.jobs.runner.JobFailed(error, retryable=True)`` to be tried
    again after a back-off; what this returns is the job's ``result``."""
    data = job_data(Data, job)
    job.log(f"greeting {{data.name}}")
    job.update_progress(100)
    return {{"greeting": f"Hello, {{data.name}}!"}}
'''

_TEST = '''"""Job ``{name}``, against real Redis."""

from __future__ import annotations

from functions.jobs import {module}
from shared.jobs import progress
from shared.jobs.queues import QUEUES
from shared.jobs.store import Job, JobStore, NewJob, now_ms

NAME = "{name}"
#: The line that adds this job type to ``QUEUES`` in shared/jobs/queues.py.
LINE = '{line}'{noqa}


def test_{module}_has_its_line_in_the_queue_table():
    spec = QUEUES.get(NAME)
    assert spec is not None, f"add to QUEUES in shared/jobs/queues.py: {{LINE}}"
    assert spec.processor == "functions.jobs.{module}:process"


def test_{module}_processes_a_job(redis_prefix):
    store = JobStore()
    new = NewJob(queue=NAME, actor=NAME, data={{"name": "Ada"}}, due_ms=now_ms(), max_attempts=1)
    job_id = store.create(new).job_id
    waiting = store.get(job_id)
    assert waiting is not None
    job = store.start(job_id, waiting.message_id, "test-worker")
    assert isinstance(job, Job), job
    assert {module}.process(job) == {{"greeting": "Hello, Ada!"}}
    done = store.get(job_id)
    assert done is not None and done.progress == 100
    assert progress.logs(job) == ["greeting Ada"]
'''


def _job_name_error(name: str, module: str) -> str | None:
    """Why ``name`` cannot be a new job type, or None."""
    from shared.jobs.queues import QUEUES

    if len(name) > MAX_JOB_NAME_CHARS or not JOB_NAME.fullmatch(name) or keyword.iskeyword(module):
        return (
            f"{name!r} is not a valid name: lower-case letters and digits in words joined by "
            f"'-', starting with a letter, at most {MAX_JOB_NAME_CHARS} characters"
        )
    taken = {n for spec in QUEUES.values() for n in (spec.name, *spec.job_types)}
    if name in taken:
        return f"{name!r} is already a queue or job type"
    return None


def write_skeleton(name: str, root: Path) -> int:
    """Write ``functions/jobs/NAME.py`` and ``tests/functions/test_job_NAME.py`` under ``root``
    and print the queue-table line; 0, or 2 (nothing written) for a refused name or file."""
    from shared.jobs.queues import BY_CODE

    module = name.replace("-", "_")
    if reason := _job_name_error(name, module):
        print(f"qs new job: {reason}", file=sys.stderr)
        return 2
    files = (
        root / "functions/jobs" / f"{module}.py",
        root / "tests/functions" / f"test_job_{module}.py",
    )
    for path in files:
        if path.exists():
            print(f"qs new job: {path} exists; nothing written", file=sys.stderr)
            return 2
    free = [c for c in string.ascii_uppercase if c not in BY_CODE]
    if not free:
        print("qs new job: every queue code letter is taken", file=sys.stderr)
        return 2
    line = f'QueueSpec("{name}", "{free[0]}", processor="functions.jobs.{module}:process"),'
    for path, template in zip(files, (_PROCESSOR, _TEST), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        noqa = "  # noqa: E501" if len(f"LINE = '{line}'") > MAX_LINE_CHARS else ""
        path.write_text(template.format(name=name, module=module, line=line, noqa=noqa))
        print(f"wrote {path}")
    print(f"now add this line to QUEUES in shared/jobs/queues.py:\n    {line}")
    return 0
