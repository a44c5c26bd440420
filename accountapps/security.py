"""Who is calling, and what may they do.

Every request passes :func:`authenticate` (a ``before_request`` hook): the
``API-Key`` header identifies the client application, the bearer JWT the user.
Each view declares what it needs with :func:`requires`; a view that declares
nothing is refused (default deny). Object-level rules (a user sees only what it
created) live in :func:`visible_to`, which every query goes through.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import jwt
from flask import Flask, current_app, g, request

from .errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])

#: Scope levels implied by ``{domain}/full``.
_FULL_IMPLIES = ("read", "write", "delete", "readPii", "readBalance")

#: Marker for views that need only the API key (the API root, apiDoc, schemas).
PUBLIC = "public"

#: Marker for views that need no credentials at all: published, data-free
#: documents (JSON Schemas, the documentation page) that generic tools and
#: browsers fetch without headers.
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user acting through a client application."""

    user_id: str
    scopes: frozenset[str]
    client_id: str

    @cached_property
    def effective_scopes(self) -> frozenset[str]:
        expanded = set(self.scopes)
        for scope in self.scopes:
            domain, _, level = scope.partition("/")
            if level == "full":
                expanded.update(f"{domain}/{implied}" for implied in _FULL_IMPLIES)
        return frozenset(expanded)

    def has(self, scope: str) -> bool:
        """True when the token grants ``scope`` (directly or by ``*/full``)."""
        return scope in self.effective_scopes

    @property
    def is_admin(self) -> bool:
        """Acts for the financial institution (``admin/write`` or ``admin/full``)."""
        return self.has("admin/write")

    @property
    def can_read_pii(self) -> bool:
        """May see tax ids, full account numbers and other personal data."""
        return self.has("profiles/readPii")


def requires(scope: str) -> Callable[[F], F]:
    """Declare the scope a view needs (``banking/read``, ... or :data:`PUBLIC`)."""

    def mark(view: F) -> F:
        view.required_scope = scope  # type: ignore[attr-defined]
        return view

    return mark


def current_principal() -> Principal:
    """The caller of the current request (set by :func:`authenticate`)."""
    return g.principal


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401, "unauthorized", message,
        remediation="Send a valid API-Key header and an Authorization: Bearer access token.",
        headers={"WWW-Authenticate": 'Bearer realm="accountApplications"'},
    )


def hash_key(key: str) -> str:
    """The stored form of an API key (SHA-256; keys are long random strings)."""
    return hashlib.sha256(key.encode()).hexdigest()


#: Extra API-key lookups (the database table of issued keys plugs in here).
key_lookups: list[Callable[[str], str | None]] = []


def client_for_key(key: str) -> str | None:
    """The client id an API key belongs to, or ``None`` if it is not valid."""
    configured = current_app.config["ACCOUNTAPPS_API_KEYS"]
    digest = hash_key(key)
    for candidate in (k.strip() for k in configured.split(",")):
        if candidate and hmac.compare_digest(hash_key(candidate), digest):
            return f"key:{digest[:12]}"
    for lookup in key_lookups:
        client = lookup(key)
        if client:
            return client
    return None


def _verification_keys() -> tuple[list[Any], list[str]]:
    config = current_app.config
    keys: list[Any] = []
    algorithms: list[str] = []
    if config.get("ACCOUNTAPPS_JWT_SECRET"):
        keys.append(config["ACCOUNTAPPS_JWT_SECRET"])
        algorithms.append("HS256")
    if config.get("ACCOUNTAPPS_JWT_PUBLIC_KEY"):
        with open(config["ACCOUNTAPPS_JWT_PUBLIC_KEY"], "rb") as handle:
            keys.append(handle.read())
        algorithms.append("RS256")
    if config.get("ACCOUNTAPPS_JWT_JWKS"):
        with open(config["ACCOUNTAPPS_JWT_JWKS"]) as handle:
            for jwk in json.load(handle).get("keys", []):
                keys.append(jwt.PyJWK(jwk).key)
        if "RS256" not in algorithms:
            algorithms.append("RS256")
    return keys, algorithms


def decode_token(token: str) -> dict[str, Any]:
    """Verify a bearer JWT and return its claims; raise ``401`` if it is not valid."""
    config = current_app.config
    keys, algorithms = _verification_keys()
    try:
        header_alg = jwt.get_unverified_header(token).get("alg")
    except jwt.PyJWTError as exc:
        raise _unauthorized("The access token is missing, invalid or expired.") from exc
    if header_alg not in algorithms:
        raise _unauthorized("The access token is missing, invalid or expired.")
    for key in keys:
        if isinstance(key, str) != (header_alg == "HS256"):
            continue
        try:
            return jwt.decode(
                token, key, algorithms=[header_alg],
                audience=config.get("ACCOUNTAPPS_JWT_AUDIENCE"),
                issuer=config.get("ACCOUNTAPPS_JWT_ISSUER"),
                leeway=config["ACCOUNTAPPS_JWT_LEEWAY"],
                options={"require": ["exp", "sub"], "verify_aud": bool(
                    config.get("ACCOUNTAPPS_JWT_AUDIENCE"))},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise _unauthorized("The access token is missing, invalid or expired.") from exc
    raise _unauthorized("The access token is missing, invalid or expired.")


def mint_token(
    subject: str, scopes: str, *, secret: str, expires_in: int = 3600, **claims: Any
) -> str:
    """An HS256 token for development and tests."""
    import time

    now = int(time.time())
    payload = {"sub": subject, "scope": scopes, "iat": now, "nbf": now,
               "exp": now + expires_in, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def authenticate() -> None:
    """``before_request``: identify the caller and check the view's declared scope."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:  # unknown path or method: let routing answer 404/405
        return
    required = getattr(view, "required_scope", None)
    if required == ANONYMOUS:
        return
    key = request.headers.get("API-Key", "")
    client = client_for_key(key) if key else None
    if client is None:
        raise _unauthorized("The API key is missing or not valid.")
    g.client_id = client
    if required == PUBLIC:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("The access token is missing, invalid or expired.")
    claims = decode_token(token.strip())
    scope_claim = claims.get("scope", "")
    if not isinstance(scope_claim, str) or not isinstance(claims.get("sub"), str):
        raise _unauthorized("The access token is missing, invalid or expired.")
    g.principal = Principal(claims["sub"], frozenset(scope_claim.split()), client)
    if required is None or not g.principal.has(required):
        raise ApiError(
            403, "insufficientScope",
            "The access token does not grant the scope this operation requires.",
            attributes={"requiredScope": required} if required else None,
            remediation="Request an access token with the required scope.",
        )


def init_app(app: Flask) -> None:
    """Install the authentication hook."""
    app.before_request(authenticate)
