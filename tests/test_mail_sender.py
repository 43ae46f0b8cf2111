"""The mail sender over both stores: queued outbox rows and campaign deliveries."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from crm.mail import SMTPTransport, build_message
from crm.mail.models import OutgoingMail
from crm.mail.queue import enqueue
from crm.mail.sender import SenderSettings, send_outbox
from crm.mail.store import stores_for
from crm.newsletters.models import Delivery
from crm.newsletters.sending import delivery_message_id
from tests.fixtures.smtp import SMTPTestServer
from tests.newsletter_sending_helpers import started_campaign

FAST = SenderSettings(backoff_base=timedelta(0), connection_backoff=0)


def _send(app: Flask, session: Any, server: SMTPTestServer, **kw: Any) -> Any:
    transport = SMTPTransport(server.host, server.port, security="none", timeout=10)
    return send_outbox(session, transport, stores_for(app.config), kw.pop("settings", FAST), **kw)


def _queue(session: Any, n: int, kind: str = "notice") -> list[OutgoingMail]:
    rows = []
    for i in range(n):
        msg = build_message(
            sender=("netzwerk-crm", "crm@example.org"),
            to=(f"Person {i}", f"person{i}@example.org"),
            subject=f"Hinweis {i}",
            text="Hallo",
            message_id_domain="crm.example.org",
        )
        rows.append(enqueue(session, msg, kind=kind))
    session.commit()
    return rows


def test_queued_outbox_rows_go_out_once_with_their_stored_message_id(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    session = app_ctx
    rows = _queue(session, 3)

    report = _send(app, session, smtp_server)

    assert report.sent == 3
    received = {m.rcpt_tos[0]: m for m in smtp_server.messages}
    assert set(received) == {r.recipient for r in rows}
    session.expire_all()
    for row in rows:
        assert row.status == "sent"
        assert row.sent_at is not None
        assert row.attempts == 1
        assert row.claimed_by == ""
        assert received[row.recipient].message["Message-ID"] == row.message_id
        assert received[row.recipient].mail_from == "crm@example.org"
    assert _send(app, session, smtp_server).sent == 0


def test_one_run_delivers_the_outbox_first_and_then_campaigns(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    session = app_ctx
    campaign, people = started_campaign(session, 3)
    rows = _queue(session, 2, kind="confirmation")

    report = _send(app, session, smtp_server)

    assert report.sent == 5
    assert report.finished == [campaign.id]
    order = [m.rcpt_tos[0] for m in smtp_server.messages]
    assert order[:2] == [r.recipient for r in rows]
    assert Counter(order[2:]) == Counter(p.email for p in people)


def test_a_greylisted_outbox_row_is_deferred_with_the_servers_answer(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    session = app_ctx
    [row] = _queue(session, 1)
    smtp_server.script(rcpt=["451 4.7.1 Greylisted"])

    report = _send(app, session, smtp_server, settings=SenderSettings(connection_backoff=0))

    assert (report.sent, report.deferred) == (0, 1)
    session.expire_all()
    assert row.status == "queued"
    assert row.attempts == 1
    assert row.smtp_code == 451
    assert "Greylisted" in row.last_error


def test_a_campaign_message_carries_the_message_id_derived_from_its_row_on_every_attempt(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    from crm.newsletters.sending import campaign_store

    session = app_ctx
    campaign, _ = started_campaign(session, 2)
    first_id = session.scalar(sa.select(sa.func.min(Delivery.id)))
    # Two senders (e.g. before and after a crash) build the same row's message.
    stores = [campaign_store(app.config), campaign_store(app.config)]
    built = [store.message(store.load(session, [first_id])[0]) for store in stores]
    assert built[0].message_id == built[1].message_id
    assert built[0].message_id.startswith(f"<nl-{campaign.id}-{first_id}.")
    assert built[0].message_id == delivery_message_id(
        app.config["SECRET_KEY"], campaign.id, first_id, built[0].message_id.split("@")[1][:-1]
    )
    assert built[0].message_id != delivery_message_id(
        "another secret", campaign.id, first_id, built[0].message_id.split("@")[1][:-1]
    )

    assert _send(app, session, smtp_server).sent == 2
    received = {m.rcpt_tos[0]: m.message["Message-ID"] for m in smtp_server.messages}
    deliveries = session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()
    assert {d.email: d.message_id for d in deliveries} == received
    assert deliveries[0].message_id == built[0].message_id
