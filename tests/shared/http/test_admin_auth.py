"""Admin credentials on EVERY admin route of ``serverless.yml`` (a new ``auth="admin"`` route is
covered without a line here): the dashboard's basic auth, HS256 and RS256 admin JWTs, and the
ways a token is refused (expired, not yet valid, no ``exp``, ``none``, HS/RS confusion, a foreign
key, a wrong role). Operator routes take the same JWTs for reading."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local.manifest import HttpRoute, load
from shared.settings import Settings, settings

SECRET = "hs256-test-secret-" + "x" * 64

ROUTES = [(route, fn.load()) for route, fn in load().routes]
ADMIN_ROUTES = [(r, h) for r, h in ROUTES if getattr(h, "requires_auth", None) == "admin"]
OPERATOR_ROUTES = [(r, h) for r, h in ROUTES if getattr(h, "requires_auth", None) == "operator"]


def route_id(item: tuple[HttpRoute, Any]) -> str:
    return f"{item[0].method} {item[0].path}"


def test_the_admin_routes_are_read_from_serverless_yml():
    listed = {route_id(item) for item in ADMIN_ROUTES}
    assert {"GET /api/queues", "POST /api/queues/{name}/drain", "POST /v1/admin/queue/pause",
            "POST /api/queues/{name}/pause"} <= listed  # fmt: skip
    assert {"GET /api/bullmq/stats", "GET /api/metrics"} <= {route_id(i) for i in OPERATOR_ROUTES}


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, str, bytes]:
    """(the issuer's private key PEM, its public key PEM, another issuer's private key PEM)."""
    ours = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = ours.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private_pem(ours), public.decode(), private_pem(other)


@pytest.fixture
def creds(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch, rsa_keys: tuple[bytes, str, bytes]
) -> dict[str, str]:
    """Every kind of credential, configured, as the Authorization header value to send."""
    private, public, foreign = rsa_keys
    api_key, service = "key-" + uuid.uuid4().hex, "svc-" + uuid.uuid4().hex
    monkeypatch.setattr(settings, "api_keys", f"acme:{api_key}")
    monkeypatch.setattr(settings, "service_token", service)
    monkeypatch.setattr(settings, "dashboard_username", "ops")
    monkeypatch.setattr(settings, "dashboard_password", "pw-123")
    monkeypatch.setattr(settings, "jwt_secret", SECRET)
    # as an env variable carries it: one line with \n escapes
    monkeypatch.setattr(settings, "jwt_public_key", public.replace("\n", "\\n"))
    now = int(time.time())
    good = {"sub": "u1", "role": "admin", "iat": now, "exp": now + 600}

    def hs(claims: dict[str, Any], key: str = SECRET) -> str:
        return "Bearer " + jwt.encode(claims, key, algorithm="HS256")

    def rs(claims: dict[str, Any], key: bytes = private) -> str:
        return "Bearer " + jwt.encode(claims, key, algorithm="RS256")

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    return {
        "basic": basic("ops", "pw-123"),
        "hs256": hs(good),
        "rs256": rs(good),
        "roles_list": rs(good | {"role": None, "roles": ["user", "ADMIN"]}),
        "viewer": hs(good | {"role": "viewer"}),
        "wrong_basic": basic("ops", "wrong"),
        "api_key": f"Bearer {api_key}",
        "service_token": f"Bearer {service}",
        "expired": hs(good | {"exp": now - 120}),
        "not_yet_valid": rs(good | {"nbf": now + 600}),
        "no_exp": hs({k: v for k, v in good.items() if k != "exp"}),
        "wrong_secret": hs(good, "another-secret-" + "y" * 32),
        "foreign_rsa_key": rs(good, foreign),
        "alg_none": "Bearer " + jwt.encode(good, None, algorithm="none"),
        "hs256_signed_with_public_key": "Bearer " + hmac_jwt(good, public.encode()),
        "hs512": "Bearer " + jwt.encode(good, SECRET, algorithm="HS512"),
        "wrong_role": hs(good | {"role": "user"}),
        "no_role": rs({k: v for k, v in good.items() if k != "role"}),
        "garbage": "Bearer not.a.jwt",
    }


def hmac_jwt(claims: dict[str, Any], key: bytes) -> str:
    """An HS256 token made by hand (PyJWT refuses a PEM key as an HMAC secret): the classic
    algorithm-confusion attack, "signed" with the server's public key."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def call(route: HttpRoute, handler: Callable[..., dict[str, Any]], authorization: str | None):
    """Call the route's handler as API Gateway would: path parameters and ``?queue=`` name
    the ``sms`` queue."""
    params = dict.fromkeys(re.findall(r"{(\w+)}", route.path), "sms")
    path = re.sub(r"{\w+}", "sms", route.path)
    headers = {"content-type": "application/json"}
    if authorization:
        headers["authorization"] = authorization
    event = {
        "version": "2.0",
        "rawPath": path,
        "headers": headers,
        "pathParameters": params,
        "queryStringParameters": {"queue": "sms"},
        "requestContext": {"http": {"method": route.method, "path": path}, "requestId": "t"},
        "body": "",
    }
    response = handler(event, None)
    is_json = "json" in response["headers"]["content-type"]
    return response["statusCode"], json.loads(response["body"]) if is_json else response["body"]


ACCEPTED = ["basic", "hs256", "rs256", "roles_list"]
#: credential -> (status, a word the problem's detail must contain)
REFUSED = {
    None: (401, "credentials"),
    "wrong_basic": (401, "not valid"),
    "api_key": (401, "not admin"),
    "service_token": (401, "not admin"),
    "expired": (401, "expired"),
    "not_yet_valid": (401, "not valid yet"),
    "no_exp": (401, "exp"),
    "wrong_secret": (401, "signature"),
    "foreign_rsa_key": (401, "signature"),
    "alg_none": (401, "'none' is not accepted"),
    "hs256_signed_with_public_key": (401, "signature"),
    "hs512": (401, "'HS512' is not accepted"),
    "garbage": (401, "well-formed"),
    "wrong_role": (403, "['user']"),
    "no_role": (403, "no role"),
}


# One test per route, looping over the credentials: the Redis fixture's cleanup dominates.
@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=route_id)
def test_every_admin_route_accepts_basic_auth_and_admin_jwts(route, creds):
    for credential in ACCEPTED:
        status, body = call(*route, creds[credential])
        assert status not in (401, 403) and status < 500, (credential, body)


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=route_id)
def test_every_admin_route_refuses_everything_else_with_a_clear_problem(route, creds):
    for credential, (expected, word) in REFUSED.items():
        status, body = call(*route, creds[credential] if credential else None)
        assert (status, body["status"]) == (expected, expected), (credential, body)
        assert word in body["detail"], (credential, body)


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=route_id)
def test_a_viewer_jwt_reads_but_changes_nothing(route, creds):
    status, body = call(*route, creds["viewer"])
    if route[0].method == "GET":
        assert status not in (401, 403) and status < 500, body
    else:
        assert status == 403 and "'admin'" in body["detail"], body


def test_an_rs256_token_is_refused_when_only_jwt_secret_is_set(creds, monkeypatch):
    monkeypatch.setattr(settings, "jwt_public_key", "")
    route = next(item for item in ADMIN_ROUTES if route_id(item) == "GET /api/queues")
    status, body = call(*route, creds["rs256"])
    assert status == 401 and "'RS256' is not accepted; accepted: HS256" in body["detail"]
    assert call(*route, creds["hs256"])[0] == 200


def test_without_jwt_keys_no_token_is_admin(creds, monkeypatch):
    monkeypatch.setattr(settings, "jwt_public_key", "")
    monkeypatch.setattr(settings, "jwt_secret", "")
    route = next(item for item in ADMIN_ROUTES if route_id(item) == "GET /api/queues")
    assert call(*route, creds["hs256"])[0] == 401
    assert call(*route, creds["basic"])[0] == 200


def test_issuer_and_audience_are_checked_when_configured(creds, monkeypatch):
    monkeypatch.setattr(settings, "jwt_issuer", "launchkit")
    monkeypatch.setattr(settings, "jwt_audience", "queue-services")
    route = next(item for item in ADMIN_ROUTES if route_id(item) == "GET /api/queues")
    now = int(time.time())
    claims = {"role": "admin", "exp": now + 60, "iss": "launchkit", "aud": "queue-services"}
    token = "Bearer " + jwt.encode(claims, SECRET, algorithm="HS256")
    assert call(*route, token)[0] == 200
    status, body = call(*route, creds["hs256"])  # no iss/aud
    assert status == 401, body


@pytest.mark.parametrize("route", OPERATOR_ROUTES, ids=route_id)
def test_operator_routes_take_admin_and_viewer_jwts_and_refuse_bad_ones(route, creds):
    for credential in ["hs256", "rs256", "viewer", "service_token", "basic"]:
        status, body = call(*route, creds[credential])
        assert status in (200, 503), (credential, body)
    for credential in ["expired", "alg_none", "wrong_role", "api_key"]:
        status, body = call(*route, creds[credential])
        expected = 403 if credential in ("wrong_role", "api_key") else 401
        assert status == expected, (credential, body)


def test_a_service_token_shaped_like_a_jwt_still_opens_operator_routes(creds, monkeypatch):
    monkeypatch.setattr(settings, "service_token", "svc.with.dots")
    route = next(item for item in OPERATOR_ROUTES if route_id(item) == "GET /api/bullmq/stats")
    assert call(*route, "Bearer svc.with.dots")[0] == 200


def test_jwt_public_key_is_checked_at_start_up(monkeypatch, rsa_keys):
    monkeypatch.setenv("JWT_PUBLIC_KEY", rsa_keys[1].replace("\n", "\\n"))
    assert "BEGIN PUBLIC KEY" in Settings(_env_file=None).jwt_public_key  # type: ignore[call-arg]
    monkeypatch.setenv(
        "JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\\nnope\\n-----END PUBLIC KEY-----"
    )
    with pytest.raises(ValueError, match="JWT_PUBLIC_KEY is not a PEM RSA public key"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_an_api_key_shaped_like_a_jwt_is_still_told_it_is_not_admin(creds, monkeypatch):
    monkeypatch.setattr(settings, "api_keys", "acme:key.with.dots")
    admin = next(item for item in ADMIN_ROUTES if route_id(item) == "GET /api/queues")
    status, body = call(*admin, "Bearer key.with.dots")
    assert status == 401 and "not admin" in body["detail"]
    operator = next(item for item in OPERATOR_ROUTES if route_id(item) == "GET /api/bullmq/stats")
    assert call(*operator, "Bearer key.with.dots")[0] == 403
