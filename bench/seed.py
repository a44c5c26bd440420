"""Seed a database with N applications (and enrollments, if that model exists) quickly.

Rows are written through the peewee models with ``insert_many`` in large
batches inside one transaction, so a million rows take a minute or two rather
than the hours that one API call per row would. The data has the shape the
load generator needs:

* ``READERS`` reader users own ``READER_ROWS`` applications each (mostly
  completed, one running): ``GET`` one, ``If-None-Match`` and pages of 100 read
  them, so a reader's page is the same size whatever N is;
* ``PATCHERS`` users own one running application each, the ``PATCH`` targets;
* the rest belongs to many ordinary users (about five each, the newest one
  possibly in progress), so that the table, not the reader's share, grows with N.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    IntegerField,
    Model,
    OperationalError,
    ProgrammingError,
    TextField,
)

READERS = 8
READER_ROWS = 300
PATCHERS = 32
ROWS_PER_USER = 5
PRODUCT_ID = "51df9a81-2cb8-4515-aad1-9543b3c4fc18"
PRODUCT_NAME = "Premiere Savings"
TERMINAL = ("approved", "canceled", "rejected", "expired")
WORKFLOW = {"running": "running", "blocked": "running", "pending": "pending",
            "approved": "completed", "canceled": "canceled", "expired": "canceled",
            "rejected": "canceled"}
FIRST_NAMES = ("Elsa", "Anna", "Kristoff", "Olaf", "Hans", "Sven", "Oaken", "Marshmallow")
LAST_NAMES = ("Snowqueen", "Arendelle", "Bjorgman", "Westergaard", "Frost", "Fjord")
ORGANIZATIONS = (None, None, None, "Arendelle Ice Co", "Wandering Oaken's", "Trolls Ltd")
BATCH = 1000


@dataclass
class SeedInfo:
    """What the load generator needs to know about the seeded data."""

    rows: int
    seconds: float
    readers: dict[str, list[str]] = field(default_factory=dict)  # user -> application ids
    patch_targets: dict[str, str] = field(default_factory=dict)  # user -> application id
    enrollments: int = 0


def _document(rng: random.Random, first: str, last: str, org: str | None,
              created: str, definition: dict[str, Any]) -> dict[str, Any]:
    """A stored document shaped like what ``applications.create`` stores (its keys are
    checked against a created application's by tests/test_bench_seed_shape.py):
    ``definition`` is the product's workflow snapshot."""
    from accountapps.domain.applications import APPROVAL_TYPE

    contact_uri = f"https://www.example.com/users/user/{uuid.UUID(int=rng.getrandbits(128))}"
    doc: dict[str, Any] = {
        "accountName": f"{first}'s {PRODUCT_NAME}",
        "fundingAmount": {"value": f"{rng.randint(100, 9000)}.00", "currency": "USD"},
        "fundingAccount": {
            "title": f"{first} {last}", "institutionName": "3rd Party Bank",
            "routingNumber": "021000021",
            "accountNumbers": {"full": f"{rng.randint(10**9, 10**10 - 1)}"},
        },
        "applicants": [{
            "_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "username": f"{first}{rng.randint(1, 999)}",
            "contact": {"firstName": first, "lastName": last,
                        "_links": {"self": {"href": contact_uri}}},
            "role": {"name": "primaryUser", "label": "Primary User"},
        }],
        "applicantType": "individual",
        "country": "US",
        "documents": [],
        "consents": [],
        "workflowId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "workflow": definition,
        "links": {"fundingAccount": None, "organization": None, "applicant": contact_uri},
        "accountApproval": {
            "_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "label": f"Account Approval: {PRODUCT_NAME}, {first} {last}",
            "state": "open", "done": False, "typeName": APPROVAL_TYPE["name"],
            "type": APPROVAL_TYPE, "createdAt": created,
        },
    }
    if org:
        doc["organization"] = {"name": org, "type": "llc"}
    return doc


def _application(rng: random.Random, owner: str, state: str, now: datetime,
                 age_days: float, definition: dict[str, Any]) -> tuple[dict[str, Any], str]:
    from accountapps.domain.ids import uuid7
    from accountapps.storage.models import timestamp

    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    org = rng.choice(ORGANIZATIONS)
    created = now - timedelta(days=age_days, seconds=rng.random())
    if state in TERMINAL:
        completed = created + timedelta(days=min(age_days, rng.random() * 10))
        active = completed
    else:  # in progress and recently active, so that nothing expires mid-run
        completed = None
        active = now - timedelta(days=rng.random() * min(age_days, 5))
    doc = _document(rng, first, last, org, timestamp(created), definition)
    # As the service makes ids: time-ordered (accountapps.domain.ids), at the row's creation.
    app_id = uuid7(int(created.replace(tzinfo=UTC).timestamp() * 1000), rng.getrandbits(80))
    row = {
        "id": app_id, "owner": owner, "client_id": "bench", "product_id": PRODUCT_ID,
        "account_name": doc["accountName"], "applicant_name": f"{first} {last}",
        "product_name": PRODUCT_NAME, "organization_name": org, "state": state,
        "workflow_state": WORKFLOW[state], "created_at": created,
        "completed_at": completed, "active_at": active, "revision": 1, "document": doc,
    }
    return row, doc["links"]["applicant"]


def bulk_insert(model: type[Model], rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts by field name) with one prepared statement.

    The model gives the table, the columns and each value's conversion
    (``db_value``); peewee's own ``insert_many`` spends most of a seeding run
    generating SQL text for every value.
    """
    database = model._meta.database
    fields = [model._meta.fields[name] for name in rows[0]]
    left, right = database.quote
    columns = ", ".join(f"{left}{field.column_name}{right}" for field in fields)
    values = [[field.db_value(row[field.name]) for field in fields] for row in rows]
    table = f"{left}{model._meta.table_name}{right}"
    if "Postgres" in type(database.obj).__name__:
        from psycopg2.extras import execute_values  # psycopg2's executemany is row by row

        execute_values(database.cursor(), f"INSERT INTO {table} ({columns}) VALUES %s",  # noqa: S608
                       values, page_size=1000)
        return
    sql = (f"INSERT INTO {table} ({columns}) "  # noqa: S608
           f"VALUES ({', '.join([database.param] * len(fields))})")
    database.cursor().executemany(sql, values)


def _plan(rows: int) -> list[tuple[str, str]]:
    """``(owner, state)`` for every application, readers and patchers first."""
    plan: list[tuple[str, str]] = []
    for reader in range(READERS):
        owner = f"bench-reader-{reader}"
        plan += [(owner, TERMINAL[i % 4] if i else "running") for i in range(READER_ROWS)]
    plan += [(f"bench-patch-{i}", "running") for i in range(PATCHERS)]
    rest = max(0, rows - len(plan))
    rng = random.Random(7)
    for index in range(rest):
        user, slot = divmod(index, ROWS_PER_USER)
        newest = slot == ROWS_PER_USER - 1 or index == rest - 1
        if newest and rng.random() < 0.3:
            state = rng.choice(("running", "running", "blocked", "pending"))
        else:
            state = rng.choice(TERMINAL)
        plan.append((f"user-{user}", state))
    return plan[:max(rows, READERS * READER_ROWS + PATCHERS)]


def seed_applications(rows: int, *, seed: int = 1) -> SeedInfo:
    """Insert the applications, their applicants and creation audit records."""
    from accountapps.domain import catalog, workflow
    from accountapps.storage.db import database
    from accountapps.storage.models import Application, ApplicationApplicant, AuditRecord, utcnow

    started = time.perf_counter()
    rng = random.Random(seed)
    now = utcnow()
    plan = _plan(rows)
    info = SeedInfo(rows=len(plan), seconds=0.0)
    definition = workflow.snapshot(catalog.find(PRODUCT_ID))  # one dict, stored in every row
    span_days = 3 * 365
    apps: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []

    def flush() -> None:
        if apps:
            bulk_insert(Application, apps)
            bulk_insert(ApplicationApplicant, contacts)
            bulk_insert(AuditRecord, audits)
        apps.clear()
        contacts.clear()
        audits.clear()

    with database.atomic():
        for index, (owner, state) in enumerate(plan):
            # Older rows first: creation time grows with the index, like real traffic.
            age = span_days * (1 - index / len(plan)) + 0.01
            if owner.startswith("bench-"):
                age = rng.random() * 30 + 0.01
            row, contact = _application(rng, owner, state, now, age, definition)
            apps.append(row)
            contacts.append({"application_id": row["id"], "contact_uri": contact})
            audits.append({"resource_type": "application", "resource_id": row["id"],
                           "occurred_at": row["created_at"], "user_id": owner,
                           "client_id": "bench", "from_state": None, "to_state": state,
                           "reason": "Seeded."})
            if owner.startswith("bench-reader-"):
                info.readers.setdefault(owner, []).append(row["id"])
            elif owner.startswith("bench-patch-"):
                info.patch_targets[owner] = row["id"]
            if len(apps) >= BATCH:
                flush()
        flush()
    info.enrollments = seed_enrollments(rows, rng)
    info.seconds = round(time.perf_counter() - started, 2)
    return info


def _generic_value(model_field: Any, index: int, now: datetime) -> Any:
    """A plausible value for a column of a model this seeder does not know in detail."""
    name = model_field.name
    if name == "id" and isinstance(model_field, CharField):
        return str(uuid.UUID(int=index + 1, version=4))
    if name == "state":
        return "canceled"  # completed: no "one active per user" constraint applies
    if name == "owner":
        return f"user-{index // ROWS_PER_USER}"
    if model_field.default is not None and not callable(model_field.default):
        return model_field.default
    if isinstance(model_field, BooleanField):
        return False
    if isinstance(model_field, DateTimeField):
        return now - timedelta(days=(index % 1000) / 10)
    if isinstance(model_field, IntegerField):
        return 1
    if type(model_field).__name__ == "JSONField":
        return {}
    if isinstance(model_field, (CharField, TextField)):
        return f"{name}-{index}"[: getattr(model_field, "max_length", None) or 255]
    return None


def seed_enrollments(rows: int, rng: random.Random) -> int:
    """Enrollments, if the model exists (built on another branch): generic values, or none.

    Tolerant by design: a model this seeder cannot fill is reported and skipped,
    never a failed benchmark.
    """
    from accountapps.storage import models
    from accountapps.storage.db import database

    model: type[Model] | None = getattr(models, "Enrollment", None)
    if model is None:
        return 0
    count = max(1, rows // 10)
    now = models.utcnow()
    try:
        with database.atomic():
            fields_ = [f for f in model._meta.sorted_fields
                       if not (f.name == "id" and not isinstance(f, CharField))]
            batch: list[dict[str, Any]] = []
            for index in range(count):
                batch.append({f.name: _generic_value(f, index, now) for f in fields_})
                if len(batch) >= BATCH:
                    bulk_insert(model, batch)
                    batch.clear()
            if batch:
                bulk_insert(model, batch)
    except Exception as exc:
        print(f"seed: enrollments skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 0
    return count


def reset(database_url: str) -> None:
    """Drop every table at ``database_url`` (a benchmark database only!).

    A SQLite file is removed instead, so that the new one gets the page size
    the service sets now (``db.SQLITE_PRAGMAS``), not the old file's.
    """
    from accountapps.storage.db import make_database

    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm", "-writers"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return
    db = make_database(database_url)
    with db.connection_context():
        for table in db.get_tables():
            db.execute_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE'
                           if "Postgres" in type(db).__name__ else f'DROP TABLE "{table}"')
    db.close()


def _checkpoint(database: Any) -> None:
    """Write the bulk load's dirty pages out now, not during the measurements.

    Otherwise the checkpoint that follows a million-row load writes gigabytes
    while the write operations are measured, and their commits wait behind it.
    Needs the ``pg_checkpoint`` role (``.ci/postgres.sh`` grants it) or a superuser.
    """
    try:
        database.execute_sql("CHECKPOINT")
    except (ProgrammingError, OperationalError) as exc:
        print(f"seed: no CHECKPOINT ({str(exc).strip()}); the first writes measured may "
              "wait for the bulk load's checkpoint", file=sys.stderr)


def seed(database_url: str, rows: int) -> SeedInfo:
    """Create a fresh schema at ``database_url`` and seed ``rows`` applications."""
    from accountapps import create_app
    from accountapps.storage import row_counts
    from accountapps.storage.db import database

    reset(database_url)
    app = create_app({"ACCOUNTAPPS_DATABASE_URL": database_url,
                      "ACCOUNTAPPS_JWT_SECRET": "seed-only", "ACCOUNTAPPS_LOG_LEVEL": "WARNING"})
    with app.app_context(), database.connection_context():
        sqlite = "Sqlite" in type(database.obj).__name__
        if sqlite:
            # A new database that is thrown away on failure: no journal, no fsync,
            # and a large cache, so each page is written once.
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -1000000",
                           "temp_store = MEMORY"):
                database.execute_sql(f"PRAGMA {pragma}")
        # The kept row counts (accountapps.storage.row_counts): one UPDATE of the same
        # row per insert, a million times in one transaction, is quadratic on
        # PostgreSQL (each finds the newest of its row's versions). Counted once
        # at the end instead, and the triggers put back.
        counted = row_counts.counted_tables()
        for table in counted:
            row_counts.drop_triggers(database.obj, table)
        info = seed_applications(rows)
        with database.atomic():
            for table in counted:
                row_counts.install(database.obj, table)
        if sqlite:
            database.execute_sql("PRAGMA analysis_limit = 2000")  # sampled: seconds, not minutes
        # Planner statistics, as a long-running database has; on PostgreSQL also
        # the visibility map autovacuum keeps (without it an index-only count
        # still visits the table for every match).
        database.execute_sql("ANALYZE" if sqlite else "VACUUM ANALYZE")
        if not sqlite:
            _checkpoint(database)
        if sqlite:
            database.execute_sql("PRAGMA journal_mode = WAL")
        return info


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.seed --url sqlite:///bench.db --rows 10000``: prints the SeedInfo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args(argv)
    info = seed(args.url, args.rows)
    json.dump(asdict(info), sys.stdout)


if __name__ == "__main__":
    main()
