"""Events (the transactional outbox), webhook subscriptions and their deliveries (issue 23).

On PostgreSQL each event also records the id of the transaction that wrote it
(``txid``, an ``xid8``): the feed and the dispatchers read events in that
order, and only once every older transaction has ended (see
:mod:`accountapps.storage.event_log`). Events are never rewritten: an
``UPDATE`` is refused by a trigger (pruning deletes them). Idempotent.
"""

from peewee import Database

from accountapps.storage.db import is_postgres
from accountapps.storage.models import EVENT_MODELS


def upgrade(db: Database) -> None:
    db.create_tables(EVENT_MODELS, safe=True)
    if is_postgres():
        if "txid" not in {column.name for column in db.get_columns("event")}:
            db.execute_sql("ALTER TABLE event ADD COLUMN txid xid8 NOT NULL "
                           "DEFAULT pg_current_xact_id()")
        db.execute_sql("CREATE INDEX IF NOT EXISTS event_txid_seq ON event (txid, seq)")
        db.execute_sql(
            "CREATE OR REPLACE FUNCTION event_immutable() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'events are never rewritten'; END; $$ LANGUAGE plpgsql")
        db.execute_sql("DROP TRIGGER IF EXISTS event_immutable ON event")
        db.execute_sql("CREATE TRIGGER event_immutable BEFORE UPDATE ON event "
                       "FOR EACH ROW EXECUTE FUNCTION event_immutable()")
    else:
        db.execute_sql("CREATE TRIGGER IF NOT EXISTS event_immutable BEFORE UPDATE ON event "
                       "BEGIN SELECT RAISE(ABORT, 'events are never rewritten'); END")
    db.execute_sql("INSERT INTO event_fanout (id, seq, txid) VALUES (1, 0, '0') "
                   "ON CONFLICT DO NOTHING")
