"""``one_transaction``: the writes of a block, one transaction (storage/db.py).

What the Idempotency-Key rests on: a request's writes and its stored answer
are committed together or not at all, while each write inside keeps the
behaviour it has alone (a write that fails and is caught undoes itself only).
"""

from __future__ import annotations

import pytest
from peewee import DatabaseError, IntegrityError

from accountapps.storage import db, sql
from accountapps.storage.models import ApplicationApplicant


@pytest.fixture
def database(app):
    with app.app_context(), db.database.connection_context():
        yield


def write(number: int) -> None:
    """One write of its own: a row with id ``number`` (a second one fails)."""
    with db.write_transaction():
        sql.insert(ApplicationApplicant, {"id": number, "application_id": f"app-{number}",
                                          "contact_uri": "https://www.example.com/users/u"})


def stored() -> list[int]:
    return [row.id for row in ApplicationApplicant.select().order_by(ApplicationApplicant.id)]


def test_the_writes_of_a_block_are_committed_together(database):
    with db.one_transaction():
        write(1)
        write(2)
    assert stored() == [1, 2]


def test_a_block_that_raises_keeps_none_of_its_writes(database):
    with pytest.raises(RuntimeError), db.one_transaction():
        write(1)
        write(2)
        raise RuntimeError("after the writes")
    assert stored() == []


def test_a_discarded_block_keeps_none_of_its_writes(database):
    with db.one_transaction() as transaction:
        write(1)
        transaction.discard()
    assert stored() == []


def test_a_failed_write_caught_in_the_block_undoes_only_itself(database):
    write(2)
    with db.one_transaction():
        write(1)
        with pytest.raises(IntegrityError):
            write(2)
        write(3)
    assert stored() == [1, 2, 3]


def test_a_failed_first_write_caught_in_the_block_undoes_only_itself(database):
    write(2)
    with db.one_transaction():
        with pytest.raises(IntegrityError):
            write(2)
        write(3)
    assert stored() == [2, 3]


def test_a_block_that_only_reads_opens_no_transaction(database):
    with db.one_transaction() as transaction:
        assert stored() == []
        assert not transaction.begun
        assert not db.database.in_transaction()


def test_a_deferred_error_surfaces_later_and_nothing_is_kept(database):
    write(2)
    with pytest.raises(DatabaseError), db.one_transaction(defer_errors=True):
        write(2)  # on PostgreSQL sent later: with the next statement or the COMMIT
        write(3)
    assert stored() == [2]


def test_blocks_do_not_nest(database):
    with db.one_transaction(), pytest.raises(RuntimeError), db.one_transaction():
        pass


@pytest.fixture
def holding(database):
    if not isinstance(db.database.obj, db.HoldingSqlite):
        pytest.skip("holding blind writes is SQLite's (PostgreSQL batches them instead)")


def write_then_fail(number: int, *, read_first: bool) -> None:
    """A write that inserts row ``number`` and then raises (after a read, if asked)."""
    with db.write_transaction():
        sql.insert(ApplicationApplicant, {"id": number, "application_id": f"app-{number}",
                                          "contact_uri": "https://www.example.com/users/u"})
        if read_first:
            stored()
        raise RuntimeError("after the insert")


def test_a_deferring_block_starts_no_transaction_for_its_blind_writes(holding):
    with db.one_transaction(defer_errors=True) as transaction:
        write(1)
        assert not transaction.begun
        assert not db.database.in_transaction()
    assert stored() == [1]


def test_a_read_in_a_deferring_block_sees_its_held_writes(holding):
    with db.one_transaction(defer_errors=True) as transaction:
        write(1)
        assert stored() == [1]
        assert transaction.begun
        write(2)
    assert stored() == [1, 2]


def test_a_held_write_that_fails_is_forgotten_alone(holding):
    with db.one_transaction(defer_errors=True):
        write(1)
        with pytest.raises(RuntimeError):
            write_then_fail(2, read_first=False)
        write(3)
    assert stored() == [1, 3]


def test_a_write_that_fails_after_its_held_statements_ran_undoes_only_itself(holding):
    with db.one_transaction(defer_errors=True):
        write(1)
        with pytest.raises(RuntimeError):
            write_then_fail(2, read_first=True)
        write(3)
    assert stored() == [1, 3]


def test_a_held_write_that_the_database_refuses_fails_the_block_at_its_end(holding):
    write(2)
    with pytest.raises(IntegrityError), db.one_transaction(defer_errors=True):
        write(3)
        write(2)
    assert stored() == [2]


def test_a_discarded_deferring_block_never_starts_a_transaction(holding):
    with db.one_transaction(defer_errors=True) as transaction:
        write(1)
        transaction.discard()
    assert not db.database.in_transaction()
    assert stored() == []
