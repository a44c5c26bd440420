"""Flask commands: ``db upgrade``, ``expire``, ``prune``, ``token``, ``api-keys``,
``welcome``; ``events`` and ``webhooks`` (:mod:`accountapps.cli.events`)."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from accountapps.storage import migrations
from accountapps.storage.db import database


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

    @app.cli.command("welcome")
    @click.argument("url")
    def welcome(url: str) -> None:
        """Say where the service will listen and how to get an API key and a token."""
        click.echo(welcome_text(url, current_app.config["ACCOUNTAPPS_API_KEYS"]))

    @app.cli.command("expire")
    def expire() -> None:
        """Expire applications and enrollments inactive past ACCOUNTAPPS_EXPIRY_DAYS.

        For cron; idempotent, and safe to run from several hosts at once.
        """
        from accountapps.domain import applications, enrollments
        from accountapps.domain.store import expire_due

        for kind in (applications.KIND, enrollments.KIND):
            with database.connection_context():
                count = expire_due(kind)
            click.echo(f"expired {kind.name}s: {count}")

    @app.cli.command("prune")
    def prune() -> None:
        """Remove what is kept for a while only: Idempotency-Key answers older than
        ACCOUNTAPPS_IDEMPOTENCY_TTL_HOURS.

        For cron; safe to run from several hosts at once.
        """
        from datetime import timedelta

        from accountapps.storage import idempotency

        hours = current_app.config["ACCOUNTAPPS_IDEMPOTENCY_TTL_HOURS"]
        with database.connection_context():
            count = idempotency.prune(timedelta(hours=hours))
        click.echo(f"pruned idempotency keys: {count}")

    @app.cli.command("token")
    @click.option("--sub", required=True, help="The user id.")
    @click.option("--scope", default="banking/full", show_default=True,
                  help="Space-separated scopes.")
    @click.option("--expires-in", default=3600, show_default=True, help="Seconds.")
    @click.option("--aud", default=None,
                  help="Audience claim (default: ACCOUNTAPPS_JWT_AUDIENCE, if set).")
    @click.option("--iss", default=None,
                  help="Issuer claim (default: ACCOUNTAPPS_JWT_ISSUER, if set).")
    def token(sub: str, scope: str, expires_in: int, aud: str | None,
              iss: str | None) -> None:
        """Mint an HS256 bearer token with the configured secret (development)."""
        from accountapps.auth.security import mint_token

        config = current_app.config
        secret = config.get("ACCOUNTAPPS_JWT_SECRET")
        if not secret:
            raise click.ClickException("No ACCOUNTAPPS_JWT_SECRET: tokens come from your IdP.")
        claims = {"aud": aud or config.get("ACCOUNTAPPS_JWT_AUDIENCE"),
                  "iss": iss or config.get("ACCOUNTAPPS_JWT_ISSUER")}
        click.echo(mint_token(sub, scope, secret=secret, expires_in=expires_in,
                              **{k: v for k, v in claims.items() if v}))

    app.cli.add_command(api_keys_group)
    from accountapps.cli import events as event_commands

    event_commands.init_app(app)


@click.group("api-keys", help="API keys of client applications (stored hashed).")
def api_keys_group() -> None:
    """``flask --app wsgi api-keys create|list|revoke``."""


@api_keys_group.command("create")
@click.option("--client", required=True, help="The client application's name.")
def create_key(client: str) -> None:
    """Issue a key; it is printed once and only its SHA-256 is stored."""
    from accountapps.auth import api_keys

    try:
        with database.connection_context():
            issued = api_keys.create(client)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--client") from exc
    click.echo(f"id: {issued.id}", err=True)
    click.echo(f"client: {issued.client}", err=True)
    click.echo("Store this key now; it cannot be shown again:", err=True)
    click.echo(issued.key)


@api_keys_group.command("list")
def list_keys() -> None:
    """Issued keys: id, client, key prefix, created, revoked (never the key)."""
    from accountapps.auth import api_keys

    with database.connection_context():
        rows = api_keys.all_keys()
    click.echo("id\tclient\tprefix\tcreated\trevoked")
    for row in rows:
        click.echo(f"{row.id}\t{row.client}\t{row.prefix}...\t"
                   f"{row.created_at:%Y-%m-%dT%H:%M:%SZ}\t"
                   f"{f'{row.revoked_at:%Y-%m-%dT%H:%M:%SZ}' if row.revoked_at else '-'}")


@api_keys_group.command("revoke")
@click.argument("key_id", type=int)
def revoke_key(key_id: int) -> None:
    """Revoke a key by id: it is refused from the next request on."""
    from accountapps.auth import api_keys

    with database.connection_context():
        found = api_keys.revoke(key_id)
    if not found:
        raise click.ClickException(f"no API key with id {key_id}")
    click.echo(f"revoked: {key_id}")


def welcome_text(url: str, configured_keys: str) -> str:
    """What ``make run`` prints before starting: the address, and how to call it."""
    from accountapps.auth import api_keys

    base = f"{url.rstrip('/')}/accountApplications"
    configured = len([key for key in configured_keys.split(",") if key.strip()])
    with database.connection_context():
        issued = sum(1 for key in api_keys.all_keys() if key.revoked_at is None)
    lines = [f"accountapps: the API root will be {base}/ (docs page: {base}/docs)"]
    if configured or issued:
        lines.append(f"API keys: {configured} configured (ACCOUNTAPPS_API_KEYS), {issued} issued "
                     "(.venv/bin/flask --app wsgi api-keys list).")
    else:
        lines += ["No API key yet: every request but the health probes needs one. Create one",
                  "(shown once) and a user's token, in another terminal:",
                  "    KEY=$(.venv/bin/flask --app wsgi api-keys create --client local)",
                  "    TOKEN=$(.venv/bin/flask --app wsgi token --sub elsa --scope banking/full)",
                  "The README's quick start goes on from there."]
    return "\n".join(lines)
