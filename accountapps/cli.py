"""Flask commands: ``db upgrade``, ``expire``, ``token``."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import migrations
from .db import database


def init_app(app: Flask) -> None:
    """Register the commands on ``app``."""
    db_group = AppGroup("db", help="Database schema.")

    @db_group.command("upgrade")
    def upgrade() -> None:
        """Apply pending migrations (safe to run from several hosts at once)."""
        applied = migrations.upgrade()
        click.echo(f"applied: {', '.join(applied)}" if applied else "up to date")
        click.echo(f"schema version: {migrations.current_version()}")

    app.cli.add_command(db_group)

    @app.cli.command("expire")
    def expire() -> None:
        """Expire applications and enrollments inactive past ACCOUNTAPPS_EXPIRY_DAYS.

        For cron; idempotent, and safe to run from several hosts at once.
        """
        from . import applications, enrollments
        from .store import expire_due

        for kind in (applications.KIND, enrollments.KIND):
            with database.connection_context():
                count = expire_due(kind)
            click.echo(f"expired {kind.name}s: {count}")

    @app.cli.command("token")
    @click.option("--sub", required=True, help="The user id.")
    @click.option("--scope", default="banking/full", show_default=True,
                  help="Space-separated scopes.")
    @click.option("--expires-in", default=3600, show_default=True, help="Seconds.")
    def token(sub: str, scope: str, expires_in: int) -> None:
        """Mint an HS256 bearer token with the configured secret (development)."""
        from .security import mint_token

        secret = current_app.config.get("ACCOUNTAPPS_JWT_SECRET")
        if not secret:
            raise click.ClickException("No ACCOUNTAPPS_JWT_SECRET: tokens come from your IdP.")
        click.echo(mint_token(sub, scope, secret=secret, expires_in=expires_in))
