"""Admin JWTs (seed 003's "JWT Required" admin routes): ``Authorization: Bearer <jwt>``.

Accepted: HS256 signed with ``JWT_SECRET``, or RS256 verified with ``JWT_PUBLIC_KEY`` (PEM),
whichever are configured. The algorithm is pinned by the key that verifies it: the token's
``alg`` header only picks between the configured ones, so ``none``, an HS256 token "signed"
with the public key, or any other algorithm is refused. ``exp`` is required; ``exp`` and
``nbf`` are checked with ``JWT_LEEWAY_S`` of clock skew; ``iss``/``aud`` when configured.

Roles come from the ``role`` claim (a string) or the ``roles`` claim (a list), compared
case-insensitively (LaunchKit writes ``ADMIN``): ``admin`` may do everything on admin routes,
``viewer`` only read (GET).
"""

from __future__ import annotations

from typing import Any, Literal

from shared.http.problems import Problem
from shared.settings import settings

#: Sent with every 401 of an admin route that takes a Bearer JWT.
JWT_CHALLENGE = {"www-authenticate": 'Bearer realm="queue-services admin"'}
#: The claims roles are read from: a string, or a list of strings.
ROLE_CLAIMS = ("role", "roles")
Role = Literal["admin", "viewer"]


def jwt_configured() -> bool:
    """Whether any JWT key is configured (else no Bearer token is an admin credential)."""
    return bool(settings.jwt_secret or settings.jwt_public_key)


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated parts (an API key never has this shape by accident, and if it did,
    it would simply fail verification)."""
    return token.count(".") == 2


def _keys() -> dict[str, str]:
    """Algorithm -> the key that verifies it, for the configured keys only."""
    keys = {}
    if settings.jwt_secret:
        keys["HS256"] = settings.jwt_secret
    if settings.jwt_public_key:
        keys["RS256"] = settings.jwt_public_key.replace("\\n", "\n")
    return keys


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers=JWT_CHALLENGE)


def verify(token: str) -> dict[str, Any]:
    """The claims of a valid token; a 401 problem saying why otherwise."""
    import jwt  # here, not at the top: PyJWT + cryptography cost ~30 ms of every cold start

    keys = _keys()
    try:
        alg = jwt.get_unverified_header(token).get("alg")
    except jwt.DecodeError:
        raise _unauthorized("The bearer token is not a well-formed JWT.") from None
    if alg not in keys:
        accepted = " or ".join(sorted(keys)) or "none (no JWT_SECRET or JWT_PUBLIC_KEY set)"
        raise _unauthorized(f"JWT algorithm {alg!r} is not accepted; accepted: {accepted}.")
    try:
        return jwt.decode(
            token,
            keys[alg],
            algorithms=[alg],
            options={"require": ["exp"], "verify_aud": bool(settings.jwt_audience)},
            audience=settings.jwt_audience or None,
            issuer=settings.jwt_issuer or None,
            leeway=settings.jwt_leeway_s,
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("The JWT has expired.") from None
    except jwt.ImmatureSignatureError:
        raise _unauthorized("The JWT is not valid yet (nbf).") from None
    except jwt.MissingRequiredClaimError as exc:
        raise _unauthorized(f"The JWT lacks the {exc.claim!r} claim.") from None
    except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as exc:
        raise _unauthorized(f"The JWT is not for this service: {exc}.") from None
    except jwt.InvalidTokenError:  # bad signature, malformed claims, unusable key
        raise _unauthorized("The JWT signature is not valid.") from None


def roles_of(claims: dict[str, Any]) -> set[str]:
    """The lower-cased roles a token's claims name."""
    found: set[str] = set()
    for name in ROLE_CLAIMS:
        value = claims.get(name)
        values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        found |= {v.lower() for v in values if isinstance(v, str)}
    return found


def authorize(token: str, *, read_only: bool) -> Role:
    """The role a valid admin JWT grants for this request: 401 for an invalid token, 403 for a
    valid one without the role (``viewer`` is enough when ``read_only``)."""
    roles = roles_of(verify(token))
    if "admin" in roles:
        return "admin"
    if read_only and "viewer" in roles:
        return "viewer"
    needed = "'admin' or 'viewer'" if read_only else "'admin'"
    raise Problem(
        403,
        f"The JWT is valid but its role/roles claim names {sorted(roles) or 'no role'}; "
        f"this route needs {needed}.",
    )
