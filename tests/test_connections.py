"""Database connections: a lost one is a retryable 503; the pool checks cheaply.

The pool tests need PostgreSQL (the suite's PostgreSQL run); on SQLite they skip.
"""

from __future__ import annotations

import pytest
from peewee import InterfaceError, OperationalError
from playhouse.pool import PooledPostgresqlDatabase

from accountapps.storage import db


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_connection_lost_mid_request_is_a_retryable_503(app, user, application,
                                                          monkeypatch, error):
    def lost(*_args, **_kwargs):
        raise error("server closed the connection unexpectedly")

    monkeypatch.setattr(db.database.obj, "execute_sql", lost)
    response = user.get(f"/applications/{application.json['_id']}")
    assert response.status_code == 503
    assert response.json["_error"]["type"] == "databaseUnavailable"
    assert response.headers["Retry-After"] == "5"
    assert "server closed" not in response.get_data(as_text=True)  # details stay in the log


@pytest.fixture
def pool(app):
    if not db.is_postgres():
        pytest.skip("the connection pool is PostgreSQL's (run the suite on PostgreSQL)")
    database = db.database.obj
    assert isinstance(database, db.PostgresPool)
    database.close_all()
    yield database
    database.close_all()


@pytest.fixture
def round_trips(monkeypatch):
    """Count peewee's ``SELECT 1`` liveness checks (the round trip the pool avoids)."""
    calls: list[object] = []
    checked = PooledPostgresqlDatabase._is_closed

    def counting(self, conn):
        calls.append(conn)
        return checked(self, conn)

    monkeypatch.setattr(PooledPostgresqlDatabase, "_is_closed", counting)
    return calls


def test_a_connection_returned_moments_ago_is_reused_without_a_round_trip(pool, round_trips):
    pool.connect()
    first = pool.connection()
    pool.close()
    pool.connect()
    assert pool.connection() is first
    assert round_trips == []
    pool.close()


def test_a_connection_idle_past_the_threshold_is_checked_with_a_round_trip(
        pool, round_trips, monkeypatch):
    monkeypatch.setattr(pool, "ping_after", 0.0)
    pool.connect()
    first = pool.connection()
    pool.close()
    pool.connect()
    assert pool.connection() is first
    assert round_trips == [first]
    pool.close()


def test_an_idle_connection_the_server_closed_is_replaced(pool, monkeypatch):
    monkeypatch.setattr(pool, "ping_after", 0.0)
    pool.connect()
    first = pool.connection()
    backend = first.get_backend_pid()
    pool.close()
    terminate(pool, backend)
    pool.connect()
    assert pool.connection() is not first
    assert pool.execute_sql("SELECT 1").fetchone() == (1,)
    pool.close()


def test_a_request_on_a_connection_cut_while_fresh_fails_once_then_recovers(
        pool, app, user, application):
    with app.app_context():
        pool.connect(reuse_if_open=True)
        backend = pool.connection().get_backend_pid()
        pool.close()
    terminate(pool, backend)
    # Returned moments ago: handed out unchecked, so this request meets the cut.
    failed = user.get(f"/applications/{application.json['_id']}")
    assert failed.status_code == 503
    assert failed.json["_error"]["type"] == "databaseUnavailable"
    # The broken connection was discarded: the next request works.
    assert user.get(f"/applications/{application.json['_id']}").status_code == 200


def terminate(pool: db.PostgresPool, backend: int) -> None:
    """End a server process from another connection, as a restart or a firewall would."""
    params = pool.connect_params
    other = db.make_database(f"postgresql://{params['user']}:{params['password']}@"
                             f"{params['host']}:{params['port']}/{pool.database}")
    with other.connection_context():
        other.execute_sql("SELECT pg_terminate_backend(%s)", (backend,))
    other.close_all()


def test_the_key_lock_file_is_named_by_the_database_not_by_its_password():
    url = "postgresql://app:{}@db.example:5432/accountapps"
    assert db.host_lock_path(url.format("secret-1")) == db.host_lock_path(url.format("other"))


def test_each_database_has_its_own_key_lock_file():
    assert (db.host_lock_path("postgresql://app@db.example:5432/one")
            != db.host_lock_path("postgresql://app@db.example:5432/two"))
