"""Fault tests of the mail outbox with real relays: slow, down, answering 421 (issue 14).

Each test runs on its own migrated database with real commits (the sender and the web
requests use connections of their own, as in production) and a real aiosmtpd relay.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from crm.extensions import db
from crm.followups import service as followups
from crm.jobs import periodic as jobs
from crm.mail.models import OutgoingMail
from crm.newsletters import service as newsletters
from tests import factories
from tests.conftest import CSRFClient, build_app, login
from tests.fixtures.smtp import SMTPTestServer, _free_port
from tests.mail_helpers import message_of

BERLIN = ZoneInfo("Europe/Berlin")


class SlowRelay:
    """An SMTP relay that takes `delay` seconds to answer each message's DATA."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received: list[list[str]] = []
        self.data_started = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_started.set()
        await asyncio.sleep(self.delay)
        self.received.append(list(envelope.rcpt_tos))
        return "250 2.0.0 OK"


@pytest.fixture
def own_app(make_database, tmp_path):
    """Its own migrated database: the sender thread and the requests commit for real."""
    from flask_migrate import upgrade

    created: list[Any] = []

    def make(**config: Any):
        application = build_app(
            make_database(), str(tmp_path), CRM_BASE_URL="https://crm.example.org", **config
        )
        application.test_client_class = CSRFClient
        with application.app_context():
            upgrade()
        created.append(application)
        return application

    yield make
    for application in created:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def smtp_config(port: int) -> dict[str, Any]:
    return {
        "CRM_MAIL_TRANSPORT": "smtp",
        "CRM_SMTP_HOST": "127.0.0.1",
        "CRM_SMTP_PORT": port,
        "CRM_SMTP_SECURITY": "none",
        "CRM_SMTP_USERNAME": "",
        "CRM_SMTP_TIMEOUT": 60,
    }


def rows(app) -> list[OutgoingMail]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(OutgoingMail).order_by(OutgoingMail.id)))
        db.session.expunge_all()
        db.session.commit()
        return found


def run_sender(app) -> Any:
    """One run of the outbox sender (what the scheduler's send-outbox job runs)."""
    from crm.mail.sender import run_outbox

    return run_outbox(app)


@pytest.mark.skipif(
    bool(os.environ.get("CRM_TEST_DATABASE_URL")),
    reason="the write lock this guards against is SQLite's",
)
def test_a_relay_that_answers_after_20_seconds_does_not_block_users_writing(own_app):
    relay = SlowRelay(delay=20)
    controller = Controller(relay, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        app = own_app(**smtp_config(controller.port))
        with app.app_context():
            staff = factories.make_user(db.session, role="staff")
            yesterday = datetime.now(UTC).astimezone(BERLIN).date() - timedelta(days=1)
            followups.create_followup(
                db.session,
                subject="Jobcenter zurückrufen",
                due_date=yesterday,
                due_time=None,
                assignee=factories.make_user(db.session),
            )
            db.session.commit()
            staff_email = staff.email
        client = app.test_client()
        assert login(client, staff_email).status_code == 302

        # The scheduler: the reminder job, then the sender, on a thread of their own.
        outcome: dict[str, Any] = {}

        def scheduler() -> None:
            try:
                outcome["reminders"] = jobs.send_followup_reminders(app)
                outcome["sent"] = run_sender(app)
            except BaseException as exc:  # reported by the assertions below
                outcome["error"] = exc

        thread = threading.Thread(target=scheduler, daemon=True)
        thread.start()
        # Users write while the relay sits on the message.
        assert relay.data_started.wait(timeout=10), outcome
        durations = []
        for i in range(20):
            started = time.perf_counter()
            response = client.post(
                "/kontakte/organisationen/neu",
                data={"name": f"Betrieb {i} GmbH", "kind": "employer", "owner_id": "0"},
            )
            durations.append(time.perf_counter() - started)
            assert response.status_code == 302, (i, response.status_code)
        assert relay.received == []  # the relay was still busy during all of them
        assert max(durations) < 1.0, durations
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert "error" not in outcome, outcome
        assert outcome["reminders"] == 1
        with app.app_context():
            from crm.contacts.models import Organisation

            assert db.session.scalar(sa.select(sa.func.count(Organisation.id))) == 20
        [row] = rows(app)
        assert row.status == "sent"
        assert len(relay.received) == 1
    finally:
        controller.stop()


def _sign_up(client, slug: str, email: str):
    return client.post(
        f"/newsletter/anmelden/{slug}",
        data={"email": email, "first_name": "Jörg", "consent": "y"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
        csrf=False,
    )


def test_a_sign_up_while_the_relay_is_down_answers_at_once_and_is_delivered_later(own_app):
    server = SMTPTestServer()  # its port is chosen, nothing listens there yet
    app = own_app(**{**smtp_config(server.port), "CRM_SMTP_TIMEOUT": 5})
    with app.app_context():
        newsletters.create_list(
            db.session, name="Newsletter Burg", slug="burg", consent_text="Ja, bitte."
        )
        db.session.commit()
    client = app.test_client()
    started = time.perf_counter()
    response = _sign_up(client, "burg", "neu@example.org")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert 'id="signup-done"' in response.get_data(as_text=True)
    assert elapsed < 1.0
    [row] = rows(app)
    assert (row.kind, row.status, row.recipient) == ("confirmation", "queued", "neu@example.org")

    # The relay is still down: the sender defers the row instead of losing it.
    run_sender(app)
    [row] = rows(app)
    assert row.status == "queued"
    assert row.attempts == 1
    assert row.last_error

    # The relay comes up on that port; once the row is due again, a run delivers it.
    server.start()
    try:
        with app.app_context():
            db.session.execute(sa.update(OutgoingMail).values(next_attempt_at=datetime.now(UTC)))
            db.session.commit()
        run_sender(app)
        [row] = rows(app)
        assert row.status == "sent"
        [received] = server.messages
        assert received.rcpt_tos == ["neu@example.org"]
        assert str(received.message["Message-ID"]) == row.message_id
        assert "/newsletter/bestaetigen/" in message_of(row).get_body(("plain",)).get_content()
    finally:
        server.stop()


def test_a_relay_answering_421_defers_the_confirmation_which_a_later_run_delivers(
    own_app, smtp_server
):
    app = own_app(**smtp_config(smtp_server.port))
    with app.app_context():
        newsletters.create_list(
            db.session, name="Newsletter Burg", slug="burg", consent_text="Ja, bitte."
        )
        db.session.commit()
    smtp_server.script(mail=["421 4.3.2 Service not available, closing channel"])
    response = _sign_up(app.test_client(), "burg", "neu@example.org")
    assert response.status_code == 200
    run_sender(app)
    [row] = rows(app)
    assert (row.status, row.attempts, row.smtp_code) == ("queued", 1, 421)
    assert row.next_attempt_at > datetime.now(UTC)
    assert smtp_server.messages == []
    with app.app_context():
        db.session.execute(sa.update(OutgoingMail).values(next_attempt_at=datetime.now(UTC)))
        db.session.commit()
    run_sender(app)
    [row] = rows(app)
    assert row.status == "sent"
    assert [m.rcpt_tos for m in smtp_server.messages] == [["neu@example.org"]]


def test_an_admin_retries_a_refused_delivery_of_a_finished_campaign_and_the_sender_sends_it(
    own_app, smtp_server
):
    from crm.newsletters.models import Campaign, Delivery
    from tests.newsletter_sending_helpers import started_campaign

    app = own_app(**smtp_config(smtp_server.port))
    with app.app_context():
        campaign, people = started_campaign(db.session, 2)
        campaign_id = campaign.id
        admin_email = factories.make_user(db.session, role="admin").email
        db.session.commit()
    # The relay refuses the first recipient for good; the campaign finishes all the same.
    smtp_server.script(rcpt=["550 5.1.1 Mailbox unavailable"])
    run_sender(app)
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign.status == "sent"
        failed = db.session.scalar(
            sa.select(Delivery).where(
                Delivery.campaign_id == campaign_id, Delivery.status == "failed"
            )
        )
        assert failed.smtp_code == 550
        failed_id, failed_email = failed.id, failed.email
        db.session.remove()
    assert len(smtp_server.messages) == 1

    client = app.test_client()
    assert login(client, admin_email).status_code == 302
    response = client.post(f"/verwaltung/postausgang/kampagnen/{failed_id}/erneut-senden")
    assert response.status_code == 302
    run_sender(app)
    with app.app_context():
        assert db.session.get(Delivery, failed_id).status == "sent"
        assert db.session.get(Campaign, campaign_id).status == "sent"  # finished again
        db.session.remove()
    assert [m.rcpt_tos for m in smtp_server.messages][-1] == [failed_email]
    assert len(smtp_server.messages) == 2  # nobody mailed twice
