"""The sender with several connections and a misbehaving relay (own database, real aiosmtpd)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.mail import SMTPTransport
from crm.mail.sender import SenderSettings, send_parallel
from crm.mail.store import stores_for
from crm.newsletters.models import Campaign, Delivery
from tests.fixtures.smtp import SMTPTestServer
from tests.newsletter_sending_helpers import prepared_campaign

# Short waits so a relay "restart" of a few seconds plays out in a test.
QUICK = SenderSettings(
    batch=20,
    backoff_base=timedelta(seconds=0.3),
    backoff_max=timedelta(seconds=2),
    connection_backoff=0.2,
    connection_backoff_max=1.0,
    max_attempts=50,
)


def _run(app: Any, server: SMTPTestServer, settings: SenderSettings, **kw: Any) -> Any:
    with app.app_context():
        try:
            return send_parallel(
                db.engine,
                lambda: SMTPTransport(server.host, server.port, security="none", timeout=10),
                lambda: stores_for(app.config),
                settings,
                **kw,
            )
        finally:
            db.session.remove()


def _campaign(app: Any) -> tuple[str, str, str]:
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        state = (campaign.status, campaign.pause_kind, campaign.pause_reason)
        db.session.remove()
    return state


def _statuses(app: Any) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(sa.select(Delivery.status, Delivery.claimed_by)).all()
        db.session.remove()
    assert all(claimed_by == "" for status, claimed_by in rows if status != "sending")
    return Counter(status for status, _ in rows)


def _received(server: SMTPTestServer) -> Counter[str]:
    return Counter(rcpt for m in server.messages for rcpt in m.rcpt_tos)


def test_four_connections_mail_400_recipients_exactly_once_under_one_global_rate(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    _, app, emails = prepared_campaign(make_database, tmp_path, 400)
    rate = 200.0

    started = time.monotonic()
    report = _run(app, smtp_server, SenderSettings(batch=25, rate=rate), connections=4)
    elapsed = time.monotonic() - started

    assert report.sent == 400, report
    assert _received(smtp_server) == Counter(emails)
    assert _statuses(app) == Counter(sent=400)
    assert len(report.finished) == 1
    # All four connections carried mail ...
    assert len({m.connection for m in smtp_server.messages}) == 4
    # ... and together kept to the one rate: 400 messages at 200/s take at least 2 s, and
    # no half second saw more than its share (plus a little scheduling jitter).
    assert elapsed >= 399 / rate * 0.95
    times = sorted(m.received_at for m in smtp_server.messages)
    window = [sum(1 for t in times if start <= t < start + 0.5) for start in times]
    assert max(window) <= rate * 0.5 + 8, max(window)


def test_a_relay_restarting_for_3_seconds_neither_pauses_the_campaign_nor_mails_anyone_twice(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    _, app, emails = prepared_campaign(make_database, tmp_path, 300)
    smtp_server.refuse_for(3.0)

    reports = []
    deadline = time.monotonic() + 60
    while _campaign(app)[0] == "sending" and time.monotonic() < deadline:
        reports.append(_run(app, smtp_server, QUICK, connections=2))
        time.sleep(0.2)  # the scheduler's next tick

    assert _campaign(app)[0] == "sent"
    assert not any(r.paused or r.error for r in reports), reports
    assert sum(r.deferred for r in reports) >= 2  # the 421s really happened
    assert _received(smtp_server) == Counter(emails)
    assert _statuses(app) == Counter(sent=300)


def test_a_relay_down_longer_than_the_pause_time_pauses_the_campaign_until_it_answers_again(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    _, app, emails = prepared_campaign(make_database, tmp_path, 60)
    smtp_server.refuse_for(600, "421 4.3.2 Wartung")
    settings = SenderSettings(**{**QUICK.__dict__, "pause_after": timedelta(seconds=1.5)})

    started = time.monotonic()
    report = _run(app, smtp_server, settings, connections=2)

    assert time.monotonic() - started >= 1.5
    assert report.error
    assert report.sent == 0
    assert len(report.paused) == 1
    status, kind, reason = _campaign(app)
    assert (status, kind) == ("paused", "errors")
    assert "421 4.3.2 Wartung" in reason
    assert _statuses(app) == Counter(queued=60)

    # Still down: a later run's test connection fails, the campaign stays paused.
    again = _run(app, smtp_server, settings, connections=2)
    assert again.error
    assert (again.resumed, again.sent) == ([], 0)
    assert _campaign(app)[0] == "paused"

    smtp_server.refuse_for(0)
    back = _run(app, smtp_server, settings, connections=2)

    assert back.resumed == report.paused
    assert not back.error
    assert _campaign(app)[0] == "sent"
    assert _received(smtp_server) == Counter(emails)
