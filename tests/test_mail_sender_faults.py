"""The sender with several connections and a misbehaving relay (own database, real aiosmtpd)."""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.mail import SMTPTransport
from crm.mail.sender import SenderSettings, send_parallel
from crm.mail.store import stores_for
from crm.newsletters.models import Campaign, Delivery
from tests.fixtures.smtp import SMTPTestServer
from tests.newsletter_sending_helpers import prepared_campaign, sender_process

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


def test_four_connections_share_400_recipients_and_mail_each_exactly_once(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    _, app, emails = prepared_campaign(make_database, tmp_path, 400)

    report = _run(app, smtp_server, SenderSettings(batch=25), connections=4)

    assert report.sent == 400, report
    assert _received(smtp_server) == Counter(emails)
    assert _statuses(app) == Counter(sent=400)
    assert len(report.finished) == 1
    # All four connections carried mail.
    assert len({m.connection for m in smtp_server.messages}) == 4


def test_the_rate_holds_over_all_connections_together(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    _, app, emails = prepared_campaign(make_database, tmp_path, 80)
    rate = 40.0

    started = time.monotonic()
    report = _run(app, smtp_server, SenderSettings(batch=5, rate=rate), connections=4)
    elapsed = time.monotonic() - started

    assert report.sent == 80
    assert _received(smtp_server) == Counter(emails)
    assert len({m.connection for m in smtp_server.messages}) == 4
    # 80 messages at 40/s over all four connections take at least 2 s (four throttles of
    # 40/s each would take 0.5 s), and no half second saw much more than its share
    # (scheduling jitter on a busy machine bunches a few).
    assert elapsed >= 79 / rate * 0.95
    times = sorted(m.received_at for m in smtp_server.messages)
    window = [sum(1 for t in times if start <= t < start + 0.5) for start in times]
    assert max(window) <= rate * 0.5 + 8, max(window)  # four throttles: about 80


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
    # Rows deferred during the outage go out once due, on the scheduler's next ticks.
    deadline = time.monotonic() + 30
    while _campaign(app)[0] == "sending" and time.monotonic() < deadline:
        time.sleep(0.5)
        assert not _run(app, smtp_server, settings, connections=2).error

    assert _campaign(app)[0] == "sent"
    assert _received(smtp_server) == Counter(emails)


@pytest.mark.slow
def test_a_sender_that_loses_postgresql_mid_send_stops_with_one_line_and_gives_its_rows_back(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    if not os.environ.get("CRM_TEST_DATABASE_URL"):
        pytest.skip("pg_terminate_backend needs PostgreSQL")
    url, app, emails = prepared_campaign(make_database, tmp_path, 120)
    # Throttled, so it is mid-send; a long lease, so only given-back rows can go out again.
    settings = {"CRM_NEWSLETTER_RATE": "40", "CRM_NEWSLETTER_LEASE_SECONDS": "300"}
    first = sender_process(url, smtp_server, tmp_path, **settings)
    deadline = time.monotonic() + 60
    while len(smtp_server.messages) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    # PostgreSQL goes away: every connection is cut and new ones are refused for a moment
    # (a bare pg_terminate_backend the sender survives: the pool reconnects on checkout).
    target = sa.make_url(url)
    name = target.database
    killer = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with killer.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name"
                ),
                {"name": name},
            ).scalar()
            time.sleep(1.5)
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    finally:
        killer.dispose()
    out, _ = first.communicate(timeout=60)
    output = out.decode(errors="replace")

    assert killed >= 1
    assert first.returncode != 0, output
    assert output.count("database connection lost") == 2, output  # the log line and the report
    assert "Traceback" not in output, output
    assert "mail sender stopped: database connection lost" in output
    assert "claimed rows given back" in output
    sent_before = len(smtp_server.messages)
    assert sent_before < len(emails)
    # Nothing is left leased: the next run needs no lease to run out.
    assert _statuses(app)["sending"] == 0

    second = sender_process(url, smtp_server, tmp_path, CRM_NEWSLETTER_LEASE_SECONDS="300")
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out.decode(errors="replace")

    received = _received(smtp_server)
    assert set(received) == set(emails), "no recipient lost"
    assert sum(n - 1 for n in received.values()) <= 2  # at most one per connection twice
    assert _campaign(app)[0] == "sent"


def test_a_slow_relay_never_lets_another_connection_take_rows_still_being_sent(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    from crm.mail.store import Claimed
    from crm.newsletters.sending import CampaignStore

    _, app, emails = prepared_campaign(make_database, tmp_path, 8)
    lease = timedelta(seconds=1)

    class Slow(CampaignStore):
        def message(self, item: Claimed) -> Any:
            time.sleep(0.4)  # a relay that takes its time: a batch outlasts the lease
            return super().message(item)

    with app.app_context():
        try:
            report = send_parallel(
                db.engine,
                lambda: SMTPTransport(smtp_server.host, smtp_server.port, security="none"),
                lambda: [Slow(app.config, lease)],
                SenderSettings(batch=4, lease=lease, connection_backoff=0),
                connections=2,
            )
        finally:
            db.session.remove()

    assert report.sent == 8
    assert _received(smtp_server) == Counter(emails), "nobody mailed twice"
    assert _statuses(app) == Counter(sent=8)


def test_send_outbox_exits_non_zero_while_the_relay_of_a_paused_campaign_is_still_down(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    _, app, _ = prepared_campaign(make_database, tmp_path, 3)
    with app.app_context():
        db.session.execute(sa.update(Campaign).values(status="paused", pause_kind="errors"))
        db.session.commit()
        db.session.remove()
    smtp_server.refuse_for(60, "421 4.3.2 Wartung")
    app.config.update(
        CRM_MAIL_TRANSPORT="smtp",
        CRM_SMTP_HOST=smtp_server.host,
        CRM_SMTP_PORT=smtp_server.port,
        CRM_SMTP_SECURITY="none",
    )
    runner = app.test_cli_runner()

    down = runner.invoke(args=["crm", "send-outbox", "--connections", "1"])
    assert down.exit_code == 1, down.output
    assert "mail relay not available: 421 4.3.2 Wartung" in down.output

    smtp_server.refuse_for(0)
    back = runner.invoke(args=["crm", "send-outbox", "--max-messages", "2", "--connections", "3"])
    assert back.exit_code == 0, back.output
    assert "sent=2 " in back.output
    assert "resumed=[1]" in back.output
