"""``qs new job NAME``: a job type's skeleton and its test, which pass once the printed line
is in the queue table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from local.cli import main

ROOT = Path(__file__).resolve().parents[2]


def lint_errors(name: Path, source: str) -> str:
    """What ``ruff check`` and ``ruff format --check`` say of ``source`` as this project's
    file ``name`` ("" when clean)."""
    out = ""
    for command in (["check"], ["format", "--check"]):
        args = [sys.executable, "-m", "ruff", *command, "--no-cache", "--stdin-filename", str(name)]
        done = subprocess.run(args, input=source, capture_output=True, text=True, cwd=ROOT)
        out += "" if done.returncode == 0 else done.stdout + done.stderr
    return out


def project_copy(folder: Path) -> Path:
    """A copy of this project's source (no venv, no git) in ``folder``."""
    for part in ("functions", "shared", "local", "tests"):
        shutil.copytree(ROOT / part, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "serverless.yml"):
        shutil.copy(ROOT / name, folder / name)
    return folder


def test_new_job_writes_a_typed_processor_and_a_test_that_pass_once_the_printed_line_is_added(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str
):
    project = project_copy(tmp_path / "project")
    assert main(["new", "job", "send-invoice", "--root", str(project)]) == 0
    out = capsys.readouterr().out
    processor = project / "functions/jobs/send_invoice.py"
    test = project / "tests/functions/test_job_send_invoice.py"
    assert "def process(job: Job) -> dict[str, Any]:" in processor.read_text()
    line = out.strip().splitlines()[-1].strip()
    assert line.startswith('QueueSpec("send-invoice", ') and line.endswith(
        'processor="functions.jobs.send_invoice:process"),'
    )
    for path in (processor, test):  # as files of this project (its config, its first-party names)
        assert lint_errors(path.relative_to(project), path.read_text()) == ""

    def generated_tests() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)]
        env = {**os.environ, "REDIS_URL": redis_url}
        return subprocess.run(command, capture_output=True, text=True, cwd=project, env=env)

    before = generated_tests()
    assert before.returncode == 1 and "add to QUEUES in shared/jobs/queues.py" in before.stdout
    table = project / "shared/jobs/queues.py"  # the one line, as the user adds it
    source = table.read_text()
    anchor = "        QueueSpec(CRON_QUEUE,"
    assert anchor in source
    table.write_text(source.replace(anchor, f"        {line}\n{anchor}", 1))
    after = generated_tests()
    assert after.returncode == 0, after.stdout + after.stderr
    assert "2 passed" in after.stdout


def test_the_skeletons_of_the_longest_name_are_lint_and_type_clean(tmp_path: Path):
    name = "a" * 20 + "-" + "b" * 19
    assert main(["new", "job", name, "--root", str(tmp_path)]) == 0
    written = sorted(tmp_path.rglob("*.py"))
    assert len(written) == 2
    for path in written:
        assert lint_errors(path.relative_to(tmp_path), path.read_text()) == ""
    # the test imports the processor as functions.jobs.<module>: check them as one tree
    (tmp_path / "functions/__init__.py").touch()
    (tmp_path / "functions/jobs/__init__.py").touch()
    check = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
             "--no-incremental", "--follow-imports=silent", *map(str, written)]  # fmt: skip
    done = subprocess.run(check, capture_output=True, text=True, cwd=tmp_path, check=False,
                          env={**os.environ, "MYPYPATH": str(ROOT)})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("sms", "already a queue or job type"),
        ("bulk-availability-check", "already a queue or job type"),
        ("Send", "not a valid name"),
        ("send_invoice", "not a valid name"),
        ("2fa", "not a valid name"),
        ("class", "not a valid name"),
        ("x-", "not a valid name"),
        ("a--b", "not a valid name"),
        ("a" * 41, "not a valid name"),
    ],
)
def test_new_job_refuses_a_taken_or_invalid_name(name, why, tmp_path: Path, capsys):
    assert main(["new", "job", name, "--root", str(tmp_path)]) == 2
    assert why in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing written"


def test_new_job_refuses_to_overwrite_an_existing_file(tmp_path: Path, capsys):
    existing = tmp_path / "tests/functions/test_job_send_invoice.py"
    existing.parent.mkdir(parents=True)
    existing.write_text("# mine\n")
    assert main(["new", "job", "send-invoice", "--root", str(tmp_path)]) == 2
    assert "exists; nothing written" in capsys.readouterr().err
    assert existing.read_text() == "# mine\n"
    assert not (tmp_path / "functions").exists()
