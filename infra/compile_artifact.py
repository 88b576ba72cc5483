"""Add bytecode to a Lambda zip, compiled by this interpreter, which must be the runtime's.

    python3.12 infra/compile_artifact.py .serverless/queue-services.zip --runtime python3.12

Every ``.py`` of the zip gets ``__pycache__/<name>.cpython-312.pyc`` beside it, compiled from
the zip's own bytes. Lambda's package is read-only, so a module without bytecode is compiled
again at every cold start; a ``.pyc`` of another Python version is never used, so this refuses
to run under any other version than ``--runtime``'s. The bytecode is ``unchecked-hash``: the
package is immutable (a deployment replaces it whole), so an import need not read and hash the
source to trust it, and no file time matters (zips keep times to 2 s). Bytecode already in the
zip (another version's) is dropped. ``infra/serverless-bytecode.js`` runs this during
``serverless package``, before the Framework hashes the zip (``CodeSha256``).
"""

from __future__ import annotations

import argparse
import os
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

#: Where Lambda unpacks the package: the file names tracebacks show.
TASK_ROOT = PurePosixPath("/var/task")


def pyc_name(source: str, tag: str) -> str:
    """The zip name of ``source``'s bytecode: ``a/b.py`` -> ``a/__pycache__/b.<tag>.pyc``."""
    path = PurePosixPath(source)
    return str(path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc").removeprefix("./")


def compile_zip(artifact: Path) -> tuple[int, list[str]]:
    """Rewrite ``artifact`` with bytecode for every module; (modules compiled, those skipped:
    source this Python cannot compile, e.g. another version's test files)."""
    tag = sys.implementation.cache_tag
    with zipfile.ZipFile(artifact) as old:
        entries = [(i, old.read(i)) for i in old.infolist() if not i.filename.endswith(".pyc")]
    sources = [(i, data) for i, data in entries if i.filename.endswith(".py")]
    compiled: list[tuple[zipfile.ZipInfo, bytes]] = []
    skipped = []
    with tempfile.TemporaryDirectory(prefix="lambda-pyc-") as scratch:
        for info, data in sources:
            source = Path(scratch, "src.py")
            target = Path(scratch, "out.pyc")
            source.write_bytes(data)
            try:
                py_compile.compile(
                    str(source), str(target), dfile=str(TASK_ROOT / info.filename), doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )  # fmt: skip
            except py_compile.PyCompileError:
                skipped.append(info.filename)
                continue
            pyc = zipfile.ZipInfo(pyc_name(info.filename, tag), date_time=info.date_time)
            pyc.external_attr = 0o644 << 16
            pyc.compress_type = zipfile.ZIP_DEFLATED
            compiled.append((pyc, target.read_bytes()))
    fd, temporary = tempfile.mkstemp(dir=artifact.parent, suffix=".zip")
    os.close(fd)
    os.chmod(temporary, artifact.stat().st_mode)
    with zipfile.ZipFile(temporary, "w") as new:
        for info, data in [*entries, *compiled]:
            new.writestr(info, data)
    os.replace(temporary, artifact)
    return len(compiled), skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", nargs="+", type=Path, help="Lambda zip files, rewritten")
    parser.add_argument("--runtime", required=True, help="the functions' runtime: python3.12")
    args = parser.parse_args(argv)
    mine = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if args.runtime != mine:
        print(
            f"compile_artifact: this is {mine} ({sys.executable}) but the functions run on "
            f"{args.runtime}: its bytecode would never be used; run it with {args.runtime} "
            "(LAMBDA_PYTHON)",
            file=sys.stderr,
        )
        return 2
    for artifact in args.artifacts:
        count, skipped = compile_zip(artifact)
        note = f"; {len(skipped)} not compilable here, left as source: {skipped}" if skipped else ""
        print(f"compile_artifact: {artifact}: {count} modules compiled for {mine}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
