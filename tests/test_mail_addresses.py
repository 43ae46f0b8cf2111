"""An e-mail address the relay cannot deliver is refused where it is typed or imported, in German.

Non-ASCII before the @ (jörg@…) needs SMTPUTF8 at the relay: without CRM_SMTPUTF8 such an
address would be accepted and then never mailed, so forms and imports refuse it instead.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.accounts.models import User
from crm.contacts.models import Person
from crm.newsletters.models import Signup
from tests.factories import make_list
from tests.test_contacts_import import csv_bytes, start, upload_job

REFUSAL = "Umlaute oder andere Sonderzeichen vor dem @"


def _person(last_name: str, email: str) -> dict[str, str]:
    return {
        "salutation": "herr",
        "last_name": last_name,
        "email": email,
        "language": "de",
        "owner_id": "0",
    }


def _person_count(db_session: Any) -> int:
    return db_session.scalar(sa.select(sa.func.count(Person.id)))


def test_the_person_form_refuses_an_umlaut_before_the_at_and_keeps_what_was_typed(
    client_as, db_session
):
    staff = client_as("staff")

    response = staff.post("/kontakte/personen/neu", data=_person("Bäcker", "jörg@example.de"))

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert REFUSAL in html
    assert 'value="jörg@example.de"' in html
    assert 'value="Bäcker"' in html
    assert _person_count(db_session) == 0


def test_an_umlaut_in_the_domain_is_accepted_it_travels_as_punycode(client_as, db_session):
    staff = client_as("staff")

    response = staff.post("/kontakte/personen/neu", data=_person("Müller", "info@müller.de"))

    assert response.status_code == 302
    assert _person_count(db_session) == 1


def test_with_crm_smtputf8_the_person_form_accepts_the_address(
    app, client_as, db_session, monkeypatch
):
    monkeypatch.setitem(app.config, "CRM_SMTPUTF8", True)
    staff = client_as("staff")

    response = staff.post("/kontakte/personen/neu", data=_person("Bäcker", "jörg@example.de"))

    assert response.status_code == 302
    assert db_session.scalar(sa.select(Person.email)) == "jörg@example.de"


def test_the_user_form_refuses_an_umlaut_before_the_at(admin_client, db_session):
    response = admin_client.post(
        "/verwaltung/benutzer/neu",
        data={"email": "jörg@example.org", "display_name": "Jörg", "role": "staff"},
    )

    assert REFUSAL in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(User).where(User.display_name == "Jörg")) is None


def test_the_public_signup_refuses_an_umlaut_before_the_at(client, db_session):
    make_list(db_session, slug="umlaut")
    db_session.commit()

    response = client.post(
        "/newsletter/anmelden/umlaut",
        data={"email": "jörg@example.org", "last_name": "Müller", "consent": "y"},
        csrf=False,
    )

    assert REFUSAL in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count(Signup.id))) == 0


def test_an_import_rejects_the_row_with_the_reason_instead_of_storing_the_address(
    client_as, db_session
):
    staff = client_as("staff")
    data = csv_bytes(
        "Vorname;Nachname;E-Mail", ["Anna;Gut;anna@gut.example", "Jörg;Bäcker;jörg@example.de"]
    )
    job = upload_job(staff, db_session, "umlaut.csv", data)

    start(staff, db_session, job)

    assert (job.counts["create"], job.counts["reject"]) == (1, 1)
    rejected = staff.get(f"/kontakte/import/{job.id}/abgelehnt.csv").get_data().decode("utf-8-sig")
    assert "Sonderzeichen vor dem @" in rejected
    assert db_session.scalar(sa.select(Person).where(Person.last_name == "Bäcker")) is None


def test_a_queued_mail_to_an_umlaut_domain_needs_no_smtputf8(app_ctx):
    from crm.mail import build_message
    from crm.mail.queue import enqueue

    msg = build_message(
        sender="crm@example.org",
        to="info@müller.de",
        subject="Test",
        text="Hallo",
        message_id_domain="example.org",
    )
    row = enqueue(app_ctx, msg, kind="confirmation")

    assert row.recipient == "info@xn--mller-kva.de"
    assert not row.smtputf8
