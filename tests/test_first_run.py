"""What a newcomer meets first: make run's greeting, its port, and the default database."""

from __future__ import annotations

import os
import subprocess

from live_server import ROOT

from accountapps.auth import api_keys
from accountapps.cli import welcome_text


def test_make_run_without_a_key_says_how_to_get_one_and_a_token(app):
    with app.app_context():
        text = welcome_text("http://127.0.0.1:8000", "")
    assert "http://127.0.0.1:8000/accountApplications/" in text
    assert "api-keys create" in text and "flask --app wsgi token" in text


def test_make_run_with_keys_counts_them_instead(app):
    with app.app_context():
        api_keys.create("web-banking")
        text = welcome_text("http://127.0.0.1:8000", "a-configured-key-0123456789")
    assert "1 configured" in text and "1 issued" in text
    assert "api-keys create" not in text


def test_make_run_listens_on_the_port_it_is_given():
    env = {k: v for k, v in os.environ.items() if k != "GUNICORN_BIND"}
    planned = subprocess.run(["make", "-n", "run", "PORT=8001"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True).stdout
    assert '--bind "${GUNICORN_BIND:-127.0.0.1:8001}"' in planned


def test_the_default_database_is_accountapps_db_in_the_instance_folder():
    from accountapps.config import load_settings

    settings = load_settings("/srv/instance", overrides={"ACCOUNTAPPS_DATABASE_URL": "",
                                                         "ACCOUNTAPPS_JWT_SECRET": "x" * 32})
    assert settings["ACCOUNTAPPS_DATABASE_URL"] == "sqlite:////srv/instance/accountapps.db"
