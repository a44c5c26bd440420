"""The service under gunicorn, for tests that need several processes.

Reusable by any test (SQLite or PostgreSQL)::

    from live_server import LiveServer, running_server

    with running_server({"ACCOUNTAPPS_DATABASE_URL": url}, workers=2) as server:
        status, headers, body = server.request("GET", "/", headers={"API-Key": key})

Settings are passed as ``ACCOUNTAPPS_*`` environment variables, exactly as in a
deployment. The server runs the checkout these tests belong to (``--chdir``).
Each request opens its own connection, so threads may share one
:class:`LiveServer`.

:class:`RestartableServer` runs ``gunicorn -c gunicorn.conf.py`` (the
production settings) in its own process group, waits for ``/health/ready``, and
can be killed with ``SIGKILL`` as a whole (master and workers at once, as a
crash or an OOM kill would) and started again on the same port: the
durability proofs use it (tests/proof_scenarios.py). :func:`request` is the
module-level form of :meth:`LiveServer.request` for any base URL.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BASE = "/accountApplications"


def free_port() -> int:
    """A loopback TCP port that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Reply:
    """An HTTP response: status, headers (case-insensitive lookup), JSON body."""

    status: int
    headers: http.client.HTTPMessage
    body: Any

    def __iter__(self) -> Iterator[Any]:  # status, headers, body = reply
        return iter((self.status, self.headers, self.body))

    @property
    def etag(self) -> str | None:
        """The ``ETag`` header, if any."""
        return self.headers.get("ETag")


@dataclass
class LiveServer:
    """A running gunicorn serving ``wsgi:app``."""

    host: str
    port: int
    process: subprocess.Popen
    log: Any  # a file with gunicorn's stdout and stderr

    def output(self) -> str:
        """What gunicorn has written so far (for failure messages)."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    @property
    def url(self) -> str:
        """``http://host:port`` without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    def request(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
                json_body: Any = None, timeout: float = 30) -> Reply:
        """One request on a fresh connection. ``path`` is under the base path, or a full URL."""
        if path.startswith("http"):
            parts = urlsplit(path)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        elif not path.startswith(BASE):
            path = BASE + path
        data = None
        all_headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=data, headers=all_headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        body = json.loads(raw) if raw else None
        return Reply(response.status, response.headers, body)


def _wait_until_ready(server: LiveServer, api_key: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with {server.process.returncode}:\n{server.output()}")
        try:
            if server.request("GET", "/", headers={"API-Key": api_key}, timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on {server.url} within {timeout} s")


@contextlib.contextmanager
def running_server(settings: Mapping[str, str], *, workers: int = 2,
                   worker_class: str = "sync", ready_timeout: float = 30
                   ) -> Iterator[LiveServer]:
    """Start gunicorn with ``settings`` (``ACCOUNTAPPS_*``) and stop it afterwards.

    ``settings`` must include ``ACCOUNTAPPS_API_KEYS`` (readiness is checked at
    the API root with its first key).
    """
    port = free_port()
    env = {**os.environ, **{key: str(value) for key, value in settings.items()}}
    command = [
        sys.executable, "-m", "gunicorn",
        "--chdir", str(ROOT),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", worker_class,
        "--graceful-timeout", "5",
        "--log-level", "warning",
        "wsgi:app",
    ]
    # A file, not a pipe: nobody reads a pipe while tests run, and a full one blocks.
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, text=True)
    server = LiveServer("127.0.0.1", port, process, log)
    try:
        api_key = settings["ACCOUNTAPPS_API_KEYS"].split(",")[0].strip()
        _wait_until_ready(server, api_key, ready_timeout)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def request(base_url: str, method: str, path: str, *, headers: dict[str, str] | None = None,
         json_body: Any = None, timeout: float = 30.0) -> Reply:
    """One request on a new connection; ``path`` is relative to the API base path."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        body = None
        all_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        target = path if path.startswith(BASE) else BASE + path
        conn.request(method, target, body=body, headers=all_headers)
        response = conn.getresponse()
        raw = response.read()
        parsed = json.loads(raw) if raw else None
        return Reply(response.status, response.headers, parsed)
    finally:
        conn.close()


@dataclass
class RestartableServer:
    """gunicorn serving the app on ``settings`` (``ACCOUNTAPPS_*`` variables)."""

    settings: dict[str, str]
    workers: int = 4
    threads: int = 2
    log_dir: Path | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> RestartableServer:
        """Start gunicorn and wait until it is ready."""
        env = {**os.environ, **{k: str(v) for k, v in self.settings.items()},
               "GUNICORN_ACCESSLOG": "", "PYTHONPATH": str(ROOT)}
        log_dir = self.log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
        self.starts += 1
        log = open(log_dir / f"gunicorn-{self.port}-{self.starts}.log", "wb")  # noqa: SIM115
        self.log_path = Path(log.name)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
             "--threads", str(self.threads), "--graceful-timeout", "5", "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches every worker
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-3000:]}")
            try:
                if request(self.url, "GET", "/health/ready", timeout=2).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"gunicorn not ready: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """``SIGKILL`` the master and every worker at once (a crash)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._wait_port_free()
        self.process = None

    def stop(self) -> None:
        """Graceful shutdown (``SIGTERM``), then ``SIGKILL`` if it lingers."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def _wait_port_free(self) -> None:
        # Orphaned workers die with the group; wait until nothing answers any more.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)


def flask_command(settings: dict[str, str], *args: str) -> subprocess.Popen:
    """Start ``flask --app wsgi <args>`` (e.g. ``expire``, ``db upgrade``) as another host would."""
    env = {**os.environ, **{k: str(v) for k, v in settings.items()},
           "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
