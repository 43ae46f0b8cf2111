"""Double opt-in, consent ledger and unsubscribe: the pages, the queued confirmation mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
import pytest
import sqlalchemy as sa
import time_machine

from crm.contacts.models import Person
from crm.newsletters.models import ConsentEvent, SignupAttempt, Subscription
from tests.factories import make_list, make_person
from tests.mail_helpers import QueuedMail
from tests.newsletter_helpers import link_from, use_smtp

SIGNED_UP_AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
EXPIRED_TITLE = "Dieser Link ist abgelaufen"


@pytest.fixture
def mailing(app: Any, db_session: Any, smtp_server: Any, monkeypatch: Any) -> Any:
    """The sign-up mails the pages queue; the app is configured for a real relay, which the
    pages must never talk to (the outbox sender does)."""
    use_smtp(app, smtp_server, monkeypatch)
    yield QueuedMail(db_session, "confirmation")
    assert smtp_server.connection_count == 0


def _ledger(db_session: Any, person_id: int) -> list[tuple[str, str]]:
    rows = db_session.execute(
        sa.select(ConsentEvent.action, ConsentEvent.channel)
        .where(ConsentEvent.person_id == person_id)
        .order_by(ConsentEvent.id)
    )
    return [tuple(r) for r in rows]


def _person(email: str, db_session: Any) -> Person | None:
    return db_session.scalar(sa.select(Person).where(Person.email == email))


def _confirm_path(message: Any) -> str:
    return link_from(message.get_body(("plain",)).get_content(), "/newsletter/bestaetigen/")


def _sign_up(client: Any, slug: str, email: str, **extra: Any) -> Any:
    ip = extra.pop("ip", "198.51.100.7")
    data = {"email": email, "first_name": "Jörg", "last_name": "Müller", "consent": "y", **extra}
    return client.post(
        f"/newsletter/anmelden/{slug}",
        data=data,
        headers={"User-Agent": "Testbrowser/1.0"},
        environ_base={"REMOTE_ADDR": ip},
        csrf=False,
    )


def test_double_opt_in_end_to_end_through_the_queued_confirmation(client, db_session, mailing):
    lst = make_list(db_session, name="Newsletter Haus der Wirtschaft", slug="hdw")
    db_session.commit()

    assert client.get("/newsletter/anmelden/hdw").status_code == 200
    with time_machine.travel(SIGNED_UP_AT, tick=False) as clock:
        response = _sign_up(client, "hdw", "Joerg.Mueller@Example.org")
        assert response.status_code == 200
        assert b'id="signup-done"' in response.data

        assert len(mailing.messages) == 1
        mail = mailing.messages[0].message
        assert mail["To"].addresses[0].addr_spec == "joerg.mueller@example.org"
        assert "Bitte bestätigen" in str(mail["Subject"])
        # No advertising: no unsubscribe headers of a newsletter, no HTML part.
        assert mail["List-Unsubscribe"] is None
        assert mail.get_body(("html",)) is None
        # Until confirmed, the sign-up is no contact and no subscription (finding 6).
        assert _person("joerg.mueller@example.org", db_session) is None
        assert db_session.scalar(sa.select(sa.func.count(Subscription.id))) == 0

        path = _confirm_path(mail)
        clock.shift(timedelta(hours=5))
        page = client.get(path)
        assert page.status_code == 200
        db_session.expire_all()
        assert _person("joerg.mueller@example.org", db_session) is None  # a GET changes nothing
        assert b'id="confirm-form"' in page.data
        response = client.post(path, environ_base={"REMOTE_ADDR": "198.51.100.8"})
        assert response.status_code == 200
        assert b'id="confirm-done"' in response.data

        db_session.expire_all()
        person = _person("joerg.mueller@example.org", db_session)
        assert (person.first_name, person.last_name) == ("Jörg", "Müller")
        sub = db_session.scalar(sa.select(Subscription).where(Subscription.person_id == person.id))
        assert sub.status == "confirmed"
        assert sub.source == "web_form"
        assert sub.requested_at == SIGNED_UP_AT
        assert sub.confirmed_at == SIGNED_UP_AT + timedelta(hours=5)
        assert sub.consent_text.version == 1
        assert sub.consent_text.list_id == lst.id
        events = db_session.scalars(
            sa.select(ConsentEvent)
            .where(ConsentEvent.person_id == person.id)
            .order_by(ConsentEvent.id)
        ).all()
        assert [(e.action, e.channel) for e in events] == [
            ("requested", "web_form"),
            ("confirmed", "confirmation_link"),
        ]
        # The consent proof is the sign-up's own: its time, address, IP, browser and text.
        assert events[0].at == SIGNED_UP_AT
        assert events[0].email == "joerg.mueller@example.org"
        assert events[0].ip == "198.51.100.7"
        assert events[0].user_agent == "Testbrowser/1.0"
        assert events[0].consent_text_id == sub.consent_text_id
        assert events[1].at == SIGNED_UP_AT + timedelta(hours=5)
        assert events[1].ip == "198.51.100.8"

        # Following the link again changes nothing.
        again = client.post(path)
        assert again.status_code == 200
        assert b'id="confirm-done"' in again.data
        assert b'id="confirm-done"' in client.get(path).data
        assert len(_ledger(db_session, person.id)) == 2
        assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 1


def test_a_second_sign_up_of_a_confirmed_address_changes_nothing_and_reveals_nothing(
    client, db_session, mailing
):
    make_list(db_session, slug="zweimal")
    db_session.commit()
    fresh = _sign_up(client, "zweimal", "neu@example.org")
    person = make_person(db_session, email="schon@example.org")
    from crm.newsletters import service

    lst = service.get_list_by_slug(db_session, "zweimal")
    sub = service.record_consent(db_session, person=person, lst=lst, method="paper")
    db_session.commit()
    confirmed_at = sub.confirmed_at

    again = _sign_up(client, "zweimal", "schon@example.org", ip="198.51.100.9")
    assert again.status_code == fresh.status_code == 200
    # Same page, apart from nothing: the response does not depend on the address.
    assert again.data == fresh.data
    db_session.expire_all()
    sub = db_session.get(Subscription, sub.id)
    assert sub.status == "confirmed"
    assert sub.confirmed_at == confirmed_at
    assert _ledger(db_session, person.id) == [("confirmed", "paper"), ("repeated", "web_form")]
    # The address owner gets a notice without a confirmation link; nothing else changed.
    notice = mailing.messages[-1].message
    assert notice["To"].addresses[0].addr_spec == "schon@example.org"
    assert "/newsletter/bestaetigen/" not in notice.get_body(("plain",)).get_content()


def test_the_honeypot_swallows_bots_silently(client, db_session, mailing):
    make_list(db_session, slug="honig")
    db_session.commit()
    response = _sign_up(client, "honig", "bot@example.org", website="http://spam.example")
    assert response.status_code == 200
    assert b'id="signup-done"' in response.data
    assert mailing.messages == []
    assert db_session.scalar(sa.select(Person).where(Person.email == "bot@example.org")) is None


def test_sign_ups_are_rate_limited_per_ip_address(app, client, db_session, mailing, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_NEWSLETTER_SIGNUP_MAX_PER_IP", 3)
    make_list(db_session, slug="limit")
    db_session.commit()
    codes = [
        _sign_up(client, "limit", f"p{i}@example.org", ip="203.0.113.5").status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    refused = _sign_up(client, "limit", "p9@example.org", ip="203.0.113.5")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert "Zu viele Anmeldungen" in page
    # Nothing typed is lost: the form comes back filled in, ready to send again later.
    assert 'id="signup-form"' in page
    assert 'value="p9@example.org"' in page
    # Another address is not affected.
    assert _sign_up(client, "limit", "other@example.org", ip="203.0.113.6").status_code == 200
    assert len(mailing.messages) == 4
    assert (
        db_session.scalar(sa.select(sa.func.count()).where(SignupAttempt.ip == "203.0.113.5")) == 3
    )


def test_a_sign_up_sent_back_with_typing_errors_does_not_count_toward_the_limit(
    app, client, db_session, mailing, monkeypatch
):
    monkeypatch.setitem(app.config, "CRM_NEWSLETTER_SIGNUP_MAX_PER_IP", 2)
    make_list(db_session, slug="tippfehler")
    db_session.commit()
    for _ in range(4):
        assert _sign_up(client, "tippfehler", "kein-at-zeichen").status_code == 200
    codes = [_sign_up(client, "tippfehler", f"p{i}@example.org").status_code for i in range(3)]
    assert codes == [200, 200, 429]
    assert len(mailing.messages) == 2


def test_a_tampered_or_expired_confirmation_link_is_refused(client, db_session, mailing, app):
    make_list(db_session, slug="falsch")
    db_session.commit()
    _sign_up(client, "falsch", "x@example.org")
    path = link_from(
        mailing.messages[0].message.get_body(("plain",)).get_content(), "/newsletter/bestaetigen/"
    )
    at = path.rindex(".") + 1  # the signature's first character: all its bits count
    tampered = path[:at] + ("A" if path[at] != "A" else "B") + path[at + 1 :]
    assert client.get(tampered).status_code == 400
    assert client.post(tampered).status_code == 400
    with time_machine.travel(timedelta(hours=49)):
        late = client.get(path)
        assert late.status_code == 200
        assert EXPIRED_TITLE in late.get_data(as_text=True)
        assert b'id="confirm-form"' not in late.data
        # The page leads back to the list's sign-up form instead of a dead end.
        assert (
            'href="/newsletter/anmelden/falsch" id="public-message-link">Erneut anmelden<'
            in late.get_data(as_text=True)
        )


def test_a_superseded_confirmation_link_leads_to_the_sign_up_form_unless_the_list_closed_it(
    client, db_session, mailing
):
    lst = make_list(db_session, slug="zweimal")
    db_session.commit()
    _sign_up(client, "zweimal", "x@example.org")
    _sign_up(client, "zweimal", "x@example.org")
    first, second = (
        link_from(m.message.get_body(("plain",)).get_content(), "/newsletter/bestaetigen/")
        for m in mailing.messages[:2]
    )
    old = client.get(first).get_data(as_text=True)
    assert EXPIRED_TITLE in old
    assert 'href="/newsletter/anmelden/zweimal" id="public-message-link"' in old
    assert 'id="confirm-form"' in client.get(second).get_data(as_text=True)
    lst.public_signup = False
    db_session.commit()
    assert 'id="public-message-link"' not in client.get(first).get_data(as_text=True)


def test_unsubscribe_post_from_a_mail_client_works_without_session_or_csrf(
    app, client, db_session, mailing
):
    from crm.newsletters import service

    lst = make_list(db_session, slug="abmelden")
    person = make_person(db_session)
    service.record_consent(db_session, person=person, lst=lst, method="existing_business_contact")
    db_session.commit()
    settings = service.MailSettings.from_config(app.config)
    url = service.unsubscribe_url(settings, person, lst.id)
    path = url.removeprefix("https://crm.example.org")

    # A mail client: a bare POST, no cookies, no CSRF token (RFC 8058).
    fresh = app.test_client()
    response = fresh.post(path, data={"List-Unsubscribe": "One-Click"}, csrf=False)
    assert response.status_code == 200
    assert b'id="unsubscribe-done"' in response.data
    db_session.expire_all()
    sub = db_session.scalar(sa.select(Subscription).where(Subscription.person_id == person.id))
    assert sub.status == "unsubscribed"
    assert sub.unsubscribed_at is not None
    # Idempotent: again, and through the confirmation page's button, no second entry.
    assert fresh.post(path, data={"List-Unsubscribe": "One-Click"}, csrf=False).status_code == 200
    assert client.get(path).status_code == 200
    assert client.post(path, csrf=False).status_code == 200
    assert _ledger(db_session, person.id) == [
        ("confirmed", "existing_business_contact"),
        ("withdrawn", "one_click"),
    ]


def test_a_tampered_unsubscribe_token_is_refused(app, client, db_session):
    from crm.newsletters import service

    lst = make_list(db_session)
    person = make_person(db_session)
    service.record_consent(db_session, person=person, lst=lst, method="paper")
    db_session.commit()
    settings = service.MailSettings.from_config(app.config)
    token = service.unsubscribe_token(settings, person, lst.id)
    # Another person's id under the same signature, a flipped character, a guess from the address.
    forged = service.URLSafeSerializer("wrong-key", salt=service.UNSUBSCRIBE_SALT).dumps(
        [person.id, lst.id]
    )
    # Flip the signature's FIRST character: all six bits of it count, whereas the last one
    # carries padding bits, so changing it sometimes decoded to the very same signature.
    at = token.rindex(".") + 1
    flipped = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
    for bad in (forged, flipped, person.email):
        response = client.post(
            f"/newsletter/abmelden/{bad}", data={"List-Unsubscribe": "One-Click"}, csrf=False
        )
        assert response.status_code == 400
        assert "Ungültiger Link".encode() in response.data or b"public-message" in response.data
        assert client.get(f"/newsletter/abmelden/{bad}").status_code == 400
    db_session.expire_all()
    sub = db_session.scalar(sa.select(Subscription).where(Subscription.person_id == person.id))
    assert sub.status == "confirmed"


def test_an_old_confirmation_link_does_not_resubscribe_after_unsubscribing(
    app, client, db_session, mailing
):
    from crm.newsletters import service

    make_list(db_session, slug="alt")
    db_session.commit()
    _sign_up(client, "alt", "alt@example.org")
    path = link_from(
        mailing.messages[0].message.get_body(("plain",)).get_content(), "/newsletter/bestaetigen/"
    )
    client.post(path)
    person = db_session.scalar(sa.select(Person).where(Person.email == "alt@example.org"))
    lst = service.get_list_by_slug(db_session, "alt")
    service.unsubscribe(db_session, person.id, lst.id, channel="unsubscribe_link")
    db_session.commit()
    old = client.post(path)
    assert old.status_code == 200
    assert EXPIRED_TITLE in old.get_data(as_text=True)
    db_session.expire_all()
    sub = db_session.scalar(sa.select(Subscription).where(Subscription.person_id == person.id))
    assert sub.status == "unsubscribed"


def test_the_consent_ledger_refuses_updates(db_session):
    from crm.newsletters import service

    lst = make_list(db_session)
    person = make_person(db_session)
    service.record_consent(db_session, person=person, lst=lst, method="paper")
    db_session.flush()
    with pytest.raises(sa.exc.DatabaseError), db_session.begin_nested():
        db_session.execute(sa.update(ConsentEvent).values(action="withdrawn"))


# --- finding 6: an unconfirmed sign-up stays outside the contacts --------------------------------


def test_an_unconfirmed_sign_up_shows_in_no_contact_list_search_export_or_count(
    client, client_as, db_session, mailing
):
    from crm.newsletters import service
    from crm.newsletters.models import Audience

    lst = make_list(db_session, slug="unsichtbar")
    known = make_person(db_session, first_name="Bekannt", last_name="Kontakt")
    service.record_consent(db_session, person=known, lst=lst, method="paper")
    db_session.add(Audience(name="Alle Abonnierenden", list_id=lst.id, kind="subscribers"))
    db_session.commit()
    response = _sign_up(
        client,
        "unsichtbar",
        "wunibald.zwiebelfisch@example.org",
        first_name="Wunibald",
        last_name="Zwiebelfisch",
    )
    assert b'id="signup-done"' in response.data
    assert len(mailing.messages) == 1  # the sign-up itself happened

    admin = client_as("admin")
    pages = [
        "/",
        "/kontakte/personen",
        "/kontakte/personen/export.csv",
        "/kontakte/personen/export.csv?q=Zwiebelfisch",
        "/auswertung/",
        "/newsletter/",
        f"/newsletter/listen/{lst.id}",
        f"/newsletter/listen/{lst.id}?status=pending",
    ]
    for url in pages:
        page = admin.get(url)
        assert page.status_code == 200, url
        text = page.get_data(as_text=True).lower()
        assert "zwiebelfisch" not in text, url
        assert "wunibald" not in text, url
    assert "1 Person<" in admin.get("/kontakte/personen").get_data(as_text=True)
    # The search echoes its query, so here the hit count speaks.
    for query in ("Zwiebelfisch", "wunibald.zwiebelfisch%40example.org"):
        found = admin.get(f"/kontakte/personen?q={query}").get_data(as_text=True)
        assert "0 Personen" in found, query
    overview = admin.get("/newsletter/").get_data(as_text=True)
    assert 'data-status="pending">0<' in overview
    assert 'data-status="confirmed">1<' in overview
    count = admin.get(f"/newsletter/zielgruppen/anzahl?kind=subscribers&list_id={lst.id}")
    assert 'data-count="1"' in count.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 1
    assert db_session.scalar(sa.select(sa.func.count(Subscription.id))) == 1
    assert _ledger(db_session, known.id) == [("confirmed", "paper")]


def test_confirming_a_sign_up_of_a_known_address_subscribes_that_person_without_a_new_contact(
    client, db_session, mailing
):
    make_list(db_session, slug="bekannt")
    person = make_person(
        db_session, first_name="Erika", last_name="Bekannt", email="erika@example.org"
    )
    db_session.commit()
    _sign_up(client, "bekannt", "Erika@Example.org", first_name="E.", last_name="Anders")
    assert b'id="confirm-done"' in client.post(_confirm_path(mailing.messages[0].message)).data
    db_session.expire_all()
    people = db_session.scalars(sa.select(Person).where(Person.email == "erika@example.org")).all()
    assert [p.id for p in people] == [person.id]
    assert (people[0].first_name, people[0].last_name) == ("Erika", "Bekannt")
    sub = db_session.scalar(sa.select(Subscription).where(Subscription.person_id == person.id))
    assert (sub.status, sub.source) == ("confirmed", "web_form")
    assert _ledger(db_session, person.id) == [
        ("requested", "web_form"),
        ("confirmed", "confirmation_link"),
    ]


def test_the_nightly_purge_deletes_sign_ups_older_than_the_confirmation_window_idempotently(
    db_session,
):
    from crm.newsletters import service
    from crm.newsletters.models import Signup

    lst = make_list(db_session)
    now = datetime(2026, 11, 20, 2, 20, tzinfo=UTC)
    window = timedelta(hours=48)
    for address, age in (("alt@example.org", 49), ("frisch@example.org", 47)):
        service.request_subscription(db_session, lst, email=address, now=now - timedelta(hours=age))
    db_session.flush()

    assert service.purge_signups(db_session, now=now, window=window) == 1
    assert service.purge_signups(db_session, now=now, window=window) == 0
    assert db_session.scalars(sa.select(Signup.email)).all() == ["frisch@example.org"]
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 0


# --- finding 7: every sign-up has its own link ---------------------------------------------------


def _assert_expired(response: Any) -> None:
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert EXPIRED_TITLE in text
    assert 'id="confirm-form"' not in text
    assert 'id="confirm-done"' not in text


def test_an_earlier_confirmation_link_has_expired_once_the_address_signs_up_again(
    client, db_session, mailing
):
    make_list(db_session, slug="nochmal")
    db_session.commit()
    _sign_up(client, "nochmal", "zweimal@example.org")
    first = _confirm_path(mailing.messages[0].message)
    _sign_up(client, "nochmal", "zweimal@example.org")
    second = _confirm_path(mailing.messages[1].message)
    assert first != second

    _assert_expired(client.get(first))
    _assert_expired(client.post(first))
    db_session.expire_all()
    assert _person("zweimal@example.org", db_session) is None  # nothing confirmed
    assert db_session.scalar(sa.select(sa.func.count(Subscription.id))) == 0

    assert b'id="confirm-done"' in client.post(second).data
    db_session.expire_all()
    person = _person("zweimal@example.org", db_session)
    assert _ledger(db_session, person.id) == [
        ("requested", "web_form"),
        ("confirmed", "confirmation_link"),
    ]


def test_after_unsubscribing_and_signing_up_again_only_the_new_link_confirms(
    app, client, db_session, mailing
):
    from crm.newsletters import service

    lst = make_list(db_session, slug="wieder")
    db_session.commit()
    _sign_up(client, "wieder", "wieder@example.org")
    old = _confirm_path(mailing.messages[0].message)
    assert b'id="confirm-done"' in client.post(old).data
    person = _person("wieder@example.org", db_session)
    service.unsubscribe(db_session, person.id, lst.id, channel="unsubscribe_link")
    db_session.commit()
    _sign_up(client, "wieder", "wieder@example.org")
    new = _confirm_path(mailing.messages[1].message)

    _assert_expired(client.get(old))
    _assert_expired(client.post(old))
    db_session.expire_all()
    sub = db_session.scalar(sa.select(Subscription).where(Subscription.person_id == person.id))
    assert sub.status == "unsubscribed"
    assert _ledger(db_session, person.id)[-1] == ("withdrawn", "unsubscribe_link")

    assert b'id="confirm-done"' in client.post(new).data
    db_session.expire_all()
    sub = db_session.scalar(sa.select(Subscription).where(Subscription.person_id == person.id))
    assert sub.status == "confirmed"
    assert sub.unsubscribed_at is None
    assert _ledger(db_session, person.id) == [
        ("requested", "web_form"),
        ("confirmed", "confirmation_link"),
        ("withdrawn", "unsubscribe_link"),
        ("requested", "web_form"),
        ("confirmed", "confirmation_link"),
    ]
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 1


# --- finding 10: RFC 3834 ------------------------------------------------------------------------


def test_the_double_opt_in_mail_is_auto_generated_not_an_auto_reply(client, db_session, mailing):
    from crm.newsletters import service

    lst = make_list(db_session, slug="rfc3834")
    person = make_person(db_session, email="schon@example.org")
    service.record_consent(db_session, person=person, lst=lst, method="paper")
    db_session.commit()
    _sign_up(client, "rfc3834", "neu@example.org")
    _sign_up(client, "rfc3834", "schon@example.org")  # the notice to a confirmed address
    assert len(mailing.messages) == 2
    for delivered in mailing.messages:
        assert delivered.message.get_all("Auto-Submitted") == ["auto-generated"]


def test_a_sign_up_racing_another_of_the_same_address_renews_the_one_row(db_session):
    from crm.newsletters import service
    from crm.newsletters.models import Signup

    lst = make_list(db_session)
    first = service.request_subscription(db_session, lst, email="parallel@example.org").signup
    # What the losing request of two simultaneous sign-ups meets: the row exists already.
    assert service._add_signup(db_session, lst.id, "parallel@example.org") is first
    second = service.request_subscription(db_session, lst, email="parallel@example.org").signup
    assert second is first
    assert db_session.scalar(sa.select(sa.func.count(Signup.id))) == 1


def test_the_sign_up_mails_name_a_list_called_newsletter_without_saying_it_twice(
    client, db_session, mailing
):
    from crm.newsletters import service

    lst = make_list(db_session, slug="hdw", name="Newsletter Haus der Wirtschaft")
    person = make_person(db_session, email="schon@example.org")
    service.record_consent(db_session, person=person, lst=lst, method="paper")
    db_session.commit()
    _sign_up(client, "hdw", "neu@example.org")
    _sign_up(client, "hdw", "schon@example.org")
    confirm, notice = (m.message.get_body(("plain",)).get_content() for m in mailing.messages)
    assert "für „Newsletter Haus der Wirtschaft“ angemeldet" in confirm
    assert "für „Newsletter Haus der Wirtschaft“ angemeldet" in notice
    assert "Newsletter „Newsletter" not in confirm + notice


def test_after_signing_up_the_page_says_how_long_the_link_works_and_where_else_to_look(
    client, db_session, mailing
):
    make_list(db_session, slug="danach")
    db_session.commit()
    page = _sign_up(client, "danach", "lea@example.org").get_data(as_text=True)
    assert "Der Link in der E-Mail gilt 48 Stunden." in page
    assert "Spam-Ordner" in page


def test_who_unsubscribed_by_mistake_finds_the_way_back_to_the_sign_up(
    app, client, db_session, mailing
):
    from crm.newsletters import service

    lst = make_list(db_session, slug="zurueck")
    person = make_person(db_session)
    service.record_consent(db_session, person=person, lst=lst, method="existing_business_contact")
    db_session.commit()
    settings = service.MailSettings.from_config(app.config)
    path = service.unsubscribe_url(settings, person, lst.id).removeprefix("https://crm.example.org")
    done = client.post(path, csrf=False).get_data(as_text=True)
    root = lxml.html.fromstring(done)
    assert root.get_element_by_id("signup-again-link").get("href") == "/newsletter/anmelden/zurueck"
    # A list without a public sign-up offers no such link.
    lst = db_session.merge(lst)
    lst.public_signup = False
    db_session.commit()
    assert 'id="signup-again-link"' not in client.post(path, csrf=False).get_data(as_text=True)
