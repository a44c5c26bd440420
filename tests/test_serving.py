"""gunicorn's access log: one JSON object per request, with the request id."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from types import SimpleNamespace

from gunicorn.config import Config

from accountapps.serving import JsonLogger


def test_access_log_line_is_json_with_the_response_request_id():
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = JsonLogger(cfg)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger.access_log.addHandler(handler)
    response = SimpleNamespace(status="412 Precondition Failed", sent=321,
                               headers=[("X-Request-ID", "req-12345678")])
    request = SimpleNamespace(headers=[("USER-AGENT", 'agent "quoted"')])
    environ = {"REQUEST_METHOD": "PATCH", "RAW_URI": "/accountApplications/applications/x",
               "PATH_INFO": "/accountApplications/applications/x", "QUERY_STRING": "",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.7",
               "HTTP_USER_AGENT": 'agent "quoted"'}
    logger.access(response, request, environ, timedelta(milliseconds=12))
    entry = json.loads(lines[-1])
    assert entry["requestId"] == "req-12345678"
    assert (entry["method"], entry["status"], entry["bytes"]) == ("PATCH", 412, 321)
    assert entry["userAgent"] == 'agent "quoted"'
    assert entry["durationMs"] == 12.0
