"""Secrets from AWS SSM Parameter Store, read once per process when ``SSM_PREFIX`` is set.

``Settings`` calls :func:`with_ssm_secrets` while it is built (at import, so at a Lambda's
cold start). Each name of ``SSM_SECRETS`` is read from the parameter ``<SSM_PREFIX>/<NAME>``
(SecureString, decrypted; a plain String is accepted with a warning) in one ``GetParameters``
call per 10 names, and **wins over the same setting in the environment**: with ``SSM_PREFIX``
set, Parameter Store is the one source of those secrets (an env value left beside it is ignored,
with a warning naming the variable). A parameter that does not exist stops start-up with an
error naming it; no error or log line ever carries a value. The values are cached for the
process, so building ``Settings`` again costs no round trip.

Only this module imports boto3, and only when called: without ``SSM_PREFIX`` nothing here runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from pydantic.fields import FieldInfo

log = logging.getLogger("qs.ssm")

#: The settings ``SSM_SECRETS`` may name: env name -> field name.
SECRET_SETTINGS = {
    "API_KEYS": "api_keys",
    "SERVICE_TOKEN": "service_token",
    "METRICS_TOKEN": "metrics_token",
    "WEBHOOK_SECRET": "webhook_secret",
    "WEBHOOK_SECRETS": "webhook_secrets",
    "DASHBOARD_PASSWORD": "dashboard_password",
    "DASHBOARD_READONLY_USERS": "dashboard_readonly_users",
    "JWT_SECRET": "jwt_secret",
    "AI_API_KEY": "ai_api_key",
    "REDIS_PASSWORD": "redis_password",
    "REDIS_URL": "redis_url",
}
#: Most names one ``GetParameters`` call takes (an AWS limit).
BATCH = 10
DEFAULT_REGION = "us-east-1"

_cache: dict[tuple[str, str, tuple[str, ...]], dict[str, str]] = {}
_lock = threading.Lock()


def parameter_names(prefix: str, secrets: str) -> dict[str, str]:
    """``SSM_SECRETS`` as env name -> parameter name; ``ValueError`` on a bad prefix or name."""
    if not prefix.startswith("/") or prefix.rstrip("/") == "":
        raise ValueError(
            f"SSM_PREFIX must be a parameter path such as /queue-services/prod, not {prefix!r}"
        )
    names = [n.strip().upper() for n in secrets.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECRET_SETTINGS]
    if unknown:
        raise ValueError(
            f"SSM_SECRETS names {', '.join(unknown)}, which SSM_PREFIX cannot load "
            f"(it loads: {', '.join(SECRET_SETTINGS)})"
        )
    base = prefix.rstrip("/")
    return {name: f"{base}/{name}" for name in dict.fromkeys(names)}


def fetch(region: str, parameters: Mapping[str, str]) -> dict[str, str]:
    """The decrypted values of ``parameters`` (env name -> parameter name), by env name;
    cached per process. ``ValueError`` naming every missing parameter or a failed call."""
    key = (region, "|".join(parameters.values()), tuple(parameters))
    with _lock:
        if key not in _cache:
            _cache[key] = _fetch(region, parameters)
        return dict(_cache[key])


def _fetch(region: str, parameters: Mapping[str, str]) -> dict[str, str]:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    config = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard"})
    client = boto3.session.Session().client("ssm", region_name=region, config=config)
    by_path = {path: name for name, path in parameters.items()}
    paths, found, missing = list(by_path), {}, []
    for start in range(0, len(paths), BATCH):
        chunk = paths[start : start + BATCH]
        try:
            answer = client.get_parameters(Names=chunk, WithDecryption=True)
        except (BotoCoreError, ClientError) as exc:
            raise ValueError(
                f"SSM_PREFIX: reading {', '.join(chunk)} from SSM Parameter Store ({region}) "
                f"failed: {exc}"
            ) from None
        missing += answer.get("InvalidParameters", [])
        for parameter in answer.get("Parameters", []):
            if parameter.get("Type") != "SecureString":
                log.warning("SSM parameter %s is a plain %s, not a SecureString",
                            parameter["Name"], parameter.get("Type"))  # fmt: skip
            found[by_path[parameter["Name"]]] = parameter["Value"]
    if missing:
        raise ValueError(
            f"SSM_PREFIX: parameter(s) {', '.join(sorted(missing))} not found in SSM Parameter "
            f"Store ({region}); create them (SecureString) or drop the names from SSM_SECRETS"
        )
    return found


def with_ssm_secrets(data: dict[str, Any], fields: Mapping[str, FieldInfo]) -> dict[str, Any]:
    """``data`` (the settings' raw input, by field name or env alias) with the secrets of
    ``SSM_SECRETS`` replaced by their Parameter Store values."""
    parameters = parameter_names(
        str(data["ssm_prefix"]), str(data.get("ssm_secrets", fields["ssm_secrets"].default))
    )
    if not parameters:  # SSM_SECRETS is empty: nothing to read
        return data
    values = fetch(str(data.get("aws_region") or DEFAULT_REGION), parameters)
    out = dict(data)
    for env_name, value in values.items():
        field = SECRET_SETTINGS[env_name]
        spellings = {field, env_name, *_aliases(fields[field])}
        shadowed = [s for s in spellings if out.pop(s, None) not in (None, "")]
        if shadowed:
            log.warning("%s is set in the environment and in SSM: the SSM value is used", env_name)
        out[field] = value
    return out


def _aliases(field: FieldInfo) -> list[str]:
    choices = getattr(field.validation_alias, "choices", None) or []
    return [c for c in choices if isinstance(c, str)]


def clear_cache() -> None:
    """Forget the values read (tests; a process never needs it)."""
    with _lock:
        _cache.clear()
