"""The service as users deploy it (``gunicorn.conf.py``) against slow and odd clients.

Each test starts from the production settings (only the bind address and two
workers of four threads are given on the command line) and talks raw HTTP.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import API_KEY, SECRET
from live_server import BASE, RestartableServer

pytestmark = pytest.mark.slow

#: What users get: gunicorn.conf.py as it is, two workers of four threads.
WORKERS, THREADS = 2, 4
SLOW_CLIENTS = 64


def settings(tmp_path, **extra: str) -> dict[str, str]:
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True, exist_ok=True)
    return {"ACCOUNTAPPS_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
            "ACCOUNTAPPS_API_KEYS": API_KEY, "ACCOUNTAPPS_JWT_SECRET": SECRET,
            "ACCOUNTAPPS_LOG_LEVEL": "WARNING",
            # where gunicorn would put its control socket by default
            "HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run"), **extra}


@contextlib.contextmanager
def serving(tmp_path, **extra: str) -> Iterator[RestartableServer]:
    server = RestartableServer(settings(tmp_path, **extra), workers=WORKERS, threads=THREADS,
                               log_dir=tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[RestartableServer]:
    with serving(tmp_path_factory.mktemp("production")) as live:
        yield live


def connect(server: RestartableServer, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or goes quiet)."""
    data = b""
    with contextlib.suppress(TimeoutError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def normal_request_seconds(server: RestartableServer, count: int) -> list[float]:
    """How long each of ``count`` API root requests took (10 s: no answer)."""
    took = []
    for _ in range(count):
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.request("GET", f"{BASE}/", headers={"API-Key": API_KEY})
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            took.append(time.perf_counter() - started)
        except OSError:
            took.append(10.0)
        finally:
            connection.close()
    return sorted(took)


def p99(seconds: list[float]) -> float:
    return seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))]


def test_64_clients_trickling_their_headers_do_not_delay_normal_requests(server):
    # Each sends its request line and then one byte of a header every 2 s.
    clients = [connect(server) for _ in range(SLOW_CLIENTS)]
    for sock in clients:
        sock.sendall(f"GET {BASE}/ HTTP/1.1\r\nHo".encode())
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(2):
            for sock in clients:
                with contextlib.suppress(OSError):
                    sock.send(b"s")

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        time.sleep(1)  # every slow client has been accepted and sent bytes
        took = normal_request_seconds(server, 50)
    finally:
        stop.set()
        trickler.join()
        for sock in clients:
            sock.close()
    assert p99(took) < 1.0, took


def test_clients_that_keep_their_connection_after_its_close_do_not_stall_the_service(server):
    # Each asks for "Connection: close", then neither reads the answer nor closes.
    clients = [connect(server) for _ in range(SLOW_CLIENTS)]
    try:
        for sock in clients:
            sock.sendall(f"GET {BASE}/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Connection: close\r\n\r\n".encode())
        time.sleep(0.5)
        took = normal_request_seconds(server, 50)
    finally:
        for sock in clients:
            sock.close()
    assert p99(took) < 1.0, took


def test_a_request_not_whole_within_the_deadline_is_408_and_its_connection_closed(tmp_path):
    with serving(tmp_path, GUNICORN_REQUEST_READ_TIMEOUT="1") as live, connect(live) as sock:
        sock.sendall(f"GET {BASE}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        started = time.monotonic()
        for _ in range(6):  # still sending, a byte every half second
            time.sleep(0.5)
            with contextlib.suppress(OSError):
                sock.send(b"X")
        answer = read_all(sock)
        assert time.monotonic() - started < 8
    assert answer.startswith(b"HTTP/1.1 408 ")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"\r\nConnection: close\r\n" in head
    assert json.loads(body)["_error"]["type"] == "requestTimeout"


def test_a_body_over_the_limit_is_413_and_the_connection_says_close(server):
    with connect(server) as sock:
        sock.sendall(f"POST {BASE}/applications HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\nContent-Length: 300000\r\n\r\n{".encode())
        answer = read_all(sock)  # the server closes after its answer
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"\r\nConnection: close\r\n" in head
    assert json.loads(body)["_error"]["type"] == "requestBodyTooLarge"


def test_a_client_that_expects_100_continue_gets_it_once(server):
    with connect(server) as sock:
        sock.sendall(f"POST {BASE}/applications HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                     "Content-Length: 2\r\nConnection: close\r\n\r\n".encode())
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 401 ")  # no credentials; and no second 100


def test_pipelined_requests_are_each_answered(server):
    request = f"GET {BASE}/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    with connect(server) as sock:
        sock.sendall(f"{request}\r\n{request}".encode())
        time.sleep(0.2)
        sock.sendall(b"Connection: close\r\n\r\n")
        answer = read_all(sock)
    assert answer.count(b"HTTP/1.1 200 ") == 2


def test_forwarded_headers_from_a_loopback_peer_are_ignored_without_behind_proxy(server):
    with connect(server) as sock:
        sock.sendall(f"GET {BASE}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAPI-Key: {API_KEY}\r\n"
                     "X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: on\r\n"
                     "Connection: close\r\n\r\n".encode())
        body = read_all(sock).partition(b"\r\n\r\n")[2]
    assert json.loads(body)["_links"]["self"]["href"].startswith("http://127.0.0.1/")


def test_no_control_socket_is_shared_by_default(server):
    # gunicorn's default: $XDG_RUNTIME_DIR/gunicorn.ctl, or ~/.gunicorn/gunicorn.ctl
    assert not list(Path(server.settings["HOME"]).rglob("*.ctl"))


def test_a_control_socket_is_the_instances_own_when_asked_for(tmp_path):
    path = tmp_path / "accountapps.ctl"
    with serving(tmp_path, GUNICORN_CONTROL_SOCKET=str(path)):
        assert path.is_socket()
        assert not list((tmp_path / "home").rglob("*.ctl"))
