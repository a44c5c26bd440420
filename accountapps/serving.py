"""gunicorn integration: JSON lines for gunicorn's own access and error logs.

``gunicorn.conf.py`` names :class:`JsonLogger` as ``logger_class``. Every
access line is one JSON object with the request id the service put in the
``X-Request-ID`` response header, so the load balancer's, gunicorn's and the
application's log lines of one request can be joined. It also carries the
user and client the service identified, so that under gunicorn it is the one
access log (``gunicorn.conf.py`` turns the application's own line off).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any

from gunicorn.glogging import Logger

from .logs import JsonFormatter


class JsonLogger(Logger):
    """gunicorn's logger, writing JSON lines instead of Apache-style text."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())
        for handler in self.access_log.handlers:
            handler.setFormatter(logging.Formatter("%(message)s"))

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        """One JSON object per request (``accesslog`` must be set, e.g. ``-``)."""
        if not self.access_log_enabled:
            return
        try:
            atoms = self.atoms(resp, req, environ, request_time)
            entry = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "logger": "gunicorn.access",
                "requestId": atoms.get("{x-request-id}o"),
                "remoteAddr": atoms.get("h"),
                "forwardedFor": atoms.get("{x-forwarded-for}i"),
                "method": atoms.get("m"),
                "path": atoms.get("U"),
                "query": atoms.get("q") or None,
                "protocol": atoms.get("H"),
                "status": int(atoms["s"]) if str(atoms.get("s", "")).isdigit() else atoms.get("s"),
                "bytes": atoms.get("B"),
                "durationMs": round(atoms["D"] / 1000, 2),
                "userAgent": atoms.get("a"),
                # who, as the service identified them (put in the environ by logs.py)
                "userId": environ.get("accountapps.user_id"),
                "clientId": environ.get("accountapps.client_id"),
                "pid": int(atoms["p"].strip("<>")),
            }
            self.access_log.info(json.dumps(entry, separators=(",", ":")))
        except Exception:  # a log line must never break a response
            self.error(traceback.format_exc())
