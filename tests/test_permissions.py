"""Each role gets exactly what it should: a table of routes × roles."""

from __future__ import annotations

import pytest

from crm.security import ROLE_PERMISSIONS, declared_permission

ROLES = ("admin", "lead", "counsellor", "staff", "readonly")

# route -> roles that may open it (GET). Everyone else logged in gets 403.
ROUTE_TABLE = {
    "/": set(ROLES),
    "/konto/passwort": set(ROLES),
    "/verwaltung": {"admin", "lead"},
    "/verwaltung/protokoll/": {"admin", "lead"},
    "/verwaltung/benutzer": {"admin"},
    "/verwaltung/benutzer/neu": {"admin"},
    "/verwaltung/postausgang": {"admin"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", sorted(ROUTE_TABLE))
def test_role_gets_exactly_the_routes_in_the_table(client_as, role, path):
    response = client_as(role).get(path)
    expected = 200 if role in ROUTE_TABLE[path] else 403
    assert response.status_code == expected, f"{role} {path}"


@pytest.mark.parametrize("path", sorted(ROUTE_TABLE))
def test_anonymous_visitors_are_sent_to_the_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/anmelden?next=")


def test_every_endpoint_declares_a_permission(app):
    undeclared = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if declared_permission(app, rule.endpoint) is None
    ]
    assert not undeclared, f"endpoints without @require/@public/@authenticated: {undeclared}"


def test_an_endpoint_without_declaration_is_denied(app, client_as):
    def sneaky():
        return "should never be served"

    app.view_functions["core.sneaky"] = sneaky
    app.url_map.add(app.url_rule_class("/__sneaky", endpoint="core.sneaky"))
    assert client_as("admin").get("/__sneaky").status_code == 403


def test_public_endpoints_are_only_login_language_health_and_static(app):
    public = sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if declared_permission(app, rule.endpoint) == "public"
        and not rule.endpoint.startswith("core.healthz_boom")
    )
    # core.favicon: the static icon at the root, where browsers look for it without a link.
    # events.feed: the iCal feed, authenticated by its secret (hashed, revocable) token.
    # Newsletter pages for the public: sign-up, double opt-in confirmation, unsubscribe
    # (GET page and one-click POST) and the web version; each is authorised by a signed token
    # or is a sign-up form with honeypot and rate limit.
    # intake.public_form: the inquiry form, with honeypot, rate limit and a signed form token.
    # events.register: an event's registration page, protected the same way;
    # events.registration_cancel: the personal cancel page, named by a signed token, which
    # cancels only by a POST with the session's CSRF token.
    # privacy.public_notice: the privacy notice every public page links (the admins' texts,
    # nothing about any person).
    # surveys.answer: a firm's survey answer page, named by a signed token whose hash is
    # stored, posting with the session's CSRF token, a honeypot and a rate limit.
    # esf.followup_answer: a former participant's short survey six months after the exit,
    # protected the same way, answered once within the link's validity.
    # accounts.forgot_password: asks for an address and answers the same for every one
    # (counted like failed logins); accounts.reset_password: named by a signed token bound to
    # the current password hash, valid for an hour.
    newsletter = [
        "newsletters.confirm",
        "newsletters.confirm_post",
        "newsletters.signup",
        "newsletters.unsubscribe",
        "newsletters.unsubscribe_post",
        "newsletters.webversion",
    ]
    assert public == sorted(
        [
            "accounts.forgot_password",
            "accounts.login",
            "accounts.reset_password",
            "accounts.set_language",
            "core.favicon",
            "core.healthz",
            "esf.followup_answer",
            "events.feed",
            "events.register",
            "events.registration_cancel",
            "intake.public_form",
            "privacy.public_notice",
            "static",
            "surveys.answer",
            *newsletter,
        ]
    )


def test_only_admins_manage_users_and_only_counselling_roles_see_participants():
    holders = {
        perm: {r.value for r, perms in ROLE_PERMISSIONS.items() if perm in perms}
        for perm in ("admin.users", "participants.view", "participants.export", "contacts.import")
    }
    assert holders["admin.users"] == {"admin"}
    assert holders["participants.view"] == {"admin", "lead", "counsellor"}
    # Exporting a selection of participants is for reporting, not for counselling.
    assert holders["participants.export"] == {"admin", "lead"}
    assert "readonly" not in holders["contacts.import"]


@pytest.mark.parametrize("role", ["lead", "counsellor", "staff", "readonly"])
def test_non_admins_cannot_change_users_by_post(client_as, db_session, role):
    from tests import factories

    victim = factories.make_user(db_session, role="staff")
    db_session.commit()
    c = client_as(role)
    assert c.post(f"/verwaltung/benutzer/{victim.id}/aktiv").status_code == 403
    assert c.post(f"/verwaltung/benutzer/{victim.id}/passwort").status_code == 403
    db_session.refresh(victim)
    assert victim.is_active
