"""The API's documentation: the OpenAPI document, the JSON Schema profiles and the docs page.

- :func:`create_api`: the flask-smorest ``Api`` that registers the blueprints.
- :func:`document` / :func:`to_yaml`: the OpenAPI document (committed as
  ``openapi/openapi.yaml``); :func:`finished` / :func:`rendered`: the same,
  built once per app, as served at ``/apiDoc`` and by the docs page.
- :mod:`.profiles`: the JSON Schema of every representation, at the URI its
  ``_profile`` names (committed under ``schemas/``).
- :mod:`.ui`: Swagger UI from local assets at ``/accountApplications/docs``.
"""

from __future__ import annotations

from flask import Flask

from accountapps.apidoc import cli, profiles, ui
from accountapps.apidoc.spec import create_api, document, finished, rendered, to_yaml
from accountapps.apidoc.ui import DOCS_PATH

__all__ = ["DOCS_PATH", "create_api", "document", "finished", "init_app", "rendered", "to_yaml"]


def init_app(app: Flask) -> None:
    """Register the profile and docs routes and the ``flask apidoc`` commands."""
    app.register_blueprint(profiles.blp)
    app.register_blueprint(ui.blp)
    cli.init_app(app)
