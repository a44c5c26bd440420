"""API keys issued from the database: created by the CLI, stored hashed, revocable."""

from __future__ import annotations

import hashlib
import re

import pytest
from conftest import API_KEY, BASE, token

from accountapps.auth import api_keys
from accountapps.storage import migrations
from accountapps.storage.db import database
from accountapps.storage.models import ApiKey


def run(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    return result


def create_key(app, client: str = "web-banking") -> tuple[int, str]:
    result = run(app, "api-keys", "create", "--client", client)
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    key_id = int(re.search(r"id: (\d+)", result.output).group(1))
    return key_id, key


def call(client, key: str):
    return client.get(f"{BASE}/applications", headers={
        "API-Key": key, "Authorization": f"Bearer {token('user-1', 'banking/read')}"})


def test_a_created_key_is_accepted(app, client):
    _id, key = create_key(app)
    assert call(client, key).status_code == 200


def test_the_key_is_printed_once_and_only_its_sha256_is_stored(app):
    _id, key = create_key(app)
    with database.connection_context():
        row = ApiKey.get()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {row.client, row.key_hash, row.prefix}


def test_keys_are_long_random_strings(app):
    first, second = create_key(app)[1], create_key(app, "other")[1]
    assert first != second and len(first) >= 40


def test_list_shows_keys_without_the_secret(app):
    key_id, key = create_key(app, "teller-app")
    result = run(app, "api-keys", "list")
    assert result.exit_code == 0
    assert "teller-app" in result.output and str(key_id) in result.output
    assert key not in result.output


def test_a_revoked_key_is_refused(app, client):
    key_id, key = create_key(app)
    result = run(app, "api-keys", "revoke", str(key_id))
    assert result.exit_code == 0, result.output
    response = call(client, key)
    assert response.status_code == 401
    assert response.json["_error"]["type"] == "unauthorized"


def test_revoking_leaves_other_keys_working(app, client):
    key_id, _key = create_key(app, "a")
    _other_id, other_key = create_key(app, "b")
    run(app, "api-keys", "revoke", str(key_id))
    assert call(client, other_key).status_code == 200


def test_list_marks_revoked_keys(app):
    key_id, _key = create_key(app)
    run(app, "api-keys", "revoke", str(key_id))
    line = next(ln for ln in run(app, "api-keys", "list").output.splitlines()
                if ln.startswith(f"{key_id}\t"))
    assert not line.endswith("\t-")


def test_revoking_an_unknown_key_fails(app):
    result = run(app, "api-keys", "revoke", "999")
    assert result.exit_code != 0
    assert "999" in result.output


@pytest.mark.parametrize("key_id", ["9223372036854775808", "0", "-1"])
def test_revoking_an_id_no_key_can_have_fails_cleanly(app, key_id):
    result = run(app, "api-keys", "revoke", "--", key_id)
    assert result.exit_code == 1, result.output
    assert f"no API key with id {key_id}" in result.output


def test_a_client_name_is_required(app):
    assert run(app, "api-keys", "create", "--client", "  ").exit_code != 0


@pytest.mark.parametrize("name", ["web\x00x", "web\tbanking", "web\nbanking"],
                         ids=["nul", "tab", "newline"])
def test_a_client_name_must_be_printable(app, name):
    result = run(app, "api-keys", "create", "--client", name)
    assert result.exit_code == 2, result.output
    assert "printable" in result.output
    with app.app_context():
        assert api_keys.all_keys() == []


def test_a_wrong_key_with_the_issued_prefix_is_refused(app, client):
    create_key(app)
    assert call(client, api_keys.KEY_PREFIX + "x" * 43).status_code == 401


def test_configured_keys_keep_working_alongside_issued_ones(app, client):
    create_key(app)
    assert call(client, API_KEY).status_code == 200


def test_each_configured_key_is_accepted(app, client):
    app.config["ACCOUNTAPPS_API_KEYS"] = f" first-configured-key-0000000000, {API_KEY} "
    assert call(client, "first-configured-key-0000000000").status_code == 200
    assert call(client, API_KEY).status_code == 200


def test_a_key_removed_from_the_setting_is_refused(app, client):
    assert call(client, API_KEY).status_code == 200
    app.config["ACCOUNTAPPS_API_KEYS"] = "another-configured-key-00000000"
    assert call(client, API_KEY).status_code == 401


def test_the_issued_key_identifies_its_client_in_the_audit_trail(app, client, create_body):
    _id, key = create_key(app, "branch-tablet")
    headers = {"API-Key": key, "Authorization": f"Bearer {token('user-9', 'banking/write')}"}
    response = client.post(f"{BASE}/applications", json=create_body(), headers=headers)
    assert response.status_code == 201
    from accountapps.storage.models import AuditRecord
    with database.connection_context():
        assert AuditRecord.get().client_id == "branch-tablet"


def test_the_migration_is_idempotent(app):
    from accountapps.storage.migrations import m0003_api_keys

    with database.connection_context():
        m0003_api_keys.upgrade(database)  # the table exists already
        m0003_api_keys.upgrade(database)
        assert database.table_exists("api_key")
    assert migrations.current_version() >= 3


@pytest.mark.parametrize("option", ["--aud", "--iss"])
def test_the_token_command_sets_audience_and_issuer(app, option):
    import jwt

    result = run(app, "token", "--sub", "dev-user", option, "https://x.example/")
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert claims[option[2:]] == "https://x.example/" and claims["sub"] == "dev-user"


def test_a_token_from_the_command_is_accepted(app, client):
    minted = run(app, "token", "--sub", "dev-user", "--scope", "banking/read").stdout.strip()
    response = client.get(f"{BASE}/applications",
                          headers={"API-Key": API_KEY, "Authorization": f"Bearer {minted}"})
    assert response.status_code == 200
