"""The daily digest at 07:00 Europe/Berlin: overdue and today's follow-ups, today's duty."""

from __future__ import annotations

import logging
from datetime import datetime, time

import sqlalchemy as sa
from flask import render_template
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from crm.accounts.models import User
from crm.events.models import DigestSent
from crm.events.series import BERLIN
from crm.events.service import on_duty
from crm.followups.models import FollowUp
from crm.followups.service import boundaries, group_of
from crm.mail import build_message
from crm.mail.queue import enqueue, mail_domain

log = logging.getLogger(__name__)
DIGEST_TIME = time(7, 0)


def digest_for(session: Session, user: User, now: datetime) -> dict:
    """What the digest of `user` at `now` reports: overdue, today, duty (lists)."""
    b = boundaries(now)
    due = session.scalars(
        sa.select(FollowUp)
        .where(
            FollowUp.assignee_id == user.id,
            FollowUp.status == "open",
            FollowUp.due_at < b.tomorrow,
        )
        .options(joinedload(FollowUp.person), joinedload(FollowUp.organisation))
        .order_by(FollowUp.due_at, FollowUp.id)
    )
    overdue: list[FollowUp] = []
    today: list[FollowUp] = []
    for fu in due:
        (overdue if group_of(fu.due_at, fu.has_time, now) == "overdue" else today).append(fu)
    return {
        "overdue": overdue,
        "today": today,
        "duty": on_duty(session, user.id, b.today, b.tomorrow),
    }


def send_daily_digests(
    session: Session,
    now: datetime,
    base_url: str,
    *,
    sender: str = "netzwerk-crm <crm@localhost>",
) -> int:
    """Queue today's digest for every active user with something to report; return the count.

    Not before 07:00 Berlin time. Once per user and day: the (user, day) row and the queued
    message commit in one transaction per user, so a catch-up run or a second scheduler queues
    nothing twice (the primary key refuses the second row) and a crash loses neither half. The
    outbox sender delivers the message; no SMTP server is waited for here.
    """
    local = now.astimezone(BERLIN)
    if local.time() < DIGEST_TIME:
        return 0
    day = local.date()
    done = sa.select(DigestSent.user_id).where(DigestSent.digest_sent_on == day)
    users = list(
        session.scalars(
            sa.select(User)
            .where(User.is_active_flag.is_(True), User.id.not_in(done))
            .order_by(User.id)
        )
    )
    session.commit()
    queued = 0
    base = base_url.rstrip("/")
    domain = mail_domain(sender)
    for user in users:
        content = digest_for(session, user, now)
        if not any(content.values()):
            session.rollback()
            continue
        try:
            with session.begin_nested():
                session.add(DigestSent(user_id=user.id, digest_sent_on=day, sent_at=now))
        except IntegrityError:
            session.rollback()
            continue
        context = {**content, "user": user, "date": local.strftime("%d.%m.%Y"), "base": base}
        try:
            message = build_message(
                sender=sender,
                to=(user.display_name, user.email),
                subject=f"Ihr Tag am {local.strftime('%d.%m.%Y')}: Wiedervorlagen und Termine",
                text=render_template("email/daily_digest.txt", **context),
                html=render_template("email/daily_digest.html", **context),
                extra_headers={"Auto-Submitted": "auto-generated"},
                message_id_domain=domain,
            )
            enqueue(session, message, kind="digest", user_id=user.id)
        except ValueError:
            # Marked as done all the same: an unusable address would fail again every tick.
            log.error("digest for user %s cannot be built", user.id, exc_info=True)
        except BaseException:
            session.rollback()
            raise
        else:
            queued += 1
        session.commit()
    return queued
