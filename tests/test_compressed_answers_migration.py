"""Migration m0016: stored answers gain ``compressed``; those stored before replay as they were."""

from __future__ import annotations

from datetime import timedelta

from accountapps.storage import idempotency, migrations
from accountapps.storage.db import database, is_postgres
from accountapps.storage.migrations import m0016_compressed_answers
from accountapps.storage.models import SchemaVersion, utcnow

KEY = ("client", "user-1", "before-m0016")


def _downgrade_to_m0015() -> None:
    database.execute_sql('ALTER TABLE idempotency_key DROP COLUMN "compressed"')
    SchemaVersion.delete().where(SchemaVersion.version == 16).execute()


def _store_as_older_code_does(body: bytes) -> None:
    placeholders = ", ".join([database.param] * 11)
    database.execute_sql(
        'INSERT INTO idempotency_key (client_id, user_id, "key", method, path, '  # noqa: S608
        "query_sha256, body_sha256, created_at, status, headers, body) "
        f"VALUES ({placeholders})",
        [*KEY, "POST", "/p", "q", "b", utcnow(), 201, "[]", body])


def test_an_answer_stored_before_m0016_is_replayed_as_it_was(app):
    body = b'{"_id": "stored before"}' * 40  # large enough to be compressed today
    with app.app_context(), database.connection_context():
        _downgrade_to_m0015()
        _store_as_older_code_does(body)
        assert migrations.upgrade() == ["m0016_compressed_answers"]
        stored = idempotency.find(idempotency.Scope(*KEY), timedelta(hours=24))
    assert stored is not None and stored.answer.body == body


def test_m0016_is_idempotent(app):
    with app.app_context(), database.connection_context():
        m0016_compressed_answers.upgrade(database)
        columns = {column.name for column in database.get_columns("idempotency_key")}
        if is_postgres():
            storage = database.execute_sql(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = 'idempotency_key'::regclass "
                "AND attname = 'body'").fetchone()[0]
            assert storage == "e"  # EXTERNAL: PostgreSQL does not compress it again
    assert "compressed" in columns


def test_an_answer_stored_by_a_host_on_older_code_during_an_upgrade_is_replayed(app):
    body = b'{"_id": "stored by an older host"}' * 40
    with app.app_context(), database.connection_context():
        _store_as_older_code_does(body)  # knows no "compressed" column
        stored = idempotency.find(idempotency.Scope(*KEY), timedelta(hours=24))
    assert stored is not None and stored.answer.body == body
