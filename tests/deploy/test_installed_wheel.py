"""``pip install .`` (what Heroku, Railway and a VM without a checkout do) gives a working
service when run from the project folder: the wheel carries the Lua scripts, and the manifest
is found in the working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Runs on the installed copy: the code must come from it, scripts and manifest must load.
CHECK = """
import sys
import shared, local.manifest
from shared.jobs.store import JobStore, NewJob
assert shared.__file__.startswith(sys.argv[1]), shared.__file__
store = JobStore()  # runs the Lua scripts shipped in the wheel
new = NewJob("sms", "send_sms", {"to": "+14155550123"}, 0, 3, delay_ms=60_000)
created = store.create(new)
assert store.get(created.job_id).state == "delayed", store.get(created.job_id)
print(len(local.manifest.load().routes))
"""


def test_a_wheel_install_runs_from_the_project_folder(tmp_path: Path, redis_url, redis_prefix):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    lua = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("shared/**/*.lua"))
    assert lua and set(lua) <= set(names)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "-t", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    project = tmp_path / "project"  # what a platform's app folder holds besides the code
    project.mkdir()
    shutil.copy(ROOT / "serverless.yml", project)
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, str(site)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) > 30
