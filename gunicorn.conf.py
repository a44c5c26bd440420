"""Production defaults for ``gunicorn --config gunicorn.conf.py wsgi:app``.

Every setting can be overridden by a ``GUNICORN_*`` variable below, or on the
command line (which wins over this file), e.g. ``--bind 127.0.0.1:8000``.
The reasoning: docs/deployment.md, "gunicorn.conf.py"; what protects users
from slow clients, forwarded headers and the control socket: docs/security.md.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Behind a load balancer: listen on every interface of the host (or container).
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# Threaded workers. Not gevent: SQLite and psycopg2 calls would block its loop
# (p99 about 10x worse, see engineering notes).
# gunicorn's gthread worker (accountapps.web.serving), except that
# - each worker's event loop reads a request whole (head and body) before a
#   thread is taken, so clients that send slowly hold no thread: a request not
#   whole GUNICORN_REQUEST_READ_TIMEOUT seconds (default 20) after its first
#   byte is 408, a head over 64 KiB 431, a body over ACCOUNTAPPS_MAX_BODY_BYTES
#   413 (then the connection closes, and says so);
# - a thread waits at most GUNICORN_READ_TIMEOUT seconds (default 15) for a client
#   to take the next bytes of its answer;
# - the requests its HTTP parser refuses are answered with the service's
#   errorResponse instead of an HTML page;
# - a worker whose threads all run a request accepts no new connection: the
#   kernel keeps it for a worker with a free thread.
# docs/security.md, "Slow clients", says what this protects and what a proxy adds.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "accountapps.web.serving.ThreadWorker")
# 2 x CPUs workers of one thread: measured best of the candidates on 2 cores,
# with SQLite and with PostgreSQL on the same host (docs/performance.md,
# "gunicorn's settings"). A second thread in a worker only queues CPU-bound
# requests behind its interpreter lock; it pays when the database is on
# another host and a request waits for its round trips (then 2-4 threads).
workers = _int("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count())
threads = _int("GUNICORN_THREADS", 1)  # also each worker's most PostgreSQL connections

# A request that takes longer than this is stuck: the worker is killed and replaced.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM (deploys, scale-in) finish in-flight requests for up to this long.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Longer than the load balancer's idle timeout (60 s on common ones), so the
# balancer, not gunicorn, closes idle connections and never sends on a dead one.
keepalive = _int("GUNICORN_KEEPALIVE", 65)

# Recycle workers now and then (bounded memory growth); the jitter keeps them
# from all restarting at the same moment. Not too often: a fresh worker builds
# the app and its caches again (every 2,000 requests doubled write p99 in bench/).
max_requests = _int("GUNICORN_MAX_REQUESTS", 50000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 5000)

# Each worker builds the app after fork, so no database connection (and no
# SQLite file handle) is ever shared between processes. create_app closes every
# connection before it returns, so --preload would be safe too.
preload_app = False

# Request size limits in front of the app's own ACCOUNTAPPS_MAX_BODY_BYTES.
limit_request_line = 8190
limit_request_fields = 100

# JSON lines: access log on stdout, with the X-Request-ID the service sets;
# gunicorn's own messages on stderr.
logger_class = "accountapps.web.serving.JsonLogger"
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None  # "" turns it off
if accesslog:
    # gunicorn's JSON access line has the request id, user and client: the
    # service's own access line would only repeat it.
    os.environ.setdefault("ACCOUNTAPPS_ACCESS_LOG", "0")
errorlog = os.environ.get("GUNICORN_ERRORLOG", "-")
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")

# X-Forwarded-* are trusted by the app alone, and only when ACCOUNTAPPS_BEHIND_PROXY=1
# (werkzeug's ProxyFix, one hop). gunicorn itself trusts no peer with them (its
# default trusts 127.0.0.1, ::1 and every unix-socket peer to set the scheme):
# GUNICORN_FORWARDED_ALLOW_IPS names peers it may trust after all.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "")
if not forwarded_allow_ips:
    secure_scheme_headers: dict[str, str] = {}
    forwarder_headers = ""

# gunicorn's control socket (gunicornc) is off: by default every instance on a
# host would share one, in $XDG_RUNTIME_DIR or ~/.gunicorn. GUNICORN_CONTROL_SOCKET
# (a path of this instance's own) turns it on.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
if _control_socket:
    control_socket = _control_socket
else:
    control_socket_disable = True
