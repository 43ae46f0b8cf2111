"""`flask crm ...` commands: create-user, seed-demo, check-schema, run-jobs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.accounts.models import Office, User


def test_create_user_reads_the_password_from_stdin_and_hashes_it(app, db_session):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "crm",
            "create-user",
            "--email",
            "Neu@Example.org",
            "--name",
            "Nora Neu",
            "--role",
            "lead",
            "--password-stdin",
        ],
        input="Elbe-Ufer-Radweg-2026\n",
    )
    assert result.exit_code == 0, result.output
    user = db_session.scalar(sa.select(User).where(User.email == "neu@example.org"))
    assert user.role == "lead"
    assert user.password_hash.startswith("$argon2id$")


def test_create_user_refuses_a_common_password(app, db_session):
    result = app.test_cli_runner().invoke(
        args=[
            "crm",
            "create-user",
            "--email",
            "x@example.org",
            "--name",
            "X",
            "--role",
            "staff",
            "--password-stdin",
        ],
        input="password1234\n",
    )
    assert result.exit_code != 0
    assert db_session.scalar(sa.select(User).where(User.email == "x@example.org")) is None


def test_seed_demo_creates_users_for_every_role_and_the_branch_offices(app_ctx):
    from crm import demo

    db_session = app_ctx
    counts = demo.seed(db_session)
    roles = set(db_session.scalars(sa.select(User.role)))
    assert roles == {"admin", "lead", "counsellor", "staff", "readonly"}
    offices = set(db_session.scalars(sa.select(Office.name)))
    assert {"Magdeburg", "Aschersleben", "Burg", "Genthin", "Schönebeck"} <= offices
    assert counts["users"] == len(demo.DEMO_USERS)


def test_seed_demo_is_refused_in_production(app, db_session):
    app.config["CRM_ENV"] = "production"
    try:
        result = app.test_cli_runner().invoke(args=["crm", "seed-demo"])
    finally:
        app.config["CRM_ENV"] = "testing"
    assert result.exit_code != 0
    assert "production" in result.output


def test_check_schema_passes_on_a_migrated_database(app):
    result = app.test_cli_runner().invoke(args=["crm", "check-schema"])
    assert result.exit_code == 0
    assert "aktuell" in result.output


def _dev_app(monkeypatch, tmp_path, base_url):
    from flask import Flask

    from crm.config import load_config

    monkeypatch.setenv("CRM_ENV", "development")
    if base_url is None:
        monkeypatch.delenv("CRM_BASE_URL", raising=False)
    else:
        monkeypatch.setenv("CRM_BASE_URL", base_url)
    app = Flask(__name__)
    app.config.update(load_config(str(tmp_path)))
    return app


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:5123"),
        ("0.0.0.0", "http://127.0.0.1:5123"),  # noqa: S104 - the address `HOST=0.0.0.0` gives
        ("crm.local", "http://crm.local:5123"),
        ("::1", "http://[::1]:5123"),
    ],
)
def test_without_crm_base_url_links_in_mails_follow_the_served_port(
    monkeypatch, tmp_path, host, expected
):
    from crm.cli import use_served_address
    from crm.newsletters.service import MailSettings

    app = _dev_app(monkeypatch, tmp_path, None)
    use_served_address(app, host, 5123)

    assert app.config["CRM_BASE_URL"] == expected
    assert MailSettings.from_config(app.config).base_url == expected


def test_a_configured_crm_base_url_wins_over_the_served_port(monkeypatch, tmp_path):
    from crm.cli import use_served_address

    app = _dev_app(monkeypatch, tmp_path, "https://crm.example.org")
    use_served_address(app, "127.0.0.1", 5123)

    assert app.config["CRM_BASE_URL"] == "https://crm.example.org"


def test_the_readme_documents_port():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert "`PORT`" in readme
    assert "PORT=5001 make run" in readme


def test_serve_banner_on_an_empty_install_shows_how_to_create_the_first_admin_not_demo_logins(
    app, db_session
):
    from crm.cli import login_hints

    lines = "\n".join(login_hints(app))

    assert "crm create-user" in lines
    assert "--role admin" in lines
    assert "Demo" not in lines
    assert "demo.netzwerk-crm.de" not in lines


def test_serve_banner_lists_the_demo_logins_only_where_seed_demo_created_them(app, app_ctx):
    from crm import demo
    from crm.accounts.service import create_user
    from crm.cli import login_hints

    db_session = app_ctx
    create_user(
        db_session,
        email="leitung@buero.example.org",
        display_name="Lena Leitung",
        password="Elbe-Ufer-Radweg-2026",
        role="lead",
    )
    db_session.flush()
    assert login_hints(app) == []

    demo.seed(db_session)
    db_session.flush()
    lines = "\n".join(login_hints(app))
    assert demo.DEMO_PASSWORD in lines
    assert all(email in lines for email, *_rest in demo.DEMO_USERS)
    assert "create-user" not in lines
