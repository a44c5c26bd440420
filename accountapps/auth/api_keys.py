"""API keys issued to client applications, stored hashed in the database.

A key is a long random string shown once when it is created; only its SHA-256
is kept, so a copy of the database does not give away working keys. Keys from
``ACCOUNTAPPS_API_KEYS`` keep working alongside these (see :mod:`accountapps.auth.security`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from accountapps.storage.db import write_transaction
from accountapps.storage.models import ApiKey, utcnow

#: Marks issued keys, so a leaked one is recognisable by secret scanners.
KEY_PREFIX = "aak_"


def hash_key(key: str) -> str:
    """The stored form of an API key (SHA-256; keys are long random strings)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    """A newly created key: ``key`` is the only copy of the secret."""

    id: int
    client: str
    key: str


def create(client: str) -> IssuedKey:
    """Issue a new key for ``client``."""
    client = client.strip()
    if not client or len(client) > 255:
        raise ValueError("the client name must be 1 to 255 characters")
    # Printable only: the name is shown in tab-separated listings and logs, and
    # PostgreSQL cannot store U+0000 (SQLite can: both refuse it here alike).
    if not client.isprintable():
        raise ValueError("the client name must be printable (no tabs, newlines or NUL)")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with write_transaction():
        row = ApiKey.create(client=client, key_hash=hash_key(key), prefix=key[:10],
                            created_at=utcnow())
    return IssuedKey(row.id, client, key)


def all_keys() -> list[ApiKey]:
    """Every issued key, revoked ones included, oldest first."""
    return list(ApiKey.select().order_by(ApiKey.id))


def revoke(key_id: int) -> bool:
    """Revoke a key (idempotent); ``False`` when there is no such key."""
    if not 0 < key_id < 2**63:  # ids are positive 64-bit integers (SQLite overflows past)
        return False
    with write_transaction():
        row = ApiKey.get_or_none(ApiKey.id == key_id)
        if row is None:
            return False
        if row.revoked_at is None:
            ApiKey.update(revoked_at=utcnow()).where(ApiKey.id == key_id).execute()
    return True


def client_for(key: str) -> str | None:
    """The client an issued, unrevoked key belongs to (``None``: no such key)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 128:
        return None  # not one of ours: spare the database the lookup
    row = ApiKey.get_or_none(
        (ApiKey.key_hash == hash_key(key)) & ApiKey.revoked_at.is_null())
    return row.client if row else None
