"""The HTTP edge: everything that knows a request is an HTTP request.

Holds the Blueprint base and body parsing (``bodies``), the request hooks (request
id and logs in ``logs``, sizes and rates in ``limits``, hosts, URLs, CORS and
security headers in ``http``), HAL rendering helpers (``hal``), preconditions
(``ETag``, ``If-Match``), the one errorResponse handler (``errors``) and the
gunicorn integration (``serving``).

May import: ``auth`` (who is calling, for rate keys), ``domain.errors`` (the
refusals it renders) and ``storage`` (connections per request). Never
``resources``, ``representations`` or ``apidoc``.
"""
