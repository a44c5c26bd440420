"""Fixtures: an app on a fresh database, clients, tokens and sample applications."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import databases  # tests/databases.py (tests/ is on sys.path, as for ``from conftest``)
import pytest
from live_server import RestartableServer
from webhook_receiver import Receiver
from workflow_support import ready_for_approval

from accountapps import create_app
from accountapps.auth.security import mint_token
from accountapps.storage import db as accountapps_db
from tests.openapi_validation import ValidatingClient

API_KEY = "test-api-key-0123456789"
SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
BASE = "/accountApplications"

USER_SCOPES = "banking/read banking/write banking/delete"
ADMIN_SCOPES = "banking/full admin/full profiles/full"
AUDITOR_SCOPES = "banking/read admin/read"

#: The reference's createApplication example body, verbatim.
REFERENCE_CREATE_BODY: dict[str, Any] = {
    "_profile": "https://api.apiture.com/schemas/accountApplications/application/v1.0.0/profile.json",
    "accountName": "My checking account",
    "_links": {
        "apiture:product": {
            "href": "https://www.example.com/products/products/51df9a81-2cb8-4515-aad1-9543b3c4fc18"
        }
    },
    "applicants": [
        {
            "username": "Snowqueen123",
            "contact": {
                "firstName": "Elsa",
                "lastName": "Snowqueen",
                "_links": {
                    "self": {
                        "href": "https://www.example.com/users/user/3017d005-9910-4a8b-874b-397749353e7a"
                    }
                },
            },
            "role": {
                "name": "primaryUser",
                "label": "Primary User",
                "_links": {
                    "self": {
                        "href": "https://www.example.com/associations/roles/3ad50a2a-3129-491f-9bd9-d4cccf54b228"
                    }
                },
            },
        }
    ],
    "products": [
        {
            "name": "Personal Savings",
            "_links": {
                "self": {
                    "href": "https://www.example.com/products/products/40ed6e40-cffa-4944-8d54-f9b50ed2081f"
                }
            },
        }
    ],
}

FUNDING = {
    "fundingAmount": {"value": "1500.00", "currency": "USD"},
    "fundingAccount": {
        "title": "Elsa Snowqueen",
        "institutionName": "3rd Party Bank",
        "routingNumber": "021000021",
        "accountNumbers": {"full": "9876543210"},
    },
}


def pytest_report_header(config) -> str:
    url = databases.POSTGRES_URL
    return f"database: {databases.BACKEND}" + (f" ({databases.redacted(url)})" if url else "")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One line per reason tests were skipped, with how many (not one line per test)."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("skipped, by reason")
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"{count:5d}  {reason}")


#: Why the PostgreSQL run skips the tests marked ``own_database``.
OWN_DATABASE = ("run in the SQLite run only: the test brings its own SQLite database "
                "or needs none, so here it would repeat itself")


def pytest_collection_modifyitems(config, items) -> None:
    """No PostgreSQL server in a PostgreSQL run: skip everything, saying why. With one,
    skip the tests that would run exactly as they did in the SQLite run."""
    reason = databases.unavailable_reason()
    if reason is None:
        if databases.BACKEND == "postgresql":
            repeated = pytest.mark.skip(reason=OWN_DATABASE)
            for item in items:
                if item.get_closest_marker("own_database"):
                    item.add_marker(repeated)
        return
    if databases.REQUIRE_POSTGRES:
        raise pytest.UsageError(reason)
    marker = pytest.mark.skip(reason=reason)
    for item in items:
        item.add_marker(marker)


@pytest.fixture(scope="session")
def postgres_session() -> Iterator[databases.PostgresSession | None]:
    """The PostgreSQL schema of this session (``None`` on SQLite)."""
    if databases.BACKEND != "postgresql":
        yield None
        return
    session = databases.PostgresSession(databases.POSTGRES_URL)
    yield session
    accountapps_db.close_all()
    session.close()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path | None:
    """An SQLite file with every migration applied, copied for each test, which is
    cheaper than migrating a new file (``None`` on PostgreSQL)."""
    if databases.BACKEND == "postgresql":
        return None
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    create_app({"ACCOUNTAPPS_DATABASE_URL": f"sqlite:///{path}", "ACCOUNTAPPS_API_KEYS": API_KEY,
                "ACCOUNTAPPS_JWT_SECRET": SECRET, "ACCOUNTAPPS_LOG_LEVEL": "WARNING"})
    accountapps_db.close_all()  # the last connection's close folds the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
def database_url(tmp_path, postgres_session, migrated_sqlite) -> Iterator[str]:
    """A clean database for one test: a copy of the migrated SQLite file, or emptied
    PostgreSQL tables."""
    if postgres_session is None:
        shutil.copyfile(migrated_sqlite, tmp_path / "test.db")
        yield databases.sqlite_url(tmp_path)
    else:
        postgres_session.clean()
        yield postgres_session.url
    # Return every pooled connection, so none outlives its test (or blocks the next clean).
    accountapps_db.close_all()


@pytest.fixture
def empty_database_url(tmp_path, postgres_session) -> str:
    """A database with no tables at all (for migration tests)."""
    if postgres_session is None:
        return databases.sqlite_url(tmp_path, "empty.db")
    return postgres_session.empty_database_url()


@pytest.fixture
def app_settings(database_url) -> dict[str, Any]:
    """Settings of the app under test (override in a module to change them)."""
    return {
        "ACCOUNTAPPS_DATABASE_URL": database_url,
        "ACCOUNTAPPS_API_KEYS": API_KEY,
        "ACCOUNTAPPS_JWT_SECRET": SECRET,
        "ACCOUNTAPPS_LOG_LEVEL": "WARNING",
        # off, except in tests/test_limits.py
        "ACCOUNTAPPS_RATE_LIMIT": "",
        "ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS": "",
        # The reference's examples link to the platform at www.example.com.
        "ACCOUNTAPPS_LINK_HOSTS": "www.example.com",
    }


@pytest.fixture
def app(app_settings):
    """The Flask app (pytest-flask's ``client`` fixture uses it).

    Its test client validates every response against openapi/openapi.yaml.
    """
    application = create_app(app_settings)
    application.config["TESTING"] = True
    application.test_client_class = ValidatingClient
    return application


def token(sub: str, scopes: str, **claims: Any) -> str:
    """A bearer token signed with the test secret."""
    return mint_token(sub, scopes, secret=SECRET, **claims)


def headers_for(sub: str, scopes: str) -> dict[str, str]:
    """API key and bearer token headers for a user."""
    return {"API-Key": API_KEY, "Authorization": f"Bearer {token(sub, scopes)}"}


@pytest.fixture
def user_headers() -> dict[str, str]:
    return headers_for("user-1", USER_SCOPES)


@pytest.fixture
def other_headers() -> dict[str, str]:
    return headers_for("user-2", USER_SCOPES)


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return headers_for("admin-1", ADMIN_SCOPES)


class Api:
    """A thin client for one caller: JSON in, (status, body, headers) out."""

    def __init__(self, client, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def call(self, method: str, path: str, json: Any = None, headers: dict | None = None,
             **kwargs: Any):
        url = path if path.startswith("http") else (
            path if path.startswith(BASE) else BASE + path)
        return self.client.open(url, method=method, json=json,
                                headers={**self.headers, **(headers or {})}, **kwargs)

    def get(self, path: str, **kw: Any):
        return self.call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any):
        return self.call("POST", path, json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any):
        return self.call("PUT", path, json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any):
        return self.call("PATCH", path, json, **kw)

    def delete(self, path: str, **kw: Any):
        return self.call("DELETE", path, **kw)


@pytest.fixture
def user(client, user_headers) -> Api:
    return Api(client, user_headers)


@pytest.fixture
def other(client, other_headers) -> Api:
    return Api(client, other_headers)


@pytest.fixture
def admin(client, admin_headers) -> Api:
    return Api(client, admin_headers)


@pytest.fixture
def auditor(client) -> Api:
    """Reads every trail (admin/read), but not personal data (no profiles/readPii)."""
    return Api(client, headers_for("auditor-1", AUDITOR_SCOPES))


@pytest.fixture
def create_body() -> Callable[..., dict[str, Any]]:
    """A fresh copy of the reference's create body, with optional changes."""

    def make(**changes: Any) -> dict[str, Any]:
        body = copy.deepcopy(REFERENCE_CREATE_BODY)
        body.update(copy.deepcopy(changes))
        return body

    return make


@pytest.fixture
def application(user, create_body):
    """A running application of ``user-1`` (the response)."""
    response = user.post("/applications", create_body(**FUNDING))
    assert response.status_code == 201, response.json
    return response


@pytest.fixture
def approvable(user, admin):
    """A running application of ``user-1`` with nothing left but the approval (as fetched).

    The workflow refuses to approve an application with blockers: tests of approval
    start here (complete funding and consents, identity verified by the institution).
    """
    ready = ready_for_approval(user, admin)
    assert ready.json["state"] == "running" and ready.json["blockers"] == [], ready.json
    return user.get(ready.json["_links"]["self"]["href"])


@pytest.fixture
def make_applications(client) -> Callable[..., list[dict]]:
    """Create one application per user: ``make_applications(n, **fields)``."""

    def make(count: int, prefix: str = "bulk", **changes: Any) -> list[dict]:
        made = []
        for index in range(count):
            api = Api(client, headers_for(f"{prefix}-{index}", USER_SCOPES))
            body = copy.deepcopy(REFERENCE_CREATE_BODY)
            body.update(copy.deepcopy(changes))
            response = api.post("/applications", body)
            assert response.status_code == 201, response.json
            made.append(response.json)
        return made

    return make


@pytest.fixture
def gunicorn_server(app, app_settings, tmp_path) -> Iterator[Callable[..., RestartableServer]]:
    """Start real gunicorn servers on the test's database: ``gunicorn_server(workers=4)``.

    ``app`` (same database) has applied the migrations and lets the test look
    at the database directly. Every server is stopped at the end of the test.
    """
    servers: list[RestartableServer] = []

    def start(workers: int = 4, threads: int = 2, **settings: Any) -> RestartableServer:
        server = RestartableServer({**app_settings, **settings}, workers=workers, threads=threads,
                            log_dir=tmp_path)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback that verifies signatures (tests/webhook_receiver.py)."""
    started = Receiver().start()
    yield started
    started.stop()
