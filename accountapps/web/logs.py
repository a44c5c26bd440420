"""Structured (JSON lines) logs and the request id every response carries."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

import orjson
from flask import Flask, Request, Response, g, has_request_context

from accountapps.web import hooks

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
access_log = logging.getLogger("accountapps.access")


def new_request_id() -> str:
    """A fresh request id: 128 random bits as 32 lowercase hex digits."""
    return os.urandom(16).hex()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: easy to ship, grep and query."""

    _SKIP = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def __init__(self) -> None:
        super().__init__()
        # Most lines fall in the same second as the one before: its text is kept.
        self._second: tuple[int, str] = (-1, "")

    def _time(self, record: logging.LogRecord) -> str:
        whole = int(record.created)
        second, text = self._second
        if whole != second:
            text = self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
            self._second = (whole, text)  # one assignment: safe under threads
        return f"{text}.{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["requestId"] = g.get("request_id")
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._SKIP})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:  # a line per request: orjson, much cheaper than the standard library
            return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # integers beyond 64 bits, lone surrogates
            return json.dumps(entry, default=str)


def configure(level: str) -> None:
    """Send the service's logs to stderr as JSON lines."""
    logger = logging.getLogger("accountapps")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def init_app(app: Flask) -> None:
    """Assign a request id (or accept a sane ``X-Request-ID``) and log every request."""

    def _start(current: Request, context: Any) -> None:
        offered = current.environ.get("HTTP_X_REQUEST_ID", "")
        context.request_id = offered if _REQUEST_ID.match(offered) else new_request_id()
        context.started = time.perf_counter()

    def _finish(current: Request, context: Any, response: Response) -> Response:
        environ = current.environ
        request_id = context.get("request_id") or new_request_id()
        response.headers["X-Request-ID"] = request_id
        started = context.get("started")
        principal = context.get("principal")
        user_id = principal.user_id if principal else None
        client_id = context.get("client_id")
        # For the server's access log (accountapps.web.serving), which has the rest.
        environ["accountapps.user_id"] = user_id
        environ["accountapps.client_id"] = client_id
        if app.config["ACCOUNTAPPS_ACCESS_LOG"]:
            access_log.info(
                "request",
                extra={
                    "method": environ["REQUEST_METHOD"],
                    "path": current.path,
                    "status": response.status_code,
                    "durationMs": round((time.perf_counter() - started) * 1000, 2)
                    if started else None,
                    "userId": user_id,
                    "clientId": client_id,
                },
            )
        return response

    hooks.before(app, _start)
    hooks.after(app, _finish)
