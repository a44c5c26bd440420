"""Interactive documentation: Swagger UI served from the ``flask-swagger-ui`` package's files.

No CDN: deployments often have no internet. The page, its assets and its copy
of the OpenAPI document need no credentials (a browser sends no ``API-Key``
when it opens a link); they hold no data. "Try it out" calls send the API key
and token the user enters under "Authorize".
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory

from accountapps.apidoc.spec import rendered
from accountapps.auth.security import UNAUTHENTICATED, requires
from accountapps.web import hal

DOCS_PATH = "/docs"
STATIC = Path(__file__).parent / "static"
#: Swagger UI's dist files, as shipped by flask-swagger-ui (we use only its files).
SWAGGER_UI_DIST = Path(str(files("flask_swagger_ui") / "dist"))

#: The Swagger UI files the page loads (nothing else of the package is served).
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})

#: Swagger UI needs its own scripts and inline styles, and calls the API ("Try it out").
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

blp = Blueprint("docs", __name__, url_prefix=hal.BASE_PATH + DOCS_PATH)

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Account Applications API</title>
<link rel="stylesheet" href="{base}/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="{base}/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-spec="{base}/openapi.json"></div>
<script src="{base}/assets/swagger-ui-bundle.js"></script>
<script src="{base}/init.js"></script>
</body>
</html>
"""


@blp.route("", methods=["GET"])
@requires(UNAUTHENTICATED)
def docs_page() -> Response:
    """The Swagger UI page."""
    page = PAGE.format(base=hal.BASE_PATH + DOCS_PATH)
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


@blp.route("/init.js", methods=["GET"])
@requires(UNAUTHENTICATED)
def docs_init() -> Response:
    """The page's script (a file, not inline, so the CSP needs no 'unsafe-inline')."""
    return send_from_directory(STATIC, "swagger-init.js", mimetype="text/javascript")


@blp.route("/openapi.json", methods=["GET"])
@requires(UNAUTHENTICATED)
def docs_spec() -> Response:
    """The OpenAPI document, for the page."""
    return Response(rendered("json"), mimetype="application/json")


@blp.route("/assets/<name>", methods=["GET"])
@requires(UNAUTHENTICATED)
def docs_asset(name: str) -> Response:
    """A Swagger UI file from the installed package."""
    if name not in ASSETS:
        abort(404)
    response = send_from_directory(SWAGGER_UI_DIST, name, max_age=86400)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
