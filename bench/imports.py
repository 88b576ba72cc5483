"""Benchmark ``imports``: each HTTP handler module's cold import, as a Lambda cold start pays it.

For every module that serverless.yml routes HTTP to, a fresh interpreter runs
``python -X importtime -c "import functions.api.X"`` ``imports_runs`` times, in rounds that
import every module once each (after one unmeasured round that writes the bytecode caches, as a
deployed package with ``.pyc`` files has them: ``make package`` ships Python 3.12 bytecode for
every module); the figure is the module's cumulative import time (with its parent packages)
from that report, in ms: median and min-max. It runs on this project's interpreter and
virtualenv, not on Lambda's Python 3.12 with the artifact's packages alone. The same run
measures ``import mangum`` and ``import aws_lambda_powertools`` (installed into a scratch
folder when missing, never into the project; that folder is on the path of the references'
imports only, so its own copies of shared dependencies such as typing_extensions never stand in
for the project's) and ``import redis``, which every handler needs, as references. Interpreter
start-up itself (about 15 ms) is not in any figure.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from bench.common import ROOT, Config, Section, _strip_service_settings, num, say, verdict

NAME = "imports"
#: Longest cold import a handler module may take, in ms (issue 14).
TARGET_MS = 100.0
#: Import name -> PyPI name of the same-run references.
REFERENCES = {"mangum": "mangum", "aws_lambda_powertools": "aws-lambda-powertools"}
#: What every handler imports anyway: the floor under their figures.
FLOOR = "redis"


def handler_modules() -> list[str]:
    """The modules serverless.yml routes HTTP to, each once, in table order."""
    from local import manifest

    modules: list[str] = []
    for _route, function in manifest.load().routes:
        if function.module not in modules:
            modules.append(function.module)
    return modules


def import_ms(module: str, env: Mapping[str, str]) -> float:
    """Cumulative ``-X importtime`` figure of ``module`` in one fresh interpreter, in ms."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode:
        raise RuntimeError(f"import {module} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return parse_importtime(proc.stderr, module)


def parse_importtime(report: str, module: str) -> float:
    """Cumulative time (ms) of ``module`` and of its parent packages, imported before it, in an
    ``-X importtime`` report."""
    wanted = {".".join(module.split(".")[: i + 1]) for i in range(module.count(".") + 1)}
    total, found = 0, set()
    for line in report.splitlines():
        if not line.startswith("import time:"):
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        if name.strip() in wanted and not name[1:].startswith(" ") and cumulative.strip().isdigit():
            total += int(cumulative)
            found.add(name.strip())
    if module not in found:
        raise ValueError(f"{module} is not in the importtime report (imported before?)")
    return total / 1000


def references_path(cfg: Config, notes: list[str]) -> str | None:
    """A folder holding the references this interpreter lacks (pip-installed there now), or
    None when they are all importable already; a refused install is noted, not raised."""
    missing = [pip for mod, pip in REFERENCES.items() if importlib.util.find_spec(mod) is None]
    if not missing:
        return None
    target = cfg.workdir / "import-references"
    say(NAME, f"installing {', '.join(missing)} into {target} (references only)")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), *missing],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode:
        tail = " ".join(proc.stderr.strip().splitlines()[-2:])
        notes.append(f"could not install the references ({', '.join(missing)}): {tail}")
        return None
    notes.append(f"references installed for this run only, into {target}")
    return str(target)


def _spread(values: list[float]) -> str:
    return f"{num(statistics.median(values), 1)} ms ({num(min(values), 1)}-{num(max(values), 1)})"


def run(cfg: Config) -> Section:
    runs = cfg.imports_runs
    section = Section(
        NAME, f"Cold import per HTTP handler: python -X importtime, {runs} fresh processes each"
    )
    env = _strip_service_settings(dict(os.environ))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    extra = references_path(cfg, section.notes)
    reference_env = dict(env)
    if extra:
        paths = (extra, env.get("PYTHONPATH"))
        reference_env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)

    modules = [*REFERENCES, FLOOR, *handler_modules()]
    samples: dict[str, list[float]] = {}
    failed: set[str] = set()
    # Round-robin: each round imports every module once, so a burst of other work on the
    # machine lands on all modules alike instead of on the few measured at that moment.
    for round_ in range(runs + 1):  # round 0 writes the .pyc files and is not counted
        say(NAME, f"round {round_}/{runs}: {len(modules)} modules")
        for module in modules:
            if module in failed:
                continue
            try:
                value = import_ms(module, reference_env if module in REFERENCES else env)
            except (RuntimeError, ValueError) as exc:
                section.notes.append(str(exc))
                failed.add(module)
                continue
            if round_:
                samples.setdefault(module, []).append(value)
    for module in (*REFERENCES, FLOOR):
        label = f"reference: `import {module}`" + (
            " (every handler needs it)" if module == FLOOR else ""
        )
        section.add(label, _spread(samples[module]) if module in samples else "n/a")
    worst: tuple[float, str] = (0.0, "")
    for module in modules[len(REFERENCES) + 1 :]:
        values = samples.get(module)
        if not values:
            section.add(f"`{module}`", "n/a", "", f"<= {TARGET_MS:.0f} ms", verdict(False))
            continue
        median = statistics.median(values)
        worst = max(worst, (median, module))
        ok = median <= TARGET_MS
        section.add(f"`{module}`", _spread(values), "", f"<= {TARGET_MS:.0f} ms", verdict(ok))
    if worst[1]:
        section.notes.append(f"slowest handler: {worst[1]}, median {worst[0]:.1f} ms")
    section.notes.append(
        "median (min-max) of each module's cumulative -X importtime figure over the rounds; "
        "the references ran in the same rounds on the same interpreter"
    )
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    section.notes.append(
        f"imports from bytecode (an uncounted first round wrote the .pyc files, as the artifact "
        f"ships them) on Python {version} and this virtualenv's packages; Lambda runs 3.12"
    )
    return section


def main() -> int:
    """``python -m bench.imports``: print the figures without the report (for a quick look)."""
    import tempfile

    cfg = Config(workdir=Path(tempfile.mkdtemp(prefix="qsbench-")), imports_runs=3)
    section = run(cfg)
    for row in section.rows:
        print(f"{row.metric:60} {row.ours:28} {row.verdict}")
    for note in section.notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
