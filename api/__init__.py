"""The Flask web layer: parse the request, call one ``mdm`` service, map errors to status codes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

from mdm import runtime
from mdm.settings import Settings

API_PREFIX = "/api/v1"


def create_app(test_config: dict[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    """Application factory. ``settings`` (or ``MDM_*`` variables) configure the hub;
    ``test_config`` overrides Flask's own config."""
    from api import admin, events, golden, health, ingest, loads, match, steward, subscriptions
    from api.auth import load_principal
    from api.errors import register_error_handlers
    from mdm.engines import check_all_rules

    settings = settings or Settings.from_env()
    check_all_rules(settings.rules_dir)  # an invalid rules file fails startup, not a merge
    runtime.configure(settings)
    app = Flask(__name__)
    app.config.update(
        MDM_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)

    api = Blueprint("api", __name__, url_prefix=API_PREFIX)
    api.before_request(load_principal)
    for module in (ingest, loads, golden, admin, events, subscriptions, steward, match):
        api.register_blueprint(module.bp)
    app.register_blueprint(api)
    app.register_blueprint(health.bp)
    register_error_handlers(app)
    return app
