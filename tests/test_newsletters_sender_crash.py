"""The sender as a separate process: SIGKILL and restart, and two senders side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.newsletters.models import Campaign, Delivery
from tests.fixtures.smtp import SMTPTestServer
from tests.newsletter_sending_helpers import prepared_campaign as _prepare
from tests.newsletter_sending_helpers import sender_process as _sender


def _wait(proc: subprocess.Popen[bytes], timeout: float = 120) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def _statuses(app: Any) -> Counter[str]:
    with app.app_context():
        counts = Counter(dict(db.session.execute(
            sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status)
        ).all()))  # fmt: skip
        status = db.session.scalar(sa.select(Campaign.status))
        db.session.remove()
    counts["campaign:" + str(status)] = 1
    return counts


@pytest.mark.slow
@pytest.mark.parametrize(("kill_after", "connections"), [(3, 1), (17, 1), (11, 3)])
def test_a_sender_killed_with_sigkill_and_restarted_mails_everyone_at_most_one_twice(
    make_database: Any,
    tmp_path: Path,
    smtp_server: SMTPTestServer,
    kill_after: int,
    connections: int,
) -> None:
    """At most one recipient twice per SMTP connection (one message each can be accepted
    and not yet recorded when the process dies)."""
    url, app, emails = _prepare(make_database, tmp_path, 40)
    # Throttled so the kill lands in the middle of the campaign.
    first = _sender(
        url,
        smtp_server,
        tmp_path,
        CRM_NEWSLETTER_RATE="50",
        CRM_NEWSLETTER_CONNECTIONS=str(connections),
    )
    deadline = time.monotonic() + 60
    while len(smtp_server.messages) < kill_after and time.monotonic() < deadline:
        time.sleep(0.002)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    killed_at = len(smtp_server.messages)
    assert kill_after <= killed_at < len(emails), "the kill must land mid-campaign"

    time.sleep(1.2)  # the dead sender's lease (1 s) runs out
    _wait(_sender(url, smtp_server, tmp_path))

    received = Counter(rcpt for m in smtp_server.messages for rcpt in m.rcpt_tos)
    assert set(received) == set(emails), "every recipient is mailed"
    twice = [addr for addr, n in received.items() if n > 1]
    assert len(twice) <= connections, twice
    assert max(received.values()) <= 2
    assert _statuses(app) == Counter({"sent": 40, "campaign:sent": 1})


@pytest.mark.slow
def test_two_senders_on_postgresql_never_send_the_same_row(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    if not os.environ.get("CRM_TEST_DATABASE_URL"):
        pytest.skip("SKIP LOCKED sharing needs PostgreSQL; SQLite serialises senders anyway")
    url, app, emails = _prepare(make_database, tmp_path, 300)
    settings = {"CRM_NEWSLETTER_BATCH": "10", "CRM_NEWSLETTER_LEASE_SECONDS": "300"}
    senders = [_sender(url, smtp_server, tmp_path, **settings) for _ in range(2)]
    outputs = [_wait(proc) for proc in senders]

    received = Counter(rcpt for m in smtp_server.messages for rcpt in m.rcpt_tos)
    assert received == Counter(emails), "each row exactly once"
    # Both really took part (each reports what it sent).
    sent = [int(out.split("sent=")[1].split()[0]) for out in outputs]
    assert sum(sent) == 300
    assert all(n > 0 for n in sent), outputs
    assert _statuses(app) == Counter({"sent": 300, "campaign:sent": 1})


def test_the_sender_on_its_own_connection_records_every_outcome_across_batches(
    make_database: Any, tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    """The production path: a session on an engine of its own, one commit per outcome."""
    from crm.mail import SMTPTransport
    from crm.mail.store import stores_for
    from crm.newsletters.sending import SenderSettings, send_outbox

    url, app, emails = _prepare(make_database, tmp_path, 23)
    smtp_server.script(rcpt=["250 OK"] * 9 + ["550 5.1.1 Mailbox unknown"])
    transport = SMTPTransport(smtp_server.host, smtp_server.port, security="none", timeout=10)
    with app.app_context():
        report = send_outbox(
            db.session,
            transport,
            stores_for(app.config),
            SenderSettings(batch=5, max_consecutive_errors=3),
        )
        rows = db.session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()
        ids = {m.message["Message-ID"]: m.rcpt_tos[0] for m in smtp_server.messages}
        status = db.session.scalar(sa.select(Campaign.status))
        db.session.remove()

    assert (report.sent, report.failed) == (22, 1)
    assert Counter(r.status for r in rows) == {"sent": 22, "failed": 1}
    [failed] = [r for r in rows if r.status == "failed"]
    assert failed.email == emails[9]
    assert failed.smtp_code == 550
    assert "Mailbox unknown" in failed.last_error
    # Every sent row names the message the server received for that very recipient.
    assert {r.message_id: r.email for r in rows if r.status == "sent"} == ids
    assert all(r.sent_at is not None and r.claimed_by == "" for r in rows if r.status == "sent")
    assert status == "sent"
