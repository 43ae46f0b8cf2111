"""Security baseline: one regression test (at least) per bullet of the foundation issue."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.accounts.models import LoginAttempt
from crm.config import ConfigError, load_config
from crm.security import CSP, is_safe_next
from tests import factories
from tests.conftest import login

# --- CSRF on every state-changing request ----------------------------------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/anmelden", {"email": "a@example.org", "password": "x"}),
        ("/abmelden", {}),
        ("/sprache", {"locale": "en"}),
        ("/konto/passwort", {"current": "x", "new": "y", "confirm": "y"}),
        ("/verwaltung/benutzer/neu", {"email": "x@example.org", "display_name": "X"}),
    ],
)
def test_a_post_without_csrf_token_is_refused(admin_client, path, data):
    response = admin_client.post(path, data=data, csrf=False)
    assert response.status_code == 400


def test_a_post_with_a_forged_csrf_token_is_refused(admin_client, db_session):
    user = factories.make_user(db_session, role="staff")
    db_session.commit()
    response = admin_client.post(
        f"/verwaltung/benutzer/{user.id}/aktiv", data={"csrf_token": "forged"}, csrf=False
    )
    assert response.status_code == 400
    db_session.refresh(user)
    assert user.is_active


def test_every_route_that_changes_state_refuses_get(app):
    """Routes that accept POST either also render a form on GET or refuse GET (405)."""
    post_only = {
        "accounts.logout",
        "accounts.set_language",
        "accounts.user_toggle_active",
        "accounts.user_reset_password",
    }
    for rule in app.url_map.iter_rules():
        if rule.endpoint in post_only:
            assert "GET" not in rule.methods, rule


# --- cookies ------------------------------------------------------------------------------


def _set_cookie_header(response) -> str:
    return "; ".join(h for h in response.headers.getlist("Set-Cookie") if "session" in h)


def test_session_cookie_is_httponly_and_samesite_lax(client, db_session):
    user = factories.make_user(db_session)
    db_session.commit()
    header = _set_cookie_header(login(client, user.email))
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header


def test_cookies_are_secure_and_host_prefixed_outside_development(monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 64)
    monkeypatch.delenv("CRM_SECURE_COOKIES", raising=False)
    cfg = load_config(str(tmp_path))
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert cfg["CRM_HSTS"] is True


def test_cookies_are_not_secure_in_development(monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_ENV", "development")
    monkeypatch.delenv("CRM_SECURE_COOKIES", raising=False)
    assert load_config(str(tmp_path))["SESSION_COOKIE_SECURE"] is False


# --- SECRET_KEY ---------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["", "change-me"])
def test_production_refuses_to_start_without_a_real_secret_key(monkeypatch, tmp_path, secret):
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(str(tmp_path))


def test_development_keeps_one_random_key_per_instance_folder(monkeypatch, tmp_path):
    # Every process of `make run` must sign alike, or the links in mails of the demo outbox
    # (unsubscribe, event cancellation, survey) stop working after a restart.
    monkeypatch.setenv("CRM_ENV", "development")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    instance = tmp_path / "instance"
    a = load_config(str(instance))["SECRET_KEY"]
    b = load_config(str(instance))["SECRET_KEY"]
    other = load_config(str(tmp_path / "elsewhere"))["SECRET_KEY"]
    assert a == b
    assert a != other
    assert len(a) >= 64
    assert (instance / "secret_key").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in instance.iterdir()) == ["secret_key"]


def test_tests_get_a_random_key_per_process_that_is_never_a_fixed_value(monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_ENV", "testing")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    a = load_config(str(tmp_path))["SECRET_KEY"]
    b = load_config(str(tmp_path))["SECRET_KEY"]
    assert a != b
    assert len(a) >= 64
    assert not (tmp_path / "secret_key").exists()


# --- headers ------------------------------------------------------------------------------


def test_pages_send_a_csp_without_inline_script_and_hardening_headers(client):
    response = client.get("/anmelden")
    csp = response.headers["Content-Security-Policy"]
    assert csp == CSP
    assert "unsafe-inline" not in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_no_template_contains_inline_script_or_event_handlers():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "templates"
    offenders = []
    for path in root.rglob("*.html"):
        text = path.read_text("utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text):
            offenders.append(f"{path}: inline <script>")
        if re.search(r"\son[a-z]+\s*=", text):
            offenders.append(f"{path}: inline event handler")
    assert not offenders


def test_pages_with_personal_data_are_not_cached(admin_client):
    assert admin_client.get("/verwaltung/benutzer").headers["Cache-Control"] == "no-store"


# --- login rate limiting --------------------------------------------------------------------


def test_too_many_failures_for_one_account_block_it_even_with_the_right_password(
    client, db_session
):
    user = factories.make_user(db_session)
    db_session.commit()
    for _ in range(5):
        assert login(client, user.email, "falsch-falsch-falsch").status_code == 200
    response = login(client, user.email)
    assert response.status_code == 429
    assert client.get("/").status_code == 302


def test_failures_from_one_address_block_it_across_many_accounts(app, client, db_session):
    for i in range(20):
        login(client, f"angreifer{i}@example.org", "falsch-falsch-falsch")
    user = factories.make_user(db_session)
    db_session.commit()
    assert login(client, user.email).status_code == 429
    # Another address is not affected.
    other = app.test_client()
    response = other.post(
        "/anmelden",
        data={"email": user.email, "password": factories.PASSWORD},
        environ_base={"REMOTE_ADDR": "10.9.8.7"},
    )
    assert response.status_code == 302


def test_the_throttle_is_counted_in_the_database_so_all_workers_share_it(app, client, db_session):
    user = factories.make_user(db_session)
    db_session.commit()
    # Failures recorded by "another worker" are just rows: this worker sees them.
    for _ in range(5):
        db_session.add(LoginAttempt(account_key=user.email, ip="192.0.2.1", success=False))
    db_session.commit()
    assert login(client, user.email).status_code == 429


def test_old_failures_outside_the_window_do_not_count(client, db_session):
    from crm.database import utcnow

    user = factories.make_user(db_session)
    old = utcnow() - timedelta(minutes=16)
    for _ in range(10):
        db_session.add(LoginAttempt(at=old, account_key=user.email, ip="127.0.0.1", success=False))
    db_session.commit()
    assert login(client, user.email).status_code == 302


# --- next parameter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "http:evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "evil.example",
        "",
    ],
)
def test_unsafe_next_targets_are_refused(target):
    assert not is_safe_next(target)


@pytest.mark.parametrize("target", ["/", "/verwaltung", "/kontakte?seite=2&q=M%C3%BCller"])
def test_local_next_targets_are_accepted(target):
    assert is_safe_next(target)


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil.example"])
def test_login_never_redirects_off_site(client, db_session, target):
    user = factories.make_user(db_session)
    db_session.commit()
    response = client.post(
        "/anmelden", data={"email": user.email, "password": factories.PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_follows_a_local_next(client, db_session):
    user = factories.make_user(db_session, role="admin")
    db_session.commit()
    response = client.post(
        "/anmelden",
        data={"email": user.email, "password": factories.PASSWORD, "next": "/verwaltung"},
    )
    assert response.headers["Location"] == "/verwaltung"


# --- error pages ------------------------------------------------------------------------------


def test_404_page_is_german_and_plain(client):
    response = client.get("/gibt-es-nicht")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.get_data(as_text=True)


def test_403_page_is_german(client_as):
    response = client_as("readonly").get("/verwaltung/benutzer")
    assert response.status_code == 403
    assert "Zugriff verweigert" in response.get_data(as_text=True)


def test_500_page_leaks_no_internals(app, db_session):
    from crm.security import public

    @public
    def boom():
        raise RuntimeError("geheimer-stacktrace-inhalt /etc/passwd")

    app.view_functions["core.healthz_boom"] = boom
    app.url_map.add(app.url_rule_class("/__boom", endpoint="core.healthz_boom"))
    try:
        app.testing = False
        app.config["PROPAGATE_EXCEPTIONS"] = False
        response = app.test_client().get("/__boom")
    finally:
        app.testing = True
        app.config["PROPAGATE_EXCEPTIONS"] = None
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "geheimer" not in body
    assert "Traceback" not in body
    assert "RuntimeError" not in body


# --- uploads ------------------------------------------------------------------------------


def test_uploads_larger_than_the_limit_are_refused_with_413(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = (
        b'--b\r\nContent-Disposition: form-data; name="f"; filename="x.csv"\r\n\r\nx\r\n--b--\r\n'
    )
    # The declared length is what the server checks before reading the body.
    response = client.post(
        "/anmelden",
        data=body,
        content_type="multipart/form-data; boundary=b",
        environ_overrides={"CONTENT_LENGTH": str(limit + 1)},
        csrf=False,
    )
    assert response.status_code == 413
    assert "MB" in response.get_data(as_text=True)


# --- sessions: covered in test_accounts.py (logout, password change, deactivation). ---------


def test_session_expires_after_idle_time(app, client, db_session, frozen_time):
    user = factories.make_user(db_session)
    db_session.commit()
    login(client, user.email)
    assert client.get("/").status_code == 200
    frozen_time.shift(timedelta(minutes=app.config["CRM_SESSION_IDLE_MINUTES"] + 1))
    assert client.get("/").status_code == 302


def test_only_a_hash_of_the_session_token_is_stored(client, db_session):
    from crm.accounts.models import LoginSession

    user = factories.make_user(db_session)
    db_session.commit()
    login(client, user.email)
    stored = db_session.scalars(
        sa.select(LoginSession.token_hash).where(LoginSession.user_id == user.id)
    ).all()
    assert len(stored) == 1
    assert len(stored[0]) == 64


def test_an_active_user_stays_logged_in_beyond_the_idle_time(app, client, db_session, frozen_time):
    user = factories.make_user(db_session)
    db_session.commit()
    login(client, user.email)
    half = timedelta(minutes=app.config["CRM_SESSION_IDLE_MINUTES"] * 0.6)
    frozen_time.shift(half)
    assert client.get("/").status_code == 200
    frozen_time.shift(half)
    assert client.get("/").status_code == 200


def test_sessions_end_after_the_absolute_lifetime_even_when_active(
    app, client, db_session, frozen_time
):
    user = factories.make_user(db_session)
    db_session.commit()
    login(client, user.email)
    step = timedelta(hours=1)
    for _ in range(app.config["CRM_SESSION_MAX_HOURS"]):
        frozen_time.shift(step)
        client.get("/")
    frozen_time.shift(step)
    assert client.get("/").status_code == 302


def test_parallel_wrong_passwords_record_no_more_failures_than_the_limit(make_database, tmp_path):
    """Twelve workers guessing at once: the count and the check are one atomic step."""
    import threading

    from flask_migrate import upgrade
    from sqlalchemy.orm import Session

    from crm.accounts.service import ThrottlePolicy, authenticate
    from crm.extensions import db
    from tests.conftest import build_app

    # Its own database: the workers' commits must be real, not the tests' savepoints.
    app = build_app(make_database(), str(tmp_path))
    with app.app_context():
        upgrade()
        email = factories.make_user(db.session).email
        db.session.commit()
        db.session.remove()
    policy = ThrottlePolicy(max_failures_account=5, max_failures_ip=1000)
    barrier = threading.Barrier(12)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def guess() -> None:
        try:
            with app.app_context(), Session(db.engine) as session:
                barrier.wait()
                result = authenticate(session, email, "wrong", ip="192.0.2.9", policy=policy)
                session.commit()
                outcomes.append(result.outcome)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    with app.app_context():
        failures = db.session.scalar(
            sa.select(sa.func.count(LoginAttempt.id)).where(
                LoginAttempt.account_key == email, LoginAttempt.success.is_(False)
            )
        )
        db.session.remove()
    assert failures == 5
    assert sorted(outcomes) == ["invalid"] * 5 + ["throttled"] * 7
