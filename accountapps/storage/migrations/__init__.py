"""Versioned schema migrations: one path for SQLite and PostgreSQL.

Each module ``mNNNN_name.py`` in this package has ``upgrade(db)``. They run in
order, each recorded in ``schema_version``, all inside one transaction that
first takes a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL), so that several hosts starting at once apply each migration once.
Apply with ``flask --app wsgi db upgrade`` (also done at start-up unless
``ACCOUNTAPPS_AUTO_MIGRATE=0``).

Writing a migration: ``m0001_initial`` creates tables from the current models,
so a later migration must be idempotent against a schema that already has its
change (check ``db.get_columns`` / ``db.table_exists`` before altering).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from peewee import DatabaseError, InterfaceError, fn

from accountapps.storage.db import database, is_postgres, write_transaction
from accountapps.storage.models import SchemaVersion, utcnow

_ADVISORY_LOCK_ID = 0x0ACC_A995


def available() -> list[tuple[int, str, ModuleType]]:
    """All migrations of this package, ordered by version."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append((int(info.name[1:5]), info.name, module))
    return sorted(found, key=lambda item: item[0])


def upgrade() -> list[str]:
    """Apply pending migrations; return the names of those applied now."""
    applied_now: list[str] = []
    with database.connection_context(), write_transaction():
        if is_postgres():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_ID,))
        database.create_tables([SchemaVersion], safe=True)
        done = {row.version for row in SchemaVersion.select(SchemaVersion.version)}
        for version, name, module in available():
            if version in done:
                continue
            module.upgrade(database)
            SchemaVersion.create(version=version, name=name, applied_at=utcnow())
            applied_now.append(name)
    return applied_now


def latest_version() -> int:
    """The version this code needs: the highest migration it ships."""
    found = available()
    return found[-1][0] if found else 0


def current_version() -> int:
    """The highest applied migration version (0 when none)."""
    with database.connection_context():
        if not database.table_exists("schema_version"):
            return 0
        row = SchemaVersion.select(SchemaVersion.version).order_by(
            SchemaVersion.version.desc()).first()
        return row.version if row else 0


def readiness() -> dict[str, Any] | None:
    """The applied schema version and the one this code needs, read after a
    ``SELECT 1``; ``None`` when the database does not answer."""
    try:
        database.execute_sql("SELECT 1").fetchone()
        applied = 0
        if database.table_exists(SchemaVersion._meta.table_name):
            applied = SchemaVersion.select(fn.MAX(SchemaVersion.version)).scalar() or 0
    except (DatabaseError, InterfaceError):
        return None
    return {"database": "pass", "schemaVersion": applied,
            "requiredSchemaVersion": latest_version()}
