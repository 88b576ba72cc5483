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
    "prometheus_client": "prometheus-client",
    "pendulum": "periodiq",
    "yaml": "pyyaml",
    "botocore": "boto3",
}
#: local/ modules the container image never runs (`qs dev` only).
DEV_ONLY = {"dev.py", "embedded_redis.py", "watch.py"}


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
    """The runtime dependencies and the ``aws`` extra of pyproject.toml, by distribution."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["aws"]
    return {re.split(r"[\[<>=]", d)[0].lower(): d for d in deps}


def covered(modules: set[str], dists: dict[str, str]) -> set[str]:
    """The modules of ``modules`` whose distribution is not in ``dists``."""
    return {m for m in modules if DISTRIBUTIONS.get(m, m).lower().replace("_", "-") not in dists}


#: What Lambda's Python runtime brings (so serverless.yml's noDeploy leaves it out).
LAMBDA_RUNTIME = {"boto3", "botocore"}


def test_the_lambda_requirements_cover_what_functions_and_shared_import():
    code = [*ROOT.glob("functions/**/*.py"), *ROOT.glob("shared/**/*.py")]
    missing = covered(third_party_imports(code), requirements("lambda-requirements.txt"))
    assert missing - LAMBDA_RUNTIME == set()
    assert set(SERVERLESS["custom"]["pythonRequirements"]["noDeploy"]) == LAMBDA_RUNTIME


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


LAMBDA_PREFIX = "${param:ssmPrefix}"
STACK_PREFIX = "/queue-services/${Stage}"


def lambda_sources() -> dict[str, str]:
    """Each setting the functions get from SSM: name -> its parameter under the prefix, read
    at a cold start (SSM_SECRETS) or resolved at deploy time (``{{resolve:ssm:...}}``)."""
    env = SERVERLESS["provider"]["environment"]
    assert env["SSM_PREFIX"] == LAMBDA_PREFIX
    sources = {name: name for name in env["SSM_SECRETS"].split(",")}
    for name, value in env.items():
        if not isinstance(value, str):
            continue
        assert "{{resolve:" not in value or value.startswith("{{resolve:ssm:"), name
        if match := re.fullmatch(r"\{\{resolve:ssm:(.+)/([A-Z_]+)\}\}", value):
            assert match.group(1) == LAMBDA_PREFIX, name
            sources[name] = match.group(2)
    return sources


def container_sources(task: str) -> dict[str, str]:
    """The same for a task definition's ``Secrets``."""
    sources = {}
    for secret in container(task)["Secrets"]:
        value = secret["ValueFrom"]
        parameter = value["Fn::Sub"].split(":parameter", 1)[1]
        assert parameter.startswith(STACK_PREFIX + "/"), secret["Name"]
        sources[secret["Name"]] = parameter.removeprefix(STACK_PREFIX + "/")
    return sources


def test_lambda_functions_and_containers_get_the_same_settings_from_the_same_parameters():
    assert lambda_sources() == container_sources("WorkerTask") == container_sources("SchedulerTask")
    assert SERVERLESS["params"]["default"]["ssmPrefix"] == "/queue-services/${sls:stage}"
    plain = {
        k: v for k, v in SERVERLESS["provider"]["environment"].items() if k not in lambda_sources()
    }
    assert set(plain) == {"APP_ENV", "LOG_LEVEL", "REDIS_CLUSTER", "SSM_PREFIX", "SSM_SECRETS"}
    container_plain = {e["Name"] for e in container("WorkerTask")["Environment"]}
    assert container_plain == {"APP_ENV", "LOG_LEVEL", "REDIS_CLUSTER"}


def test_a_cold_start_loads_the_functions_secrets_from_ssm(monkeypatch):
    """serverless.yml's SSM_PREFIX and SSM_SECRETS, as a deployed function gets them, against
    moto's Parameter Store holding the README's SecureString parameters."""
    import boto3
    from moto import mock_aws

    from shared import ssm

    env = SERVERLESS["provider"]["environment"]
    prefix = env["SSM_PREFIX"].replace("${param:ssmPrefix}", "/queue-services/prod")
    values = {name: f"value-of-{name.lower()}" for name in env["SSM_SECRETS"].split(",")}
    values["API_KEYS"] = "acme:k-0123456789abcdef"
    values["DASHBOARD_PASSWORD"] = "a-strong-dashboard-password"  # production refuses a weak one
    for name in values:
        monkeypatch.delenv(name, raising=False)
    ssm.clear_cache()
    try:
        with mock_aws():
            client = boto3.client("ssm", region_name="eu-west-1")
            for name, value in values.items():
                client.put_parameter(
                    Name=f"/queue-services/prod/{name}", Value=value, Type="SecureString"
                )
            loaded = Settings(  # type: ignore[call-arg]
                _env_file=None, aws_region="eu-west-1", ssm_prefix=prefix,
                ssm_secrets=env["SSM_SECRETS"], app_env="production",
            )  # fmt: skip
    finally:
        ssm.clear_cache()
    for name, value in values.items():
        assert getattr(loaded, name.lower()) == value, name


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


def test_the_redis_token_is_one_securestring_that_no_environment_holds():
    """ElastiCache's AUTH token and every process's REDIS_PASSWORD are the same SecureString
    parameter; REDIS_URL (a String parameter the stack writes) carries no credentials."""
    token = STACK["Resources"]["Redis"]["Properties"]["AuthToken"]
    assert token == {"Fn::Sub": "{{resolve:ssm-secure:" + STACK_PREFIX + "/REDIS_PASSWORD}}"}
    assert "REDIS_PASSWORD" in SERVERLESS["provider"]["environment"]["SSM_SECRETS"].split(",")
    for task in ("WorkerTask", "SchedulerTask"):
        assert container_sources(task)["REDIS_PASSWORD"] == "REDIS_PASSWORD"
        assert "REDIS_PASSWORD" not in {e["Name"] for e in container(task)["Environment"]}
    url = STACK["Resources"]["RedisUrl"]
    assert url["Type"] == "AWS::SSM::Parameter" and url["Properties"]["Type"] == "String"
    assert url["Properties"]["Name"] == {"Fn::Sub": STACK_PREFIX + "/REDIS_URL"}
    template = url["Properties"]["Value"]["Fn::Sub"][0]
    assert template.startswith("rediss://") and "@" not in template
    assert lambda_sources()["REDIS_URL"] == container_sources("WorkerTask")["REDIS_URL"]
    kinds = {r["Type"] for r in STACK["Resources"].values()}
    assert "AWS::SecretsManager::Secret" not in kinds


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
