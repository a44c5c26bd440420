"""A real ``gunicorn -c gunicorn.conf.py wsgi:app`` for multi-process tests.

:class:`LiveServer` starts gunicorn in its own process group on a free port,
waits until ``/health/ready`` answers, and can stop it gracefully or kill the
whole group with ``SIGKILL`` (master and workers at once, as a crash or an OOM
kill would). :func:`request` is a tiny thread-safe client (one connection per
request), so that racing clients really are concurrent connections.

The ``gunicorn_server`` fixture (in conftest; pytest-flask owns the name
``live_server``) starts servers on the test's database and stops them at the
end of the test.
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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
BASE = "/accountApplications"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Reply:
    """An HTTP response: status, headers (lower-case names) and the JSON body."""

    status: int
    headers: dict[str, str]
    body: Any

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")


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
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, parsed)
    finally:
        conn.close()


@dataclass
class LiveServer:
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

    def start(self, timeout: float = 60.0) -> LiveServer:
        """Start gunicorn and wait until it is ready."""
        env = {**os.environ, **{k: str(v) for k, v in self.settings.items()},
               "GUNICORN_ACCESSLOG": "", "PYTHONPATH": str(REPO_ROOT)}
        log_dir = self.log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
        self.starts += 1
        log = open(log_dir / f"gunicorn-{self.port}-{self.starts}.log", "wb")  # noqa: SIM115
        self.log_path = Path(log.name)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(REPO_ROOT / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
             "--threads", str(self.threads), "--graceful-timeout", "5", "wsgi:app"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
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
           "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
