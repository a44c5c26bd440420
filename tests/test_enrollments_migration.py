"""Migration m0002 creates the enrollment table and is safe to run again."""

from __future__ import annotations

from accountapps.storage import migrations
from accountapps.storage.db import database
from accountapps.storage.migrations import m0002_enrollments


def test_enrollment_table_and_one_active_index_exist(app):
    with app.app_context(), database.connection_context():
        assert database.table_exists("enrollment")
        indexes = {index.name for index in database.get_indexes("enrollment")}
    assert "enrollment_one_active_per_owner" in indexes
    assert migrations.current_version() >= 2


def test_m0002_is_idempotent(app):
    with app.app_context(), database.connection_context():
        m0002_enrollments.upgrade(database)
        assert database.table_exists("enrollment")
