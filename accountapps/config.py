"""Settings from ``ACCOUNTAPPS_*`` environment variables (all optional)."""

from __future__ import annotations

import ipaddress
import math
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Defaults; every key may be overridden by an environment variable of the same
#: name or by the ``overrides`` passed to :func:`accountapps.create_app`.
DEFAULTS: dict[str, Any] = {
    "ACCOUNTAPPS_DATABASE_URL": None,  # None: SQLite file in the instance folder
    "ACCOUNTAPPS_DATABASE_PREPARE": True,  # PostgreSQL: prepare the frequent queries
    "ACCOUNTAPPS_JWT_SECRET": None,  # None: a random secret kept in the instance folder
    "ACCOUNTAPPS_JWT_PUBLIC_KEY": None,  # path of a PEM public key (RS256)
    "ACCOUNTAPPS_JWT_JWKS": None,  # path of a JWKS file (RS256)
    "ACCOUNTAPPS_JWT_AUDIENCE": None,
    "ACCOUNTAPPS_JWT_ISSUER": None,
    "ACCOUNTAPPS_JWT_LEEWAY": 30.0,  # seconds of clock skew tolerated
    "ACCOUNTAPPS_JWT_MAX_LIFETIME": 0.0,  # seconds a token may live at most; 0: no maximum
    "ACCOUNTAPPS_API_KEYS": "",  # comma-separated accepted API-Key values
    "ACCOUNTAPPS_EXPIRY_DAYS": 30.0,
    "ACCOUNTAPPS_BEHIND_PROXY": False,  # trust one hop of X-Forwarded-* headers
    # Host names this service answers for (Host header; X-Forwarded-Host behind a
    # proxy); others are 400. ".bank.example" also admits its subdomains, "*" any host.
    "ACCOUNTAPPS_ALLOWED_HOSTS": "localhost,127.0.0.1,::1",
    # Hosts (host or host:port; "http://host" admits plain http too) that links a
    # client sends may lead to, besides the platform's and this API's own host.
    "ACCOUNTAPPS_LINK_HOSTS": "",
    "ACCOUNTAPPS_MAX_BODY_BYTES": 256 * 1024,
    "ACCOUNTAPPS_MAX_LIMIT": 1000,
    # Requests of one user of one client application (API key + bearer token);
    # empty: no limit. See docs/security.md for the reasoning behind the defaults.
    "ACCOUNTAPPS_RATE_LIMIT": "600/minute",
    # All authenticated requests of one client application together; empty: no ceiling.
    "ACCOUNTAPPS_RATE_LIMIT_CLIENT": "",
    # Requests without a valid API key and token (failed ones too), per client
    # address (an IPv6 address per /64); empty: no limit. Health probes are never limited.
    "ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS": "120/minute",
    # memory:// counts per process: several workers or hosts need redis:// (or similar)
    "ACCOUNTAPPS_RATE_LIMIT_STORAGE_URI": "memory://",
    "ACCOUNTAPPS_CORS_ORIGINS": "",  # comma-separated browser origins allowed, or "*"
    "ACCOUNTAPPS_AUTO_MIGRATE": True,  # apply pending migrations at start-up
    "ACCOUNTAPPS_LOG_LEVEL": "INFO",
    # the service's own access line; off under gunicorn.conf.py, whose access
    # log carries the same request id, user and client (one line per request)
    "ACCOUNTAPPS_ACCESS_LOG": True,
    "ACCOUNTAPPS_CATALOG_FILE": None,  # the institution's products.json (re-read on change)
    # scheme://host[/prefix] of the neighbouring APIs (Products, Approvals,
    # Contacts) that links point to; empty: the host this API was called on
    "ACCOUNTAPPS_PLATFORM_URL": "",
    # The institution's OAuth2 authorization-code endpoints: when both are set, the
    # OpenAPI document offers that flow too (the docs page's Authorize dialog).
    "ACCOUNTAPPS_OAUTH2_AUTHORIZATION_URL": "",
    "ACCOUNTAPPS_OAUTH2_TOKEN_URL": "",
    # the institution's name, printed at the head of every PDF record
    "ACCOUNTAPPS_INSTITUTION_NAME": "Account Applications",
    # every POST must carry an Idempotency-Key (400 without one)
    "ACCOUNTAPPS_REQUIRE_IDEMPOTENCY_KEY": False,
    # how long a key's answer is kept at least (then `flask prune` removes it)
    "ACCOUNTAPPS_IDEMPOTENCY_TTL_HOURS": 24.0,
    # scheme://host[/prefix] where clients reach this API: the links in webhook
    # deliveries (the dispatcher has no request to take a host from)
    "ACCOUNTAPPS_PUBLIC_URL": "",
    "ACCOUNTAPPS_EVENT_RETENTION_DAYS": 30.0,  # delivered events kept this long
    # http and loopback/private receivers (development, tests); never in production
    "ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE": False,
    "ACCOUNTAPPS_WEBHOOK_TIMEOUT": 10.0,  # seconds a receiver has to answer
    "ACCOUNTAPPS_WEBHOOK_RETRY_HOURS": 72.0,  # failed deliveries retry this long
    "ACCOUNTAPPS_WEBHOOK_RETRY_BASE_SECONDS": 5.0,  # the first retry's delay, doubled each time
    "ACCOUNTAPPS_WEBHOOK_RETRY_MAX_SECONDS": 3600.0,  # the longest delay between retries
}

_FLOATS = {"ACCOUNTAPPS_EXPIRY_DAYS", "ACCOUNTAPPS_JWT_LEEWAY", "ACCOUNTAPPS_JWT_MAX_LIFETIME",
           "ACCOUNTAPPS_IDEMPOTENCY_TTL_HOURS", "ACCOUNTAPPS_EVENT_RETENTION_DAYS",
           "ACCOUNTAPPS_WEBHOOK_TIMEOUT", "ACCOUNTAPPS_WEBHOOK_RETRY_HOURS",
           "ACCOUNTAPPS_WEBHOOK_RETRY_BASE_SECONDS", "ACCOUNTAPPS_WEBHOOK_RETRY_MAX_SECONDS"}
_INTS = {"ACCOUNTAPPS_MAX_BODY_BYTES", "ACCOUNTAPPS_MAX_LIMIT"}
_BOOLS = {"ACCOUNTAPPS_DATABASE_PREPARE", "ACCOUNTAPPS_BEHIND_PROXY", "ACCOUNTAPPS_AUTO_MIGRATE",
          "ACCOUNTAPPS_ACCESS_LOG", "ACCOUNTAPPS_REQUIRE_IDEMPOTENCY_KEY",
          "ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE"}


#: Bounds that keep every date computed from a setting within the calendar
#: (``timedelta`` overflows past ~2.7 million days, NaN compares false).
MAX_EXPIRY_DAYS = 36_500.0
MAX_LEEWAY_SECONDS = 3_600.0
MAX_TOKEN_LIFETIME_SECONDS = 366 * 86_400.0
MAX_IDEMPOTENCY_TTL_HOURS = 24 * MAX_EXPIRY_DAYS


def _check_range(settings: dict[str, Any], key: str, low: float, high: float, *,
                 low_included: bool = True) -> None:
    """Refuse (at start-up) a setting that is not a finite number in its range."""
    value = settings[key]
    ok = (isinstance(value, int | float) and math.isfinite(value)
          and (low <= value if low_included else low < value) and value <= high)
    if not ok:
        bracket = "[" if low_included else "("
        raise ValueError(f"{key} must be a number in {bracket}{low:g}, {high:g}], not {value!r}")


def _platform_url(value: Any, name: str = "ACCOUNTAPPS_PLATFORM_URL") -> str:
    """A base URL setting without a trailing slash; refused unless absolute."""
    text = (value or "").strip().rstrip("/")
    if not text:
        return ""
    parsed = urlsplit(text)
    if (parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query
            or parsed.fragment or parsed.username or any(c.isspace() for c in text)):
        raise ValueError(f"{name} must be an absolute http(s) URL such as "
                         f"https://api.bank.example, not {value!r}")
    return text


#: The longest institution name a record's heading holds on one line.
MAX_INSTITUTION_NAME = 120


def _institution_name(value: Any) -> str:
    """The institution's name for the records' heading; refused when empty or too long."""
    text = " ".join(str(value or "").split())
    if not text or len(text) > MAX_INSTITUTION_NAME:
        raise ValueError("ACCOUNTAPPS_INSTITUTION_NAME must be a name of 1 to "
                         f"{MAX_INSTITUTION_NAME} characters, not {value!r}")
    return text


_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_HOST_LABELS = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def host_name(text: str) -> str | None:
    """``text`` (a host name, IPv4 address or IPv6 address, bracketed or not, without
    a port) in one canonical form: lower case, no trailing dot, IPv6 compressed;
    ``None`` when it names no host."""
    name = text.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name).compressed
        except ValueError:
            return None
    name = name[:-1] if name.endswith(".") else name
    return name if 0 < len(name) <= 253 and _HOST_LABELS.fullmatch(name) else None


def _allowed_hosts(value: Any) -> tuple[str, ...]:
    """``ACCOUNTAPPS_ALLOWED_HOSTS``: host names, ``.suffix`` entries or ``*``."""
    entries = []
    for entry in str(value or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        if entry == "*":
            entries.append(entry)
            continue
        suffix = entry.startswith(".")
        name = host_name(entry[1:] if suffix else entry)
        if name is None or (suffix and ":" in name):
            raise ValueError("ACCOUNTAPPS_ALLOWED_HOSTS lists host names (without ports), "
                             f".domain suffixes or *, not {entry!r}")
        entries.append("." + name if suffix else name)
    return tuple(entries)


@dataclass(frozen=True)
class LinkHost:
    """Where links a client sends may lead: a host, on a port (``None``: the
    scheme's default), and whether plain ``http`` is admitted (development)."""

    host: str
    port: int | None = None
    http: bool = False


def link_host(text: str, setting: str = "ACCOUNTAPPS_LINK_HOSTS") -> LinkHost:
    """One entry: ``host``, ``host:port``, ``https://host[:port]`` or ``http://host[:port]``."""
    entry = text.strip()
    scheme, _, rest = entry.rpartition("://") if "://" in entry else ("https", "", entry)
    problem = ValueError(f"{setting} lists hosts such as api.bank.example, "
                         f"api.bank.example:8443 or http://localhost:9000, not {text!r}")
    if scheme.lower() not in ("http", "https") or not rest or any(
            c in rest for c in "/?#@\\") or any(c.isspace() for c in rest):
        raise problem
    parsed = urlsplit(f"//{rest}")
    try:
        port = parsed.port
    except ValueError:
        raise problem from None
    name = host_name(parsed.hostname or "")
    if name is None:
        raise problem
    return LinkHost(name, port, scheme.lower() == "http")


def _link_hosts(value: Any) -> tuple[LinkHost, ...]:
    return tuple(link_host(entry) for entry in str(value or "").split(",") if entry.strip())


def _coerce(key: str, value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return value
    try:
        if key in _FLOATS:
            return float(value)
        if key in _INTS:
            return int(value)
    except ValueError:
        raise ValueError(f"{key} must be a number, not {value!r}") from None
    if key in _BOOLS:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return value


def load_settings(
    instance_path: str, environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the effective settings: defaults < environment < overrides."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    for key in DEFAULTS:
        if environ.get(key) not in (None, ""):
            settings[key] = _coerce(key, environ[key])
    for key, value in (overrides or {}).items():
        settings[key] = _coerce(key, value)
    _check_range(settings, "ACCOUNTAPPS_EXPIRY_DAYS", 0, MAX_EXPIRY_DAYS, low_included=False)
    _check_range(settings, "ACCOUNTAPPS_JWT_LEEWAY", 0, MAX_LEEWAY_SECONDS)
    _check_range(settings, "ACCOUNTAPPS_JWT_MAX_LIFETIME", 0, MAX_TOKEN_LIFETIME_SECONDS)
    _check_range(settings, "ACCOUNTAPPS_IDEMPOTENCY_TTL_HOURS", 0, MAX_IDEMPOTENCY_TTL_HOURS,
                 low_included=False)
    _check_range(settings, "ACCOUNTAPPS_EVENT_RETENTION_DAYS", 0, MAX_EXPIRY_DAYS,
                 low_included=False)
    _check_range(settings, "ACCOUNTAPPS_WEBHOOK_TIMEOUT", 0, 60, low_included=False)
    _check_range(settings, "ACCOUNTAPPS_WEBHOOK_RETRY_HOURS", 0, 24 * 365, low_included=False)
    _check_range(settings, "ACCOUNTAPPS_WEBHOOK_RETRY_BASE_SECONDS", 0, 86_400,
                 low_included=False)
    _check_range(settings, "ACCOUNTAPPS_WEBHOOK_RETRY_MAX_SECONDS", 0, 86_400,
                 low_included=False)
    settings["ACCOUNTAPPS_PLATFORM_URL"] = _platform_url(settings["ACCOUNTAPPS_PLATFORM_URL"])
    settings["ACCOUNTAPPS_PUBLIC_URL"] = _platform_url(settings["ACCOUNTAPPS_PUBLIC_URL"],
                                                       "ACCOUNTAPPS_PUBLIC_URL")
    settings["ACCOUNTAPPS_INSTITUTION_NAME"] = _institution_name(
        settings["ACCOUNTAPPS_INSTITUTION_NAME"])
    for key, parse in (("ACCOUNTAPPS_ALLOWED_HOSTS", _allowed_hosts),
                       ("ACCOUNTAPPS_LINK_HOSTS", _link_hosts)):
        if not isinstance(settings[key], tuple):
            settings[key] = parse(settings[key])
    if not settings["ACCOUNTAPPS_DATABASE_URL"]:
        settings["ACCOUNTAPPS_DATABASE_URL"] = (
            f"sqlite:///{Path(instance_path, 'accountapps.db')}"
        )
    if not settings["ACCOUNTAPPS_JWT_SECRET"] and not (
        settings["ACCOUNTAPPS_JWT_PUBLIC_KEY"] or settings["ACCOUNTAPPS_JWT_JWKS"]
    ):
        settings["ACCOUNTAPPS_JWT_SECRET"] = instance_secret(instance_path)
    return settings


def instance_secret(instance_path: str) -> str:
    """A random HS256 secret created once per instance folder (development default).

    Production sets ``ACCOUNTAPPS_JWT_SECRET`` (or a public key); the file keeps a
    newcomer's locally minted tokens valid across restarts without a shared
    hard-coded secret that would be valid everywhere.
    """
    path = Path(instance_path, "jwt-secret")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write aside, then link into place: of several workers starting at
        # once exactly one link succeeds and nobody reads a half-written file.
        tmp = path.with_name(f".jwt-secret.{os.getpid()}")
        tmp.write_text(secrets.token_urlsafe(48))
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
