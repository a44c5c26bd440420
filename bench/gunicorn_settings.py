"""gunicorn settings of both servers of a benchmark run: the service and the baseline.

Explicit, so that the production defaults in ``gunicorn.conf.py`` (which
gunicorn would otherwise read from the working directory) do not apply: their
worker recycling (``max_requests``) restarts a worker every few seconds at
benchmark rates, and their access log would be written twice.
"""

worker_class = "sync"
workers = 2
backlog = 2048
timeout = 30
max_requests = 0
accesslog = None
errorlog = "-"
loglevel = "warning"
