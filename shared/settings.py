"""The one settings object, read from the environment and a ``.env`` file
(``shared.settings_source``: the environment wins, names are case-insensitive).

Every other module reads configuration from ``settings``; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from shared.inbound.channels import parse_secrets, parse_unsigned
from shared.settings_source import ENV_FILE, raw_values

#: Organisation assigned to a plain API key (one without an ``org:`` prefix).
DEFAULT_ORG = "default"
#: Organisation of a caller that authenticated with ``SERVICE_TOKEN``: it sees every
#: organisation's jobs.
SERVICE_ORG = "service"
#: Organisation of a caller that authenticated as dashboard admin (HTTP basic auth).
ADMIN_ORG = "admin"
#: Organisation of a caller that authenticated with ``METRICS_TOKEN`` (monitoring routes only).
METRICS_ORG = "metrics"
#: Organisations an ``API_KEYS`` entry may not claim, compared case-insensitively: each names a
#: caller that sees more than one organisation ("-" holds the usage of jobs without one).
RESERVED_ORGS = frozenset({SERVICE_ORG, ADMIN_ORG, METRICS_ORG, "-"})
#: An organisation name: it becomes part of Redis keys, so no braces (hash tags), glob
#: characters, colons or spaces; 1 to 64 characters.
ORG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: An SNS sender id: 1-11 letters and digits (at least one letter, checked beside it).
SENDER_ID = re.compile(r"[A-Za-z0-9]{1,11}")


@dataclass(frozen=True)
class ApiKey:
    """One accepted credential and the organisation it belongs to."""

    org: str
    secret: str


class RateSetting(BaseModel):
    """``{"max": N, "duration_ms": W}``: at most N job starts in any W-millisecond window."""

    model_config = ConfigDict(extra="forbid")
    max: int = Field(gt=0)
    duration_ms: int = Field(gt=0)


class QueueLimitsSetting(BaseModel):
    """One queue's entry of ``QUEUE_LIMITS``; a field left out keeps the queue table's value,
    a field set to null removes that limit."""

    model_config = ConfigDict(extra="forbid")
    limiter: RateSetting | None = None
    concurrency: int | None = Field(None, gt=0)
    workspace_limiter: RateSetting | None = None


class Settings(BaseModel):
    """Service configuration; each field maps to the upper-case env variable of its name.

    ``Settings()`` reads the environment over ``.env`` (``_env_file``: another file, or None
    for none); keyword arguments win over both.
    """

    # hide_input_in_errors: a refused setting's message must not echo the secrets beside it.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, hide_input_in_errors=True)

    def __init__(self, _env_file: str | os.PathLike[str] | None = ENV_FILE, **values: Any):
        super().__init__(**{**raw_values(type(self).model_fields, _env_file), **values})

    # Redis: REDIS_URL wins over REDIS_HOST/PORT; REDIS_USER/REDIS_PASSWORD fill in the
    # credentials of a REDIS_URL that has none (the AWS deploy: the token comes from SSM).
    redis_url: str | None = None
    redis_host: str = "localhost"
    redis_port: int = 6379
    redis_user: str = ""
    redis_password: str = ""
    redis_prefix: str = "qs"  #: prefix of every key this service writes (and Dramatiq namespace)
    #: ``host:port,host:port`` of Redis Sentinels: the primary named ``REDIS_SENTINEL_MASTER``
    #: is found (and followed after a failover) through them; REDIS_URL then gives only the
    #: credentials and database
    redis_sentinels: str = ""
    redis_sentinel_master: str = "mymaster"  #: the Sentinel name of the primary
    #: REDIS_URL names a Redis Cluster (any node as the seed; also said by a
    #: ``redis+cluster://`` URL): every queue lives in one hash slot, queues spread over nodes
    redis_cluster: bool = False
    #: a create is acknowledged (202) only once this many replicas have it (Redis ``WAIT``);
    #: 0: as soon as the primary has it (a failover may lose the last few ms of jobs)
    redis_wait_replicas: int = Field(0, ge=0)
    redis_wait_timeout_ms: int = Field(100, gt=0)  #: longest wait for those replicas, in ms

    # HTTP gateway.
    host: str = "127.0.0.1"
    port: int = 3000
    app_env: Literal["dev", "production"] = "dev"
    max_body_bytes: int = 1_048_576  #: request bodies above this many bytes get 413
    gateway_workers: int = 0  #: ``qs gateway`` processes; 0: the machine's CPUs + 1
    gateway_threads: int = 0  #: handler threads per gateway process; 0: on the event loop
    #: on the event loop (``GATEWAY_THREADS=0``): job creations arriving while one is being
    #: written go to Redis together, in one script call (``shared.jobs.group_commit``)
    gateway_group_commit: bool = True
    #: the most jobs one group-commit script call writes (a larger request goes alone)
    group_commit_max_jobs: int = 256

    # Credentials.
    #: comma-separated; an entry may be ``org:key`` (``org``: letters, digits, ``.``, ``_``,
    #: ``-``; not a reserved name such as ``service``)
    api_keys: str = ""
    service_token: str = ""  #: the trusted service-to-service key: sees every organisation
    metrics_token: str = ""  #: Bearer token for /metrics, /api/metrics and /api/health/status
    dashboard_username: str = Field(
        "admin", validation_alias=AliasChoices("DASHBOARD_USERNAME", "BULL_BOARD_USERNAME")
    )
    dashboard_password: str = Field(
        "", validation_alias=AliasChoices("DASHBOARD_PASSWORD", "BULL_BOARD_PASSWORD")
    )
    #: HS256 key of admin JWTs (seed 003); empty: no HS256 token is accepted
    jwt_secret: str = ""
    #: PEM public key of RS256 admin JWTs (``\n`` escapes accepted); empty: no RS256 token
    jwt_public_key: str = ""
    jwt_issuer: str = ""  #: when set, an admin JWT's ``iss`` must be this
    jwt_audience: str = ""  #: when set, an admin JWT's ``aud`` must name this
    jwt_leeway_s: float = Field(30.0, ge=0)  #: clock skew allowed on ``exp``/``nbf``, seconds
    #: serve the dashboard at /admin/queues; in production it then needs a strong
    #: DASHBOARD_PASSWORD (12+ characters, not the seed's default)
    dashboard_enabled: bool = True
    #: comma-separated ``user:password`` entries who see the dashboard and change nothing
    dashboard_readonly_users: str = ""

    # Workers and scheduler.
    worker_processes: int = 2
    worker_threads: int = 8
    heartbeat_interval_s: float = 5.0  #: how often workers and scheduler report liveness
    heartbeat_ttl_s: float = 20.0  #: a worker silent for longer is considered dead
    due_poll_interval_ms: int = 10  #: how often the scheduler looks for due jobs
    #: jobs of a queue without limits due within this many ms are put on held messages ahead
    #: of time and released at their due time (0: only once due); see ``shared/jobs/due.py``
    due_ahead_ms: int = 200
    #: ``qs scheduler`` sends the cron functions' ticks; ``false`` where EventBridge already
    #: invokes them (the AWS deploy), so each tick runs once: the scheduler then only moves due
    #: jobs, beats and publishes the schedule table
    scheduler_cron: bool = True
    worker_idle_poll_ms: int = 100  #: longest wait of an idle worker between looks at its queues
    worker_shutdown_timeout_s: float = 60.0  #: on SIGTERM, how long jobs in flight may finish
    delivery_batch: int = 20  #: most due jobs handed to a worker in one message
    #: per-queue limits over the queue table's, JSON: ``{"sms": {"limiter": {"max": 50,
    #: "duration_ms": 1000}, "concurrency": 5, "workspace_limiter": null}}``
    queue_limits: dict[str, QueueLimitsSetting] = {}
    #: queues split into sub-queues by workspace, e.g. ``{"sms": 4}``: each sub-queue is its
    #: own hash slot (a hot queue spreads over a Redis Cluster's nodes) with a share of the
    #: queue's rate and concurrency; per-workspace limits and fairness hold whole
    queue_shards: dict[str, int] = {}
    #: most jobs of a queue without a concurrency limit that are running or handed to workers
    #: at once; the rest wait in the service's own lines, where priorities apply
    dispatch_ahead: int = 1000

    # Deliveries: where callbacks go, how they are signed and timed out (seed names).
    sms_api_url: str = "http://127.0.0.1:4000"
    email_api_url: str = "http://127.0.0.1:4000"
    app_api_url: str = ""
    sms_callback_endpoint: str = "/send-sms"
    email_callback_endpoint: str = "/api/email/send"
    #: where the general jobs (``POST /api/jobs``) are delivered, on ``APP_API_URL``
    message_processing_endpoint: str = "/api/queue/message-processing"
    email_sending_endpoint: str = "/api/queue/email-sending"
    notifications_endpoint: str = "/api/queue/notifications"
    analytics_retention_days: int = 35  #: how long per-minute analytics counters are kept, days
    #: signs callbacks (Standard Webhooks) when set: ``whsec_<base64 key>`` or a raw string
    webhook_secret: str = ""
    #: receives ``{jobId, status: "failed", error, queue, attempts, data}`` after the last attempt
    failure_webhook_url: str = ""
    callback_connect_timeout_s: float = 5.0
    callback_timeout_s: float = 30.0
    max_delay_days: int = 400  #: furthest a job may be scheduled ahead, in days
    #: comma-separated hosts a callback URL may name; empty: the hosts of SMS_API_URL,
    #: EMAIL_API_URL and APP_API_URL
    callback_allowed_hosts: str = ""
    callback_allowed_networks: str = ""  #: comma-separated CIDRs callbacks may reach outside dev

    # Direct delivery providers (shared/delivery/providers.py): the callback, or AWS itself.
    sms_provider: Literal["callback", "sns"] = "callback"  #: a job's ``metadata.provider`` wins
    email_provider: Literal["callback", "ses"] = "callback"  #: a job's ``metadata.provider`` wins
    #: SNS ``AWS.SNS.SMS.SenderID``: 1-11 letters and digits, at least one letter; empty: none
    sms_sender_id: str = ""
    sms_type: Literal["Transactional", "Promotional"] = "Transactional"  #: SNS SMS type
    #: SES sender, ``a@example.com`` or ``Name <a@example.com>`` (a verified identity)
    email_from: str = ""

    # Cron functions (serverless.yml schedules).
    #: path on APP_API_URL that ``process-scheduled-messages`` GETs the due messages from
    scheduled_messages_endpoint: str = "/api/scheduled-messages/due"
    #: receives a signed POST when ``health-check`` finds the service unhealthy, and when healthy
    #: again; empty: no alerts
    alert_webhook_url: str = ""

    # Long jobs that call your app (APP_API_URL): bulk availability checks, integration syncs.
    leads_endpoint: str = "/api/leads"  #: GET ``?ids=a,b,c``: the leads' fresh data, by id
    #: receives a bulk availability check's results (POST, signed)
    bulk_availability_results_endpoint: str = "/api/leads/availability"
    #: POST ``{provider, workspaceId, cursor, page}``: one page of a sync; answers ``nextCursor``
    integration_sync_endpoint: str = "/api/integrations/sync"

    # AI provider (OpenAI-compatible; offline built-in when AI_API_URL is unset).
    ai_api_url: str = ""  #: base URL, e.g. ``https://api.openai.com/v1``; empty: built-in provider
    ai_api_key: str = ""  #: sent as ``Authorization: Bearer <key>`` when set
    ai_model: str = "gpt-4o-mini"  #: model name sent with every request
    ai_timeout_s: float = 30.0  #: connect/read/write timeout of one request, in seconds
    ai_max_retries: int = 3  #: retries after the first try on 408/429/5xx/network errors
    #: model name -> US cents per 1,000 tokens (prompt + completion); unlisted models cost 0
    ai_cost_per_1k_tokens: dict[str, float] = {}

    # AI requests: POST /api/ai-response admission limits (seed) and input size.
    ai_response_limit_per_workspace: int = 100  #: requests per window per workspace
    ai_response_limit_per_contact: int = 5  #: requests per window per contact
    ai_response_limit_window_s: int = 60  #: the sliding window of both, in seconds
    ai_max_text_bytes: int = 102_400  #: largest text an AI request may carry (UTF-8 bytes)

    # Inbound webhooks: POST /webhooks/{channel} (shared/inbound/).
    #: comma-separated ``channel:secret`` (Standard Webhooks) or ``channel:scheme:secret``
    #: (scheme ``standard``, ``stripe`` or ``github``); a channel named twice has two secrets
    webhook_secrets: str = ""
    #: comma-separated channels accepted without a signature when they have no secret
    #: (``*``: every channel); empty: a channel without a secret is refused
    webhook_allow_unsigned: str = ""
    webhook_tolerance_s: int = Field(300, gt=0)  #: accepted signature age (and skew), seconds
    webhook_max_body_bytes: int = Field(262_144, gt=0)  #: larger inbound bodies get 413
    webhook_rate_limit_per_channel: int = Field(100, gt=0)  #: deliveries per window per channel
    webhook_rate_limit_window_s: int = Field(1, gt=0)  #: that sliding window, in seconds
    #: how long a provider's event id is remembered to drop a repeated delivery, in seconds
    webhook_dedup_window_s: int = Field(86_400, gt=0)

    # Secrets from SSM Parameter Store (shared/ssm.py), read once at start-up.
    #: path prefix of the parameters, e.g. ``/queue-services/prod``: each name of
    #: ``SSM_SECRETS`` is read from ``<prefix>/<NAME>`` and wins over its env value; empty: off
    ssm_prefix: str = ""
    #: comma-separated settings ``SSM_PREFIX`` loads (see ``shared.ssm.SECRET_SETTINGS``)
    ssm_secrets: str = "API_KEYS,WEBHOOK_SECRET,DASHBOARD_PASSWORD,JWT_SECRET,AI_API_KEY"

    # AWS: the region of SNS, SES and SSM clients, and the identity used in emulated events.
    aws_region: str = "us-east-1"
    aws_account_id: str = "123456789012"
    log_level: str = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_ssm(cls, data: Any) -> Any:
        """With ``SSM_PREFIX`` set, the secrets of ``SSM_SECRETS`` come from Parameter Store
        (boto3 is imported only then)."""
        if isinstance(data, dict) and data.get("ssm_prefix"):
            from shared.ssm import with_ssm_secrets

            return with_ssm_secrets(data, cls.model_fields)
        return data

    @model_validator(mode="after")
    def _providers_configured(self) -> Settings:
        sender = self.sms_sender_id
        if sender and not (SENDER_ID.fullmatch(sender) and re.search("[A-Za-z]", sender)):
            raise ValueError("SMS_SENDER_ID must be 1-11 letters and digits, at least one letter")
        if self.email_provider == "ses" and not self.email_from:
            raise ValueError("EMAIL_PROVIDER=ses needs EMAIL_FROM (a verified SES identity)")
        for name, value in (
            ("SMS_PROVIDER", self.sms_provider),
            ("EMAIL_PROVIDER", self.email_provider),
        ):
            if value != "callback" and importlib.util.find_spec("boto3") is None:
                raise ValueError(f"{name}={value} needs boto3: pip install 'queue-services[aws]'")
        return self

    @model_validator(mode="after")
    def _production_needs_credentials(self) -> Settings:
        keys = self.parsed_api_keys()  # raises on a reserved or malformed entry
        _refuse_shared_secrets(keys, self.service_token, self.metrics_token)
        if self.app_env == "production" and not (keys or self.service_token):
            raise ValueError(
                "APP_ENV=production but neither API_KEYS nor SERVICE_TOKEN is set: "
                "refusing to start with every endpoint open"
            )
        return self

    @model_validator(mode="after")
    def _dashboard_password_is_strong(self) -> Settings:
        users = parse_readonly_users(self.dashboard_readonly_users)  # raises when malformed
        if self.app_env == "production" and self.dashboard_enabled:
            named = [(f"the password of read-only user {u!r}", p) for u, p in users]
            for who, password in [("DASHBOARD_PASSWORD", self.dashboard_password), *named]:
                weak = weak_password_reason(password)
                if weak:
                    raise ValueError(
                        f"APP_ENV=production with the dashboard enabled but {who} is {weak}: "
                        "refusing to start (set DASHBOARD_ENABLED=false to run without the "
                        "dashboard)"
                    )
        return self

    @model_validator(mode="after")
    def _webhook_channels_parse(self) -> Settings:
        parse_secrets(self.webhook_secrets)  # raises on a malformed entry, naming its channel
        parse_unsigned(self.webhook_allow_unsigned)
        return self

    @model_validator(mode="after")
    def _jwt_public_key_loads(self) -> Settings:
        if self.jwt_public_key:  # refused at start-up, not at the first admin request
            from cryptography.exceptions import UnsupportedAlgorithm
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            try:
                key = load_pem_public_key(self.jwt_public_key.replace("\\n", "\n").encode())
            except (ValueError, UnsupportedAlgorithm):
                key = None
            if not isinstance(key, RSAPublicKey):
                raise ValueError("JWT_PUBLIC_KEY is not a PEM RSA public key")
        return self

    def parsed_api_keys(self) -> list[ApiKey]:
        """``API_KEYS`` as a list; ``org:key`` entries carry their organisation.

        Raises ``ValueError`` (naming the organisation, never the key) on an entry that claims
        a reserved organisation or is malformed, so such a key never opens the API.
        """
        return [
            _parse_key(entry) for entry in (p.strip() for p in self.api_keys.split(",")) if entry
        ]

    def resolved_redis_url(self) -> str:
        """``REDIS_URL``, or a URL assembled from the ``REDIS_HOST`` family; either way with
        ``REDIS_USER``/``REDIS_PASSWORD`` where the URL names no password of its own."""
        if self.redis_url:
            return with_credentials(self.redis_url, self.redis_user, self.redis_password)
        auth = ""
        if self.redis_user or self.redis_password:
            auth = f"{quote(self.redis_user, safe='')}:{quote(self.redis_password, safe='')}@"
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/0"


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with ``password`` (and ``user`` unless the URL names one) as its credentials,
    percent-encoded; unchanged when ``password`` is empty, the URL has a password already, or
    it has no host part (``unix://``)."""
    netloc = urlsplit(url).netloc
    userinfo, at, host = netloc.rpartition("@")
    if not password or not netloc or (at and ":" in userinfo):
        return url
    name = userinfo if at else quote(user, safe="")
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{name}:{quote(password, safe='')}@{host}{rest[len(netloc) :]}"


#: Passwords refused for the dashboard in production: the seeds' defaults.
SEED_PASSWORDS = frozenset({"admin123", "admin", "password", "changeme"})
#: Shortest dashboard password accepted in production, in characters.
MIN_DASHBOARD_PASSWORD = 12


def weak_password_reason(password: str) -> str | None:
    """Why ``password`` is too weak for a production dashboard (empty, short, a seed
    default), or None."""
    if not password:
        return "empty"
    if password.casefold() in SEED_PASSWORDS:
        return "a seed default"
    if len(password) < MIN_DASHBOARD_PASSWORD:
        return f"shorter than {MIN_DASHBOARD_PASSWORD} characters"
    return None


def parse_readonly_users(value: str) -> list[tuple[str, str]]:
    """``DASHBOARD_READONLY_USERS`` as ``(user, password)`` pairs; ``ValueError`` (naming the
    user, never the password) on an entry without a user or a password."""
    users = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        user, sep, password = entry.partition(":")
        if not user.strip():
            raise ValueError("a DASHBOARD_READONLY_USERS entry has no user name")
        if not sep or not password:
            raise ValueError(f"DASHBOARD_READONLY_USERS entry {user.strip()!r} has no password")
        users.append((user.strip(), password))
    return users


def _parse_key(entry: str) -> ApiKey:
    """One ``API_KEYS`` entry: ``key`` (organisation ``default``) or ``org:key``."""
    org, sep, secret = entry.partition(":")
    if not sep:
        return ApiKey(DEFAULT_ORG, entry)
    org = org.strip()
    if not org:
        raise ValueError("an API_KEYS entry starts with ':': its organisation is empty")
    if org.casefold() in RESERVED_ORGS:
        raise ValueError(
            f"API_KEYS entry for organisation {org!r} refused: {org!r} is reserved "
            f"(reserved: {', '.join(sorted(RESERVED_ORGS))}); SERVICE_TOKEN is the key that "
            "sees every organisation"
        )
    if not ORG_NAME.fullmatch(org):
        raise ValueError(
            f"API_KEYS entry for organisation {org!r} refused: an organisation is 1-64 "
            "letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if not secret.strip():
        raise ValueError(f"API_KEYS entry for organisation {org!r} has an empty key")
    return ApiKey(org, secret.strip())


def _refuse_shared_secrets(keys: list[ApiKey], service_token: str, metrics_token: str) -> None:
    """One secret, one caller: two organisations (or an org and a token) may not share a key."""
    owner: dict[str, str] = {}
    for name, token in (("SERVICE_TOKEN", service_token), ("METRICS_TOKEN", metrics_token)):
        if token:
            owner.setdefault(token, name)
    for key in keys:
        other = owner.setdefault(key.secret, f"organisation {key.org!r}")
        if other != f"organisation {key.org!r}":
            raise ValueError(
                f"an API_KEYS entry for organisation {key.org!r} uses the same key as {other}"
            )


settings = Settings()
