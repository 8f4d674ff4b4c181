"""examsys: question bank and exam delivery for vocational skill appraisal (职业技能鉴定).

:func:`create_app` builds the Flask app; it does no I/O or database work at boot.
"""
from __future__ import annotations

from flask import Flask, g, request, session

from .config import ROOT, Config

# Blueprints registered by create_app: (import path, attribute). Each feature adds itself here.
BLUEPRINTS = [
    ("examsys.main.routes", "bp"),
    ("examsys.auth.routes", "bp"),
    ("examsys.admin.routes", "bp"),
    ("examsys.bank.routes", "bp"),
    ("examsys.taxonomy.routes", "bp"),
    ("examsys.papers.routes", "bp"),
    ("examsys.exams.routes", "bp"),
    ("examsys.delivery.routes", "bp"),
    ("examsys.proctor.routes", "bp"),
    ("examsys.marking.routes", "bp"),
    ("examsys.results.routes", "bp"),
    ("examsys.stats.routes", "bp"),
]


def select_locale() -> str:
    """The UI language: the user's choice in the session, else Chinese (Simplified)."""
    from flask import current_app

    from flask import has_request_context

    lang = session.get("lang") if has_request_context() else None  # CLI / services: the default
    if lang in current_app.config["LANGUAGES"]:
        return lang
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def create_app(test_config: dict | type | None = None, **overrides) -> Flask:
    """Build the app. ``test_config`` is a config class or dict; ``overrides`` are applied last."""
    import importlib

    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                instance_path=str(Config.INSTANCE_DIR))
    from .json_provider import StrictJSONProvider

    app.json = StrictJSONProvider(app)
    app.config.from_object(Config)
    if isinstance(test_config, type):
        app.config.from_object(test_config)
    elif test_config:
        app.config.update(test_config)
    app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        from .config import instance_secret_key
        app.config["SECRET_KEY"] = instance_secret_key(app.config["INSTANCE_DIR"])
    if app.config.get("PROXY_FIX"):  # behind nginx: client address and scheme from X-Forwarded-* (n proxies)
        from werkzeug.middleware.proxy_fix import ProxyFix
        n = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)

    from .extensions import babel, csrf, db, install_sqlite_pragmas, login_manager, migrate

    install_sqlite_pragmas()

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=str(ROOT / "examsys" / "translations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = None  # our server-side session row is the protection

    from . import models  # noqa: F401  (register tables)
    from .models import User
    from .services import sessions

    @login_manager.user_loader
    def load_user(user_id: str):
        row = sessions.current_session(kind="staff")
        if row is None or str(row.user_id) != str(user_id):
            return None
        user = db.session.get(User, int(user_id))
        return user if user is not None and user.active else None

    for module_name, attr in BLUEPRINTS:
        app.register_blueprint(getattr(importlib.import_module(module_name), attr))

    from .errors import register_error_handlers
    register_error_handlers(app)

    from . import template_helpers
    template_helpers.register(app)

    @app.after_request
    def security_headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if getattr(g, "no_store", False) or request.path.startswith(("/exam", "/api/exam")):
            resp.headers["Cache-Control"] = "no-store"
        return resp

    from .cli import register_commands
    register_commands(app)
    return app
