"""accountapps: the Apiture Account Applications API over HAL."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from accountapps import apidoc, cli
from accountapps.auth import security
from accountapps.config import load_settings
from accountapps.domain import catalog
from accountapps.storage import db, migrations
from accountapps.web import bodies, connections, errors, hooks, http, idempotency, limits, logs


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """The WSGI application, configured from ``ACCOUNTAPPS_*`` variables and ``overrides``."""
    app = Flask(__name__, static_folder=None, instance_relative_config=True)
    # A path with "//" names nothing (404), rather than a redirect to the merged
    # path (werkzeug's redirects are HTML pages; see http._no_redirects).
    app.url_map.merge_slashes = False
    app.config.update(load_settings(app.instance_path, overrides=overrides))
    app.config.update(
        MAX_CONTENT_LENGTH=app.config["ACCOUNTAPPS_MAX_BODY_BYTES"],
        JSON_SORT_KEYS=False,
    )
    logs.configure(app.config["ACCOUNTAPPS_LOG_LEVEL"])
    if app.config["ACCOUNTAPPS_BEHIND_PROXY"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)

    # Order matters: request id first, then the database, then limits, then the
    # caller, and only then the body.
    logs.init_app(app)
    connections.init_app(app)
    # A declared body size and the rate limits first: before the caller check,
    # so that failed key guesses count too.
    limits.init_app(app)
    http.init_app(app)
    hooks.before(app, security.authenticate)
    # Nobody without credentials makes the service read or parse a body.
    bodies.init_app(app)

    api = apidoc.create_api(app)
    from accountapps.resources import (
        applications,
        enrollments,
        error_types,
        events,
        health,
        products,
        records,
        root,
        webhooks,
        workflow,
    )

    api.register_blueprint(root.blp)
    api.register_blueprint(health.blp)
    api.register_blueprint(applications.blp)
    api.register_blueprint(enrollments.blp)
    api.register_blueprint(workflow.blp)
    api.register_blueprint(error_types.blp)
    api.register_blueprint(records.blp)
    api.register_blueprint(products.blp)
    api.register_blueprint(events.blp)
    api.register_blueprint(webhooks.blp)
    # Every POST view, once registered, answers a repeated Idempotency-Key.
    idempotency.init_app(app)
    apidoc.init_app(app)  # JSON Schemas and interactive docs (not in the OpenAPI document)
    errors.register(app)  # after Api, which installs handlers of its own
    cli.init_app(app)

    with app.app_context():
        catalog.current()  # a catalog that is not one stops the service here, not later
    if app.config["ACCOUNTAPPS_AUTO_MIGRATE"]:
        migrations.upgrade()
    # Never carry a connection across gunicorn's fork (pooled ones included).
    db.close_all()
    return app
