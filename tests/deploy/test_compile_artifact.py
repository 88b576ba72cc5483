"""infra/compile_artifact.py: bytecode for a Lambda zip, compiled by the runtime's Python
(here with the test's own Python as the "runtime", so any machine runs it)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "compile_artifact.py"
OWN_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
TAG = sys.implementation.cache_tag


def make_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as artifact:
        for name, text in files.items():
            artifact.writestr(name, text)
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120
    )


def test_the_bytecode_is_used_without_reading_the_source(tmp_path: Path):
    artifact = make_zip(
        tmp_path / "fn.zip",
        {
            "pkg/__init__.py": "",
            "pkg/mod.py": "VALUE = 'compiled'\n",
            "top.py": "import pkg.mod\n",
            "pkg/old.pyc": "stale bytecode of another Python",
            "data/table.lua": "return 1",
        },
    )
    done = run(str(artifact), "--runtime", OWN_RUNTIME)
    assert done.returncode == 0, done.stderr
    assert f"3 modules compiled for {OWN_RUNTIME}" in done.stdout
    with zipfile.ZipFile(artifact) as packed:
        names = set(packed.namelist())
        packed.extractall(tmp_path / "task")
    assert names == {
        "pkg/__init__.py", "pkg/mod.py", "top.py", "data/table.lua",
        f"pkg/__pycache__/__init__.{TAG}.pyc", f"pkg/__pycache__/mod.{TAG}.pyc",
        f"__pycache__/top.{TAG}.pyc",
    }  # fmt: skip
    task = tmp_path / "task"
    # unchecked-hash: an edited source is not even read, the shipped bytecode runs
    (task / "pkg" / "mod.py").write_text("VALUE = 'edited source'\n")
    shown = subprocess.run(
        [sys.executable, "-B", "-c", "import top, pkg.mod; print(pkg.mod.VALUE, pkg.mod.__file__)"],
        cwd=task, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shown.stdout.split() == ["compiled", str(task / "pkg" / "mod.py")]


def test_a_module_this_python_cannot_compile_stays_source_and_is_named(tmp_path: Path):
    artifact = make_zip(tmp_path / "fn.zip", {"ok.py": "x = 1\n", "py2.py": "print 'old'\n"})
    done = run(str(artifact), "--runtime", OWN_RUNTIME)
    assert done.returncode == 0, done.stderr
    assert "1 modules compiled" in done.stdout and "['py2.py']" in done.stdout
    with zipfile.ZipFile(artifact) as packed:
        assert f"__pycache__/ok.{TAG}.pyc" in packed.namelist()
        assert not [n for n in packed.namelist() if n.startswith("__pycache__/py2")]


def test_another_pythons_bytecode_is_refused(tmp_path: Path):
    artifact = make_zip(tmp_path / "fn.zip", {"ok.py": "x = 1\n"})
    before = artifact.read_bytes()
    other = f"python{sys.version_info.major}.{sys.version_info.minor + 1}"
    done = run(str(artifact), "--runtime", other)
    assert done.returncode == 2
    assert f"the functions run on {other}: its bytecode would never be used" in done.stderr
    assert artifact.read_bytes() == before
