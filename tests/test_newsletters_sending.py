"""Campaigns and the outbox sender against a real aiosmtpd server."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.database import utcnow
from crm.mail import SMTPTransport
from crm.mail.store import stores_for
from crm.newsletters import campaigns as svc
from crm.newsletters.models import Campaign, Delivery
from crm.newsletters.sending import SenderSettings, _claimable, send_outbox
from tests.fixtures.smtp import SMTPTestServer
from tests.newsletter_sending_helpers import (
    make_campaign,
    make_list,
    make_person,
    make_subscribers,
    started_campaign,
    subscribe,
)

FAST = SenderSettings(backoff_base=timedelta(0), connection_backoff=0, max_consecutive_errors=3)


def _send(
    app: Flask, session: Any, server: SMTPTestServer, settings: SenderSettings = FAST, **kw: Any
) -> Any:
    transport = SMTPTransport(server.host, server.port, security="none", timeout=10)
    return send_outbox(session, transport, stores_for(app.config), settings, **kw)


def _received(server: SMTPTestServer) -> Counter[str]:
    return Counter(rcpt for m in server.messages for rcpt in m.rcpt_tos)


def _rows(session: Any, campaign: Campaign) -> dict[str, Delivery]:
    return {
        d.email: d
        for d in session.scalars(sa.select(Delivery).where(Delivery.campaign_id == campaign.id))
    }


def test_a_campaign_reaches_exactly_the_confirmed_subscribers(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    session = app_ctx
    nl = make_list(session)
    confirmed = make_subscribers(session, nl, 5)
    for status in ("pending", "unsubscribed", "bounced"):
        subscribe(session, nl, make_person(session, f"{status}@example.org"), status=status)
    make_person(session, "nie-gefragt@example.org")  # no subscription at all
    other = make_list(session)
    subscribe(session, other, make_person(session, "andere-liste@example.org"))
    campaign = make_campaign(session, nl)

    assert svc.start_campaign(session, campaign) == 5
    assert svc.start_campaign(session, campaign) == 0  # a second start freezes nothing more
    session.commit()
    report = _send(app, session, smtp_server)

    assert report.sent == 5
    assert _received(smtp_server) == Counter(p.email for p in confirmed)
    session.expire_all()
    assert campaign.status == "sent"
    assert campaign.recipients_total == 5
    rows = _rows(session, campaign)
    assert {d.status for d in rows.values()} == {"sent"}
    for message in smtp_server.messages:
        row = rows[message.rcpt_tos[0]]
        assert row.message_id == message.message["Message-ID"]
        assert row.sent_at is not None
        assert row.smtp_code == 250
    # Umlauts in the subject survive the trip.
    assert "Größe" in str(smtp_server.messages[0].message["Subject"])


def test_a_claim_on_sqlite_walks_the_campaign_index_instead_of_sorting_the_queue(
    app_ctx: Any,
) -> None:
    session = app_ctx
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans the claim with the campaign index and SKIP LOCKED")
    query = _claimable(session, 1, utcnow(), 250)
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    plan = " ".join(r[3] for r in session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))

    assert "ix_newsletter_delivery_campaign_status" in plan
    assert "TEMP B-TREE" not in plan


def test_a_451_is_retried_with_backoff_and_sent_once(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    session = app_ctx
    campaign, people = started_campaign(session, 3)
    smtp_server.script(data=["451 4.7.1 Greylisted, try later"])

    first = _send(
        app,
        session,
        smtp_server,
        SenderSettings(backoff_base=timedelta(minutes=1), connection_backoff=0),
    )
    assert (first.sent, first.deferred) == (2, 1)
    session.expire_all()
    deferred = next(d for d in _rows(session, campaign).values() if d.status == "queued")
    assert deferred.attempts == 1
    assert deferred.last_error.startswith("451")
    assert deferred.next_attempt_at > utcnow() + timedelta(seconds=50)
    assert campaign.status == "sending"

    # Not due yet: nothing happens; once due it goes out exactly once.
    assert _send(app, session, smtp_server).sent == 0
    later = utcnow() + timedelta(minutes=2)
    second = _send(app, session, smtp_server, clock=lambda: later)
    assert second.sent == 1
    assert _received(smtp_server) == Counter(p.email for p in people)
    session.expire_all()
    assert campaign.status == "sent"
    assert deferred.status == "sent"
    assert deferred.attempts == 2


def test_a_row_deferred_behind_the_senders_cursor_goes_out_in_the_same_run(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    session = app_ctx
    campaign, people = started_campaign(session, 4)
    smtp_server.script(data=["451 4.7.1 Greylisted, try later"])

    # One row per claim: the cursor passes the greylisted first row before it is due again.
    report = _send(
        app,
        session,
        smtp_server,
        SenderSettings(backoff_base=timedelta(0), batch=1, connection_backoff=0),
    )

    assert (report.sent, report.deferred) == (4, 1)
    assert report.finished == [campaign.id]
    assert _received(smtp_server) == Counter(p.email for p in people)
    session.expire_all()
    assert sorted(d.attempts for d in _rows(session, campaign).values()) == [1, 1, 1, 2]


def test_a_550_fails_with_the_servers_reason_and_the_rest_continue(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    session = app_ctx
    campaign, _ = started_campaign(session, 4)
    smtp_server.script(rcpt=["250 2.1.5 OK", "550 5.1.1 Mailbox unknown"])

    report = _send(app, session, smtp_server)

    assert (report.sent, report.failed) == (3, 1)
    session.expire_all()
    failed = [d for d in _rows(session, campaign).values() if d.status == "failed"]
    assert len(failed) == 1
    assert failed[0].smtp_code == 550
    assert "Mailbox unknown" in failed[0].last_error
    assert campaign.status == "sent"
    assert svc.progress(session, campaign.id).percent == 100


def test_a_campaign_without_an_accepted_message_for_the_pause_time_pauses_until_resumed(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    session = app_ctx
    campaign, people = started_campaign(session, 6)
    smtp_server.script(mail=["421 4.3.2 System not accepting messages"] * 3)

    report = _send(app, session, smtp_server, replace(FAST, pause_after=timedelta(0)))

    assert report.paused == [campaign.id]
    assert report.sent == 0
    assert report.error
    session.expire_all()
    assert campaign.status == "paused"
    assert campaign.pause_kind == "errors"
    assert "421" in campaign.pause_reason
    assert campaign.failing_since is not None
    assert {d.status for d in _rows(session, campaign).values()} == {"queued"}

    svc.resume(session, campaign)
    session.commit()
    # Two more 421s: within the pause time they only defer, and the run sends everyone.
    assert _send(app, session, smtp_server).sent == 6
    assert _received(smtp_server) == Counter(p.email for p in people)


def test_pause_resume_and_cancel(app: Flask, app_ctx: Any, smtp_server: SMTPTestServer) -> None:
    session = app_ctx
    campaign, _ = started_campaign(session, 10)

    assert _send(app, session, smtp_server, max_messages=3).sent == 3
    svc.pause(session, campaign)
    session.commit()
    assert _send(app, session, smtp_server).sent == 0  # paused: nothing goes out
    svc.resume(session, campaign)
    session.commit()
    assert _send(app, session, smtp_server, max_messages=2).sent == 2
    assert svc.cancel_campaign(session, campaign) == 5
    session.commit()
    assert _send(app, session, smtp_server).sent == 0
    assert len(smtp_server.messages) == 5
    progress = svc.progress(session, campaign.id)
    assert (progress.sent, progress.cancelled, progress.percent) == (5, 5, 100)
    with pytest.raises(svc.CampaignError):
        svc.resume(session, campaign)


def test_a_scheduled_campaign_starts_at_its_time(
    app: Flask, app_ctx: Any, frozen_time: Any
) -> None:
    session = app_ctx
    nl = make_list(session)
    make_subscribers(session, nl, 2)
    campaign = make_campaign(session, nl)
    svc.schedule_campaign(session, campaign, utcnow() + timedelta(hours=1))
    session.commit()

    assert campaign.id not in svc.start_due_campaigns(session)
    frozen_time.shift(timedelta(minutes=59))
    assert campaign.id not in svc.start_due_campaigns(session)
    frozen_time.shift(timedelta(minutes=1))
    assert campaign.id in svc.start_due_campaigns(session)
    session.expire_all()
    assert campaign.status == "sending"
    assert campaign.started_at == utcnow()
    assert svc.progress(session, campaign.id).queued == 2


def test_throttling_spaces_the_messages(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    import time

    session = app_ctx
    campaign, _ = started_campaign(session, 6)
    started = time.monotonic()
    assert _send(app, session, smtp_server, SenderSettings(rate=20)).sent == 6
    # Six messages at 20/s: five gaps of 50 ms.
    assert time.monotonic() - started >= 0.24


def test_a_dead_senders_claimed_rows_are_sent_after_the_lease(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    session = app_ctx
    campaign, people = started_campaign(session, 4)
    # A sender that claimed every row and died: its rows stay 'sending' until the lease ends.
    session.execute(
        sa.update(Delivery)
        .where(Delivery.campaign_id == campaign.id)
        .values(status="sending", claimed_at=utcnow(), claimed_by="dead:1:x")
    )
    session.commit()
    assert _send(app, session, smtp_server).sent == 0
    later = utcnow() + timedelta(minutes=6)
    assert _send(app, session, smtp_server, clock=lambda: later).sent == 4
    assert _received(smtp_server) == Counter(p.email for p in people)


def test_rows_a_sender_holds_when_the_campaign_is_cancelled_end_cancelled(
    app: Flask, app_ctx: Any, smtp_server: SMTPTestServer
) -> None:
    from crm.newsletters.sending import release_claims

    session = app_ctx
    campaign, _ = started_campaign(session, 3)
    session.execute(
        sa.update(Delivery)
        .where(Delivery.campaign_id == campaign.id)
        .values(status="sending", claimed_at=utcnow(), claimed_by="other:1:x")
    )
    session.commit()
    svc.cancel_campaign(session, campaign)
    session.commit()
    assert release_claims(session, "other:1:x") == 3
    assert svc.progress(session, campaign.id).cancelled == 3
    assert _send(app, session, smtp_server).sent == 0
