"""gunicorn's access log: one JSON object per request, with the request id."""

from __future__ import annotations

import json
import logging
import sys
from datetime import timedelta
from types import SimpleNamespace

from gunicorn.config import Config

from accountapps.web import serving
from accountapps.web.serving import JsonLogger


def _access_logger() -> tuple[JsonLogger, list[str]]:
    """gunicorn's JSON access logger, with the lines it writes collected."""
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = JsonLogger(cfg)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger.access_log.addHandler(handler)
    return logger, lines


def test_access_log_line_is_json_with_the_response_request_id():
    logger, lines = _access_logger()
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


def test_access_log_line_names_the_user_and_client_the_service_identified(app, user_headers):
    seen: list[dict] = []
    inner = app.wsgi_app

    def capture(environ, start_response):  # what gunicorn hands its access logger
        seen.append(environ)
        return inner(environ, start_response)

    app.wsgi_app = capture
    app.test_client().get("/accountApplications/applications", headers=user_headers)
    environ = seen[-1]
    assert environ["accountapps.user_id"] == "user-1"
    assert environ["accountapps.client_id"].startswith("key:")

    logger, lines = _access_logger()
    logger.access(SimpleNamespace(status="200 OK", sent=1, headers=[]), SimpleNamespace(
        headers=[]), {**environ, "RAW_URI": "/x"}, timedelta(milliseconds=1))
    entry = json.loads(lines[-1])
    assert (entry["userId"], entry["clientId"]) == ("user-1", environ["accountapps.client_id"])


def test_the_service_access_line_can_be_turned_off(app_settings, caplog):
    from accountapps import create_app

    quiet = create_app({**app_settings, "ACCOUNTAPPS_ACCESS_LOG": "0",
                        "ACCOUNTAPPS_LOG_LEVEL": "INFO"})
    logger = logging.getLogger("accountapps")
    logger.propagate = True
    try:
        with caplog.at_level(logging.INFO, logger="accountapps.access"):
            quiet.test_client().get("/accountApplications/")
    finally:
        logger.propagate = False
    assert not [r for r in caplog.records if r.name == "accountapps.access"]


def test_a_client_stalled_past_the_read_deadline_is_one_info_line_without_traceback():
    try:
        raise TimeoutError("timed out")
    except TimeoutError:
        record = logging.LogRecord("gunicorn.error", logging.ERROR, __file__, 1,
                                   "Socket error processing request.", (), sys.exc_info())
    assert serving._quiet_stalled_clients(record)
    assert (record.levelno, record.levelname, record.exc_info) == (logging.INFO, "INFO", None)
    assert "sent nothing" in record.getMessage()


def test_other_socket_errors_keep_their_level_and_traceback():
    try:
        raise OSError(5, "I/O error")
    except OSError:
        record = logging.LogRecord("gunicorn.error", logging.ERROR, __file__, 1,
                                   "Socket error processing request.", (), sys.exc_info())
    assert serving._quiet_stalled_clients(record)
    assert record.levelno == logging.ERROR and record.exc_info is not None


def _formatted(**extra) -> dict:
    from accountapps.web.logs import JsonFormatter

    record = logging.LogRecord("accountapps.access", logging.INFO, __file__, 1, "request", (),
                               None)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter().format(record))


def test_a_service_log_line_is_one_json_object_with_its_fields():
    entry = _formatted(method="GET", status=200, userId=None)
    assert (entry["level"], entry["logger"], entry["message"]) == ("INFO", "accountapps.access",
                                                                   "request")
    assert (entry["method"], entry["status"], entry["userId"]) == ("GET", 200, None)
    assert len(entry["time"]) == len("2026-11-22T10:04:08.378")


def test_a_service_log_line_holds_values_the_fast_encoder_refuses():
    entry = _formatted(big=2**70, text="\ud800", thing=object())
    assert entry["big"] == 2**70 and entry["text"] == "\ud800"
    assert entry["thing"].startswith("<object object")


def test_log_lines_in_the_same_second_keep_their_own_milliseconds():
    from accountapps.web.logs import JsonFormatter

    formatter = JsonFormatter()
    times = []
    for created, msecs in ((1_700_000_000.001, 1.0), (1_700_000_000.999, 999.0),
                           (1_700_000_001.5, 500.0)):
        record = logging.LogRecord("accountapps", logging.INFO, __file__, 1, "m", (), None)
        record.created, record.msecs = created, msecs
        times.append(json.loads(formatter.format(record))["time"])
    assert [t[-4:] for t in times] == [".001", ".999", ".500"]
    assert times[0][:-4] == times[1][:-4] != times[2][:-4]
