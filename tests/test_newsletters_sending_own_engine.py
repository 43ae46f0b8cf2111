"""The sender with an engine of its own, as in production.

The other in-process sending tests run in the tests' rolled-back transaction; these use a
database of their own, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.mail import RawMessage, SMTPTransport
from crm.mail.store import Claimed, DeliveryStore, stores_for
from crm.newsletters.models import Campaign, Delivery
from crm.newsletters.sending import CampaignStore, SenderSettings, send_outbox
from tests.fixtures.smtp import SMTPTestServer
from tests.newsletter_sending_helpers import prepared_campaign


def _send(
    app: Any,
    server: SMTPTestServer,
    settings: SenderSettings,
    stores: list[DeliveryStore] | None = None,
    **kw: Any,
) -> Any:
    transport = SMTPTransport(server.host, server.port, security="none", timeout=10)
    with app.app_context():
        try:
            return send_outbox(
                db.session, transport, stores or stores_for(app.config), settings, **kw
            )
        finally:
            db.session.remove()


def _statuses(app: Any) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(sa.select(Delivery.status, Delivery.claimed_by)).all()
        db.session.remove()
    assert all(claimed_by == "" for status, claimed_by in rows if status != "sending")
    return Counter(status for status, _ in rows)


def test_a_campaign_in_small_batches_reaches_everyone_exactly_once(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    _, app, emails = prepared_campaign(make_database, tmp_path, 11)

    report = _send(app, smtp_server, SenderSettings(batch=3))

    assert report.sent == 11
    assert len(report.finished) == 1
    assert Counter(r for m in smtp_server.messages for r in m.rcpt_tos) == Counter(emails)
    assert _statuses(app) == Counter(sent=11)


def test_a_sender_that_stops_early_leaves_no_row_claimed(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    _, app, emails = prepared_campaign(make_database, tmp_path, 11)

    first = _send(app, smtp_server, SenderSettings(batch=3), max_messages=4)

    assert first.sent == 4
    assert _statuses(app) == Counter(sent=4, queued=7)
    rest = _send(app, smtp_server, SenderSettings(batch=3))
    assert rest.sent == 7
    assert Counter(r for m in smtp_server.messages for r in m.rcpt_tos) == Counter(emails)


def test_a_campaign_paused_mid_batch_stops_after_that_batch(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    url, app, _ = prepared_campaign(make_database, tmp_path, 11)
    other = sa.create_engine(url)

    class Pausing(CampaignStore):
        built = 0

        def message(self, item: Claimed) -> RawMessage:
            Pausing.built += 1
            if Pausing.built == 2:  # while the first batch is being sent
                with other.begin() as conn:
                    conn.execute(sa.update(Campaign).values(status="paused"))
            return super().message(item)

    try:
        store = Pausing(app.config, SenderSettings().lease)
        report = _send(app, smtp_server, SenderSettings(batch=3), stores=[store])
    finally:
        other.dispose()

    assert report.sent == 3
    assert _statuses(app) == Counter(sent=3, queued=8)


def test_permanent_refusals_in_a_row_pause_the_campaign_for_staff_and_give_back_its_batch(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    _, app, _ = prepared_campaign(make_database, tmp_path, 11)
    smtp_server.script(data=["550 5.1.1 Unbekannt", "550 5.1.1 Unbekannt"])

    report = _send(
        app, smtp_server, SenderSettings(batch=4, max_consecutive_errors=2, connection_backoff=0)
    )

    assert (report.sent, report.failed, len(report.paused)) == (0, 2, 1)
    assert _statuses(app) == Counter(failed=2, queued=9)  # none left 'sending'
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert (campaign.status, campaign.pause_kind) == ("paused", "refused")
        db.session.remove()
    # A relay that answers does not cure permanent refusals: the next run leaves it paused.
    again = _send(app, smtp_server, SenderSettings(batch=4, connection_backoff=0))
    assert (again.resumed, again.sent) == ([], 0)
    assert _statuses(app) == Counter(failed=2, queued=9)
