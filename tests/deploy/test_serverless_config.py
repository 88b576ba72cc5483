"""serverless.yml, infra/aws-stack.yml, infra/Dockerfile and the requirement lists agree with
each other and with the code (no npm, no network: the files are read)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from cfnlint.decode import cfn_yaml

from shared.jobs.queues import QUEUES
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVERLESS = yaml.safe_load((ROOT / "serverless.yml").read_text())
STACK = cfn_yaml.load(str(ROOT / "infra" / "aws-stack.yml"))

#: Import name -> distribution name, where they differ.
DISTRIBUTIONS = {
    "jwt": "pyjwt",
    "cryptography": "pyjwt",  # PyJWT[crypto]
    "pydantic_core": "pydantic",
    "pydantic_settings": "pydantic-settings",
    "prometheus_client": "prometheus-client",
    "pendulum": "periodiq",
    "yaml": "pyyaml",
}
#: local/ modules the container image never runs (`qs dev` only).
DEV_ONLY = {"dev.py", "embedded_redis.py"}


def third_party_imports(paths: list[Path]) -> set[str]:
    """Top-level modules imported by these files that are neither stdlib nor the project's."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found |= {name.split(".")[0] for name in names}
    own = {"functions", "shared", "local", "__future__"}
    return {name for name in found - own if name not in sys.stdlib_module_names}


def requirements(name: str) -> dict[str, str]:
    """A requirement list of infra/ (following ``-r``): distribution -> its line."""
    lines: dict[str, str] = {}
    for raw in (ROOT / "infra" / name).read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line.startswith("-r "):
            lines |= requirements(line[3:].strip())
        elif line:
            lines[re.split(r"[\[<>=]", line)[0].lower()] = line
    return lines


def pyproject_lines() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[\[<>=]", d)[0].lower(): d for d in deps}


def covered(modules: set[str], dists: dict[str, str]) -> set[str]:
    """The modules of ``modules`` whose distribution is not in ``dists``."""
    return {m for m in modules if DISTRIBUTIONS.get(m, m).lower().replace("_", "-") not in dists}


def test_the_lambda_requirements_cover_what_functions_and_shared_import():
    code = [*ROOT.glob("functions/**/*.py"), *ROOT.glob("shared/**/*.py")]
    assert covered(third_party_imports(code), requirements("lambda-requirements.txt")) == set()


def test_the_image_requirements_cover_what_the_worker_scheduler_and_gateway_import():
    code = [*ROOT.glob("functions/**/*.py"), *ROOT.glob("shared/**/*.py")]
    code += [p for p in ROOT.glob("local/*.py") if p.name not in DEV_ONLY]
    assert covered(third_party_imports(code), requirements("container-requirements.txt")) == set()


def test_the_requirement_lists_use_pyprojects_version_ranges():
    project = pyproject_lines()
    for name in ("lambda-requirements.txt", "container-requirements.txt"):
        for dist, line in requirements(name).items():
            assert project.get(dist) == line, (name, dist)


def test_custom_queues_names_every_queue_of_the_queue_table():
    table = [spec.name for spec in QUEUES.values() if spec.part_of is None]
    assert SERVERLESS["custom"]["queues"] == table


def test_packaging_reads_nothing_from_aws():
    """No variable source that needs credentials (`${ssm:`, `${cf:`, `${s3:`, `${aws:`)."""
    text = "".join(
        (ROOT / p).read_text() for p in ("serverless.yml", "infra/aws-lambda-resources.yml")
    )
    code = re.sub(r"(^|\s)#.*", "", text)  # comments may name them
    assert "{{resolve:ssm:" in code
    assert re.findall(r"\$\{(?:ssm|cf|s3|aws):", code) == []


def container(task: str) -> dict[str, Any]:
    definition: dict[str, Any] = STACK["Resources"][task]["Properties"]["ContainerDefinitions"][0]
    return definition


def ssm_name(value: Any) -> str | None:
    """The parameter name (after the stage prefix) a Lambda value or an ECS secret reads."""
    text = value if isinstance(value, str) else str(value.get("Fn::Sub", value))
    match = re.search(
        r"(?:resolve:ssm:\$\{param:ssmPrefix\}|/queue-services/\$\{Stage\})/([a-z-]+)", text
    )
    return match.group(1) if match else None


def test_lambda_functions_and_containers_get_the_same_settings_from_the_same_parameters():
    lambda_env = SERVERLESS["provider"]["environment"]
    worker = container("WorkerTask")
    container_env = {e["Name"]: e for e in worker["Environment"] + worker["Secrets"]}
    assert set(lambda_env) == set(container_env)
    for name, value in lambda_env.items():
        assert ssm_name(value) == ssm_name(container_env[name].get("ValueFrom", "")), name
    scheduler = container("SchedulerTask")
    assert scheduler["Secrets"] == worker["Secrets"]


def test_every_variable_set_in_the_deploy_files_is_a_setting():
    settings = {name.upper() for name in Settings.model_fields}
    names = set(SERVERLESS["provider"]["environment"])
    for task in ("WorkerTask", "SchedulerTask"):
        names |= {e["Name"] for e in container(task)["Environment"] + container(task)["Secrets"]}
    assert names - settings == set()


def test_the_ecs_scheduler_sends_no_cron_tick_while_eventbridge_does():
    """The Lambda schedules fire the cron functions; the container scheduler beside them runs
    with SCHEDULER_CRON=false by default, so no tick runs twice."""
    env = {e["Name"]: e["Value"] for e in container("SchedulerTask")["Environment"]}
    assert env["SCHEDULER_CRON"] == {"Ref": "SchedulerCron"}
    assert STACK["Parameters"]["SchedulerCron"]["Default"] == "false"
    worker_env = {e["Name"] for e in container("WorkerTask")["Environment"]}
    assert "SCHEDULER_CRON" not in worker_env
    scheduled = [
        f for f in SERVERLESS["functions"].values() if any("schedule" in e for e in f["events"])
    ]
    assert scheduled  # EventBridge has schedules to fire


def test_containers_run_read_only_with_a_health_check_and_a_graceful_stop():
    for task, role in (("WorkerTask", "worker"), ("SchedulerTask", "scheduler")):
        c = container(task)
        assert c["Command"] == [role]
        assert c["ReadonlyRootFilesystem"] is True
        assert [m["ContainerPath"] for m in c["MountPoints"]] == ["/tmp"]
        assert c["HealthCheck"]["Command"] == ["CMD", "python", "-m", "local.healthcheck", role]
    # SIGTERM leaves jobs in flight WORKER_SHUTDOWN_TIMEOUT_S before the SIGKILL
    default = Settings.model_fields["worker_shutdown_timeout_s"].default
    assert container("WorkerTask")["StopTimeout"] > default


def test_redis_never_evicts_and_takes_only_tls_with_a_token():
    props = STACK["Resources"]["RedisParameters"]["Properties"]["Properties"]["Fn::If"]
    cluster_on, cluster_off = props[1], props[2]
    assert cluster_on["maxmemory-policy"] == cluster_off["maxmemory-policy"] == "noeviction"
    assert cluster_on["cluster-require-full-coverage"] == "no"
    redis = STACK["Resources"]["Redis"]["Properties"]
    assert redis["TransitEncryptionEnabled"] is True and "AuthToken" in redis
    assert redis["ClusterMode"] == {"Ref": "RedisClusterMode"}


def test_the_alarm_filters_match_what_the_health_check_logs():
    """Each metric filter phrase is in a reason the health check builds (shared/health.py,
    shared/cron/health_watch.py), so a reworded reason breaks this test, not the alarm."""
    source = (ROOT / "shared/health.py").read_text() + (
        ROOT / "shared/cron/health_watch.py"
    ).read_text()
    resources = yaml.safe_load(
        re.sub(r"!\w+", "", (ROOT / "infra/aws-lambda-resources.yml").read_text())
    )["Resources"]
    patterns = [
        r["Properties"]["FilterPattern"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::MetricFilter"
    ]
    phrases = [p for pattern in patterns for p in re.findall(r'"([^"]+)"', pattern)]
    assert len(phrases) == 4
    for phrase in phrases:
        assert phrase in source, phrase


def test_the_dockerfile_runs_as_a_user_with_a_health_check_and_copies_what_exists():
    text = (ROOT / "infra/Dockerfile").read_text()
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(
        r"^HEALTHCHECK .*\n\s+CMD \[\"python\", \"-m\", \"local.healthcheck\"\]", text, re.M
    )
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
