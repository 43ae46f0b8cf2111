"""The mail outbox and data protection: erasure, the Art. 15 report, retention."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import lxml.html
import sqlalchemy as sa

from crm.contacts.service import save_person
from crm.database import utcnow
from crm.mail.models import OutgoingMail
from crm.mail.queue import enqueue
from crm.privacy import retention
from crm.privacy import service as privacy


def rows_of(session, ids) -> list[tuple]:
    table = OutgoingMail.__table__
    return [tuple(r) for r in session.execute(sa.select(table).where(table.c.id.in_(ids)))]


def queue(session, to: str, body: str, *, kind="confirmation", person_id=None, **state):
    msg = EmailMessage()
    msg["From"] = "Netzwerk <crm@example.org>"
    msg["To"] = to
    msg["Subject"] = state.pop("subject", "Ihre Anmeldung")
    msg.set_content(body)
    row = enqueue(session, msg, kind=kind, person_id=person_id)
    for key, value in state.items():
        setattr(row, key, value)
    session.flush()
    return row


def test_erasing_a_person_removes_her_messages_and_empties_colleagues_copies_naming_her(
    app_ctx,
):
    s = app_ctx
    her = save_person(
        s, {"first_name": "Greta", "last_name": "Quist", "email": "greta.quist@example.org"}
    )
    other = save_person(s, {"first_name": "Olaf", "last_name": "Anders", "email": "o@example.org"})
    s.flush()
    by_id = queue(s, "greta.quist@example.org", "Bitte bestätigen", person_id=her.id)
    by_address = queue(s, "Greta.Quist@example.org", "Sie sind angemeldet", status="failed")
    waiting_reminder = queue(
        s, "kollegin@example.org", "Kontakt: Greta Quist", kind="reminder", subject="Anrufen"
    )
    sent_digest = queue(
        s,
        "kollege@example.org",
        "Heute: Rückruf Greta Quist",
        kind="digest",
        status="sent",
        sent_at=utcnow(),
    )
    unrelated = [
        queue(s, "o@example.org", "Hallo Herr Anders", person_id=other.id),
        # A surname alone is no reason to touch a colleague's mail.
        queue(s, "kollegin@example.org", "Frau Quist von der Kammer", kind="reminder"),
    ]
    s.commit()
    keep = {r.id for r in unrelated}
    gone = {by_id.id, by_address.id}
    emptied = {waiting_reminder.id: "cancelled", sent_digest.id: "sent"}
    before = rows_of(s, keep)

    privacy.erase_person(s, her)
    s.commit()

    left = {r.id: r for r in s.scalars(sa.select(OutgoingMail))}
    assert not gone & set(left)
    for row_id, status in emptied.items():
        row = left[row_id]
        assert (row.message, row.subject, row.status) == (b"", "", status)
    assert rows_of(s, keep) == before


def test_the_access_report_lists_the_messages_sent_to_her(client_as, db_session):
    her = save_person(
        db_session, {"first_name": "Greta", "last_name": "Quist", "email": "greta@example.org"}
    )
    db_session.flush()
    queue(db_session, "greta@example.org", "Bitte bestätigen", subject="Bitte bestätigen Sie")
    queue(
        db_session,
        "greta@example.org",
        "Sie sind angemeldet",
        person_id=her.id,
        subject="Ihre Anmeldung",
        status="sent",
        sent_at=utcnow(),
    )
    queue(db_session, "someone@example.org", "Nicht ihre", subject="Fremd")
    db_session.commit()
    response = client_as("admin").get(f"/datenschutz/auskunft/bericht?r=person:{her.id}")
    assert response.status_code == 200
    root = lxml.html.fromstring(response.get_data(as_text=True))
    [section] = [
        el for el in root.find_class("report-section") if el.get("id") == "data-mail_outbox"
    ]
    text = section.text_content()
    assert "Weitere E-Mails an Sie" in text
    assert "Anmeldebestätigung: Bitte bestätigen Sie" in text
    assert "Anmeldebestätigung: Ihre Anmeldung" in text
    assert "Gesendet" in text
    assert "Wartend" in text
    assert "Fremd" not in text
    assert len(section.find_class("report-entry")) == 2


def test_retention_drops_the_text_of_old_sent_messages_and_then_the_finished_rows(app, app_ctx):
    s = app_ctx
    now = utcnow()
    old = now - timedelta(days=100)
    middle = now - timedelta(days=30)
    rows = {
        "old_sent": queue(s, "a@example.org", "x", status="sent", sent_at=old, updated_at=old),
        "old_failed": queue(s, "b@example.org", "x", status="failed", updated_at=old),
        "old_queued": queue(s, "c@example.org", "x", updated_at=old),
        "middle_sent": queue(
            s, "d@example.org", "x", status="sent", sent_at=middle, updated_at=middle
        ),
        "middle_failed": queue(s, "e@example.org", "x", status="failed", updated_at=middle),
        "new_sent": queue(s, "f@example.org", "x", status="sent", sent_at=now),
    }
    s.flush()
    # updated_at is set on every flush; put the ages back as a week-old database would have them.
    for row, at in ((rows["old_sent"], old), (rows["old_failed"], old), (rows["old_queued"], old)):
        s.execute(sa.update(OutgoingMail).where(OutgoingMail.id == row.id).values(updated_at=at))
    for row in (rows["middle_sent"], rows["middle_failed"]):
        s.execute(
            sa.update(OutgoingMail).where(OutgoingMail.id == row.id).values(updated_at=middle)
        )
    s.commit()
    ids = {name: row.id for name, row in rows.items()}
    done = retention.run(s, app.config, now)
    assert done["outbox_rows"] == 2  # the old sent and the old failed one
    # Sent ones older than 14 days (the default); the oldest also goes whole right after.
    assert done["outbox_messages"] == 2
    s.expire_all()
    left = {r.id: r for r in s.scalars(sa.select(OutgoingMail))}
    assert ids["old_sent"] not in left
    assert ids["old_failed"] not in left
    assert left[ids["old_queued"]].message  # work still to do stays whole
    assert left[ids["middle_sent"]].message == b""
    assert left[ids["middle_sent"]].message_id  # the row itself stays
    assert left[ids["middle_failed"]].message  # a failed one keeps its text for a retry
    assert left[ids["new_sent"]].message
    # Idempotent.
    again = retention.run(s, app.config, now)
    assert (again["outbox_rows"], again["outbox_messages"]) == (0, 0)
