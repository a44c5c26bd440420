"""Requests gunicorn's HTTP parser refuses are answered as errorResponses (web.serving)."""

from __future__ import annotations

import json
import socket
import time

import pytest
from conftest import API_KEY, SECRET, USER_SCOPES, token
from live_server import running_server

pytestmark = pytest.mark.slow

#: Requests gunicorn refuses before the service sees them, and its status for each.
REFUSED = {
    "duplicate Content-Length": (b"POST /accountApplications/applications HTTP/1.1\r\n"
                                 b"Host: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
                                 400),
    "header line over 8 KB": (b"GET /accountApplications/ HTTP/1.1\r\nHost: x\r\n"
                              b"Authorization: Bearer " + b"a" * 9000 + b"\r\n\r\n", 431),
    "request line over 8 KB": (b"GET /accountApplications/?" + b"a" * 9000 + b" HTTP/1.1\r\n"
                               b"Host: x\r\n\r\n", 414),
}


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('refusals')}/db.sqlite"
    with running_server({"ACCOUNTAPPS_DATABASE_URL": url, "ACCOUNTAPPS_API_KEYS": API_KEY},
                        worker_class="accountapps.web.serving.ThreadWorker") as live:
        yield live


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_request_gunicorn_refuses_gets_an_error_response(server, case):
    raw, status = REFUSED[case]
    code, headers, body = exchange(server.port, raw)
    assert code == status
    assert headers["content-type"] == "application/hal+json"
    assert len(headers["x-request-id"]) == 32
    assert headers["x-content-type-options"] == "nosniff"
    error = json.loads(body)["_error"]
    assert error["statusCode"] == status and error["_id"] == headers["x-request-id"]
    assert error["message"]


def test_gunicorns_plain_worker_would_have_answered_html(tmp_path):
    # The reason for the worker class: without it the same refusal is an HTML page.
    url = f"sqlite:///{tmp_path}/db.sqlite"
    with running_server({"ACCOUNTAPPS_DATABASE_URL": url, "ACCOUNTAPPS_API_KEYS": API_KEY},
                        worker_class="gthread") as live:
        code, headers, _body = exchange(live.port, REFUSED["duplicate Content-Length"][0])
    assert code == 400 and headers["content-type"] == "text/html"


@pytest.fixture
def impatient_server(tmp_path):
    """A server that waits at most 1 s for a whole request, from its first byte."""
    url = f"sqlite:///{tmp_path}/db.sqlite"
    with running_server({"ACCOUNTAPPS_DATABASE_URL": url, "ACCOUNTAPPS_API_KEYS": API_KEY,
                         "ACCOUNTAPPS_JWT_SECRET": SECRET,
                         "GUNICORN_REQUEST_READ_TIMEOUT": "1"},
                        worker_class="accountapps.web.serving.ThreadWorker") as live:
        yield live


def stall(port: int, raw: bytes) -> tuple[bytes, float]:
    """Send ``raw`` and then nothing: what comes back, and after how long."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(raw)
        started = time.monotonic()
        data = b""
        while chunk := sock.recv(65536):  # until the server answers and closes
            data += chunk
        return data, time.monotonic() - started


def test_a_client_that_stalls_mid_body_gets_408_and_is_let_go(impatient_server):
    data, waited = stall(impatient_server.port, (
        "POST /accountApplications/applications HTTP/1.1\r\nHost: x\r\n"
        f"API-Key: {API_KEY}\r\nAuthorization: Bearer {token('user-1', USER_SCOPES)}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{").encode())
    assert data.startswith(b"HTTP/1.1 408")
    assert b"requestTimeout" in data
    assert waited < 10


def test_a_client_that_stalls_mid_headers_gets_408_and_is_let_go(impatient_server):
    data, waited = stall(impatient_server.port, b"GET /accountApplications/ HTTP/1.1\r\nHo")
    assert data.startswith(b"HTTP/1.1 408")
    assert waited < 10
