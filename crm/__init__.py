"""netzwerk-crm: the application factory."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, request
from flask_login import current_user
from sqlalchemy.orm import Session

from crm.config import load_config
from crm.extensions import csrf, db, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create and wire the application; `config` overrides settings from the environment."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.environ.get("CRM_INSTANCE_PATH") or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
    )
    configure_settings(app, config)
    configure_inputs(app)
    configure_transactions(app)
    configure_extensions(app)
    configure_security(app)
    configure_assets(app)
    configure_blueprints(app)
    configure_signals()
    configure_templates(app)
    configure_cli(app)
    return app


def configure_settings(app: Flask, config: dict[str, Any] | None) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(load_config(app.instance_path))
    if config:
        app.config.update(config)
    logging.basicConfig(level=logging.INFO if not app.debug else logging.DEBUG)
    # APScheduler logs every run of every job (the outbox every ten seconds), which buries the
    # request log of `make run`; failed jobs still show (ERROR), and crm.jobs logs leadership.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    hops = app.config.get("CRM_PROXY_FIX", 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Only behind a proxy that sets these headers: otherwise clients could fake their
        # address and slip past the login throttle.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )


def configure_inputs(app: Flask) -> None:
    """Bound path, query and form values to what the database can store (before any route)."""
    from crm import inputs

    inputs.init_app(app)


def configure_transactions(app: Flask) -> None:
    """Declare per request whether it writes (first of all hooks: SQLite begins accordingly)."""
    from flask import g

    from crm.database import reset_write_intent, set_write_intent
    from crm.security import request_writes

    @app.before_request
    def declare_write_intent() -> None:
        g._crm_write_token = set_write_intent(request_writes())

    @app.teardown_request
    def clear_write_intent(_exc: BaseException | None) -> None:
        token = g.pop("_crm_write_token", None)
        if token is not None:
            reset_write_intent(token)


def configure_extensions(app: Flask) -> None:
    import crm.models  # noqa: F401 - registers every table
    from crm import i18n, schema
    from crm.audit import service as audit

    db.init_app(app)
    from crm.contacts.search import include_object

    migrate.init_app(
        app,
        db,
        directory=str(ROOT / "migrations"),
        render_as_batch=True,
        include_object=include_object,
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    # Our server-side sessions already bind a login to its cookie; Flask-Login's IP/agent
    # hash would only log people out behind changing proxies.
    login_manager.session_protection = None
    i18n.init_app(app)
    schema.init_app(app)
    audit.install(Session)
    audit.set_actor_provider(_request_actor)


def _request_actor() -> Any:
    from flask import has_request_context

    from crm.audit.service import Actor

    if not has_request_context():
        return None
    ip = request.remote_addr or ""
    if current_user and current_user.is_authenticated:
        return Actor(current_user.id, current_user.email, ip)
    return Actor(None, "anonymous", ip)


def configure_security(app: Flask) -> None:
    from crm import errors
    from crm.security import enforce_permissions, set_security_headers

    app.before_request(enforce_permissions)
    app.after_request(set_security_headers)
    errors.init_app(app)


def configure_assets(app: Flask) -> None:
    """Content-hashed static URLs with a year's caching; compressed text responses."""
    from crm import assets

    assets.init_app(app)


def configure_blueprints(app: Flask) -> None:
    # The registration, follow-through and figures pages add their routes to the events
    # blueprint, the funder report its routes to the dashboard's.
    import crm.dashboard.funder_views  # noqa: F401
    import crm.events.figures_views  # noqa: F401
    import crm.events.followthrough_views  # noqa: F401
    import crm.events.registration_views  # noqa: F401
    from crm.accounts.views import bp as accounts_bp
    from crm.audit.views import bp as audit_bp
    from crm.bulk.views import bp as bulk_bp
    from crm.contacts.views import bp as contacts_bp
    from crm.core.views import bp as core_bp
    from crm.dashboard.views import bp as dashboard_bp
    from crm.esf.views import bp as esf_bp
    from crm.events.views import bp as events_bp
    from crm.followups.views import bp as followups_bp
    from crm.intake.views import bp as intake_bp
    from crm.jobs.views import bp as jobs_bp
    from crm.newsletters.campaign_views import bp as newsletter_campaigns_bp
    from crm.newsletters.views import bp as newsletters_bp
    from crm.offices.views import bp as offices_bp
    from crm.outbox.views import bp as mail_bp
    from crm.participants.views import bp as participants_bp
    from crm.placements.views import bp as placements_bp
    from crm.privacy.retention_views import bp as privacy_retention_bp
    from crm.privacy.views import bp as privacy_bp
    from crm.search.views import bp as search_bp
    from crm.surveys.views import bp as surveys_bp

    blueprints = (
        core_bp,
        accounts_bp,
        offices_bp,
        audit_bp,
        contacts_bp,
        bulk_bp,
        followups_bp,
        intake_bp,
        placements_bp,
        esf_bp,
        participants_bp,
        events_bp,
        jobs_bp,
        mail_bp,
        newsletters_bp,
        newsletter_campaigns_bp,
        search_bp,
        surveys_bp,
    )
    for bp in blueprints:
        app.register_blueprint(bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(privacy_bp)
    app.register_blueprint(privacy_retention_bp)


def configure_signals() -> None:
    """Each domain connects its receivers to the signals of the others (blinker)."""
    from crm import (
        contacts,
        esf,
        events,
        followups,
        intake,
        mail,
        newsletters,
        outbox,
        participants,
        placements,
        privacy,
        surveys,
    )

    domains = (
        contacts,
        esf,
        events,
        followups,
        intake,
        mail,
        newsletters,
        outbox,
        participants,
        placements,
        privacy,
        surveys,
    )
    for domain in domains:
        domain.connect_signals()


def configure_templates(app: Flask) -> None:
    from crm.dashboard.term import project_name
    from crm.navigation import navigation_items
    from crm.security import has_permission

    # Pages for visitors without login name the project they are dealing with.
    app.jinja_env.globals["project_name"] = lambda: project_name(db.session)
    app.jinja_env.globals["navigation_items"] = navigation_items
    app.jinja_env.globals["has_permission"] = has_permission
    app.jinja_env.filters["reject_key"] = lambda d, key: {k: v for k, v in d.items() if k != key}
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True


def configure_cli(app: Flask) -> None:
    from crm.cli import crm_cli

    app.cli.add_command(crm_cli)
