"""Test helpers that reach into the database: states the API cannot produce yet
(``pending``, ``blocked``), the passage of time, and the audit trail."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import Flask

from accountapps.storage.models import Application, AuditRecord, utcnow


def set_columns(app: Flask, application_id: str, **values: Any) -> None:
    """Overwrite columns of one application (bumping its revision, as any change does)."""
    with app.app_context():
        updated = Application.update(
            {**values, "revision": Application.revision + 1}
        ).where(Application.id == application_id).execute()
    assert updated == 1


def force_state(app: Flask, application_id: str, state: str) -> None:
    """Put an application in ``state`` directly (the API has no way into pending/blocked)."""
    set_columns(app, application_id, state=state)


def age(app: Flask, application_id: str, days: float) -> None:
    """Move the application's last activity ``days`` into the past."""
    with app.app_context():
        Application.update(active_at=utcnow() - timedelta(days=days)).where(
            Application.id == application_id).execute()


def row(app: Flask, application_id: str) -> Application | None:
    """The stored row, or ``None``."""
    with app.app_context():
        return Application.get_or_none(Application.id == application_id)


def audit_records(app: Flask, application_id: str) -> list[AuditRecord]:
    """The audit trail of one application, oldest first."""
    with app.app_context():
        return list(AuditRecord.select().where(
            (AuditRecord.resource_type == "application")
            & (AuditRecord.resource_id == application_id)).order_by(AuditRecord.id))


class Statement(str):
    """SQL as peewee handed it to the driver; its values in ``params``."""

    params: Any = ()


@contextlib.contextmanager
def sql_sent() -> Iterator[list[Statement]]:
    """Every statement peewee sends while the block runs (one per round trip)."""
    sent: list[Statement] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if isinstance(record.msg, tuple) and len(record.msg) == 2:  # not the pool's messages
                statement = Statement(record.msg[0])
                statement.params = record.msg[1]
                sent.append(statement)

    logger = logging.getLogger("peewee")
    handler = Capture(logging.DEBUG)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield sent
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
