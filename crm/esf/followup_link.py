"""The short survey six months after the exit: a personal link mailed to the former
participant (by the daily job or the counsellor's button), and her answer, which records the
longer-term result or, if it names neither, an entry in the contact log for the counsellor.

Every mail is an outbox row written in the same transaction as the link row that says it was
sent, so a second run, a second scheduler or a double click queues nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from crm import public_forms
from crm.esf import service
from crm.esf.models import LINK_ANSWERS, EsfFollowupAttempt, EsfFollowupLink, EsfRecord
from crm.mail.message import build_message
from crm.mail.queue import enqueue, mail_domain
from crm.participants import service as participants
from crm.participants.models import Participant

log = logging.getLogger(__name__)

LINK_SALT = "esf-followup-link"
BERLIN = ZoneInfo("Europe/Berlin")
# Answers are taken this long after the link was sent (CRM_ESF_LINK_VALID_DAYS overrides).
LINK_VALID_DAYS = 60
# The daily job mails those whose six-month date lies at most this far back: a job that was
# down for a while catches up, but switching the feature on does not mail every exit of past
# years (the counsellor's follow-up has long been due for those).
CATCH_UP_DAYS = 60
# Stored as data in the office's language, like the follow-ups' subjects.
CONTACT_NOTE = (
    "Kurzumfrage beantwortet (6 Monate nach Austritt): erwerbstätig: %(employed)s; "
    "Situation verbessert: %(improved)s"
)
ANSWER_WORDS = {"yes": "ja", "no": "nein", "unknown": "keine Angabe"}


class LinkError(ValueError):
    """A send or an answer the rules refuse; `reason` says which (the views word it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkMail:
    """Where the mail comes from, how its link and text are made."""

    sender: str
    secret: str
    # link(token, language) -> the absolute URL of the answer page
    link: Callable[[str, str], str]
    # render(participant, link, language, valid_until) -> (subject, text)
    render: Callable[[Participant, str, str, date], tuple[str, str]]
    valid_days: int = LINK_VALID_DAYS


def token_hash(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(secret: str, participant_id: int) -> str:
    # A fresh nonce each time: sending again gives a new link and the old one stops working.
    nonce = secrets.token_urlsafe(16)
    return str(URLSafeSerializer(secret, salt=LINK_SALT).dumps([participant_id, nonce]))


def link_of(session: Session, participant: Participant) -> EsfFollowupLink | None:
    """The participant's short-survey link, if one was sent."""
    return session.scalar(
        sa.select(EsfFollowupLink).where(EsfFollowupLink.participant_id == participant.id)
    )


def link_for_token(session: Session, secret: str, token: str) -> EsfFollowupLink | None:
    """The link a token names, or None for a forged, altered or replaced one."""
    try:
        payload = URLSafeSerializer(secret, salt=LINK_SALT).loads(token)
    except BadSignature:
        return None
    if not isinstance(payload, list) or len(payload) != 2 or not isinstance(payload[0], int):
        return None
    link = session.scalar(
        sa.select(EsfFollowupLink).where(EsfFollowupLink.token_hash == token_hash(token))
    )
    if link is None or link.participant_id != payload[0]:
        return None
    return link


def valid_until(link: EsfFollowupLink, valid_days: int) -> datetime:
    """The moment after which the link takes no answers."""
    return link.sent_at + timedelta(days=valid_days)


def is_expired(link: EsfFollowupLink, now: datetime, valid_days: int) -> bool:
    """True once the link's validity has passed."""
    return now > valid_until(link, valid_days)


def language_of(session: Session, participant: Participant) -> str:
    """The participant's language for mail: English if the inquiry she came through asked to
    be answered in English, else German (the participant record has no language of its own)."""
    from crm.intake.models import Inquiry

    wanted = session.scalar(
        sa.select(Inquiry.preferred_language)
        .where(Inquiry.participant_id == participant.id)
        .order_by(Inquiry.id.desc())
        .limit(1)
    )
    return "en" if wanted == "en" else "de"


def refusal(session: Session, participant: Participant) -> str:
    """Why no link may be sent now ("" if one may): no exit, no address, a result recorded,
    already answered, erased."""
    if participant.erased_at is not None:
        return "erased"
    if participant.exit_on is None:
        return "no_exit"
    if not (participant.email or "").strip():
        return "no_email"
    rec = service.record_of(session, participant)
    if rec is not None and rec.long_result:
        return "has_result"
    link = link_of(session, participant)
    if link is not None and link.answered_at is not None:
        return "answered"
    return ""


def send_link(
    session: Session,
    participant: Participant,
    mail: LinkMail,
    *,
    now: datetime,
    language: str | None = None,
) -> EsfFollowupLink:
    """Queue the personal link to the former participant (again: with a new token, the old
    link stops working) and mark when it was sent, in the caller's transaction.

    Raises LinkError with the reason from `refusal`, or "bad_address" when the outbox refuses
    the address.
    """
    reason = refusal(session, participant)
    if reason:
        raise LinkError(reason)
    lang = language if language in ("de", "en") else language_of(session, participant)
    token = _new_token(mail.secret, participant.id)
    link = link_of(session, participant)
    if link is None:
        link = EsfFollowupLink(participant_id=participant.id)
        session.add(link)
    link.token_hash = token_hash(token)
    link.language = lang
    link.sent_at = now
    until = (now + timedelta(days=mail.valid_days)).astimezone(BERLIN).date()
    subject, text = mail.render(participant, mail.link(token, lang), lang, until)
    try:
        message = build_message(
            sender=mail.sender,
            to=(participant.full_name, participant.email.strip()),
            subject=subject,
            text=text,
            extra_headers={"Auto-Submitted": "auto-generated"},
            message_id_domain=mail_domain(mail.sender),
        )
        enqueue(session, message, kind="notice")
    except ValueError as exc:
        raise LinkError("bad_address") from exc
    session.flush()
    return link


def due_participants(
    session: Session, *, today: date, batch: int, skip: set[int] | None = None
) -> tuple[list[Participant], list[int]]:
    """Former participants whose six-month date has come (within the catch-up window), with an
    address, not erased, without a result and without a link yet; and the ids of every row read
    (the caller passes them as `skip` for the next batch)."""
    # Candidates by the exit date with a margin either side (a month is not a fixed number of
    # days); the exact six-month date is checked below.
    latest_exit = today - relativedelta(months=service.FOLLOWUP_MONTHS) + timedelta(days=3)
    earliest_exit = latest_exit - timedelta(days=CATCH_UP_DAYS + 6)
    rec = EsfRecord
    stmt = (
        sa.select(Participant)
        .outerjoin(rec, rec.participant_id == Participant.id)
        .outerjoin(EsfFollowupLink, EsfFollowupLink.participant_id == Participant.id)
        .where(
            Participant.exit_on.between(earliest_exit, latest_exit),
            Participant.erased_at.is_(None),
            Participant.email != "",
            sa.or_(rec.id.is_(None), rec.long_result == ""),
            EsfFollowupLink.id.is_(None),
        )
        .order_by(Participant.id)
        .limit(batch)
        .with_for_update(skip_locked=True, of=Participant)
    )
    if skip:
        stmt = stmt.where(Participant.id.not_in(sorted(skip)))
    rows = session.scalars(stmt).all()
    first_day = today - timedelta(days=CATCH_UP_DAYS)
    due = [
        p
        for p in rows
        if p.exit_on is not None and first_day <= service.six_month_date(p.exit_on) <= today
    ]
    return due, [p.id for p in rows]


def send_due_links(
    session: Session, *, today: date, now: datetime, mail: LinkMail, batch: int = 200
) -> int:
    """Queue the link once to everyone whose six-month date has come; returns how many.

    In batches until none is left, so a long downtime catches up in one run; a participant
    whose address the outbox refuses is skipped (her card offers the button, the log says why).
    """
    queued = 0
    seen: set[int] = set()
    while True:
        due, read = due_participants(session, today=today, batch=batch, skip=seen)
        if not read:
            break
        # Everyone read is settled for this run: mailed, refused, or not due yet.
        seen.update(read)
        for participant in due:
            try:
                send_link(session, participant, mail, now=now)
            except LinkError as exc:
                log.warning("esf follow-up link for participant %s: %s", participant.id, exc.reason)
                continue
            queued += 1
        session.flush()
        if len(read) < batch:
            break
    return queued


def open_links(session: Session, participant_ids: list[int]) -> dict[int, EsfFollowupLink]:
    """The links of these participants, by participant id."""
    if not participant_ids:
        return {}
    rows = session.scalars(
        sa.select(EsfFollowupLink).where(EsfFollowupLink.participant_id.in_(participant_ids))
    )
    return {link.participant_id: link for link in rows}


# --- the answer ---------------------------------------------------------------------------------


def result_for(employed: str, improved: str) -> str:
    """The longer-term result the answers give: employment wins over improved; else none."""
    if employed == "yes":
        return "employment"
    if improved == "yes":
        return "improved"
    return ""


def answer(
    session: Session,
    link: EsfFollowupLink,
    *,
    employed: str,
    improved: str,
    now: datetime,
    today: date,
    valid_days: int = LINK_VALID_DAYS,
) -> str:
    """Take the former participant's answer (once, within the link's validity): record the
    result (employment or improved; not over one the counsellor recorded meanwhile), log the
    answer in her contact log, and close the link. Returns the result recorded ("" if none).

    Raises LinkError "answered", "expired" or "invalid" (an answer outside the choices).
    """
    if employed not in LINK_ANSWERS or improved not in LINK_ANSWERS:
        raise LinkError("invalid")
    locked = session.scalar(
        sa.select(EsfFollowupLink).where(EsfFollowupLink.id == link.id).with_for_update()
    )
    if locked is None:
        raise LinkError("invalid")
    if locked.answered_at is not None:
        raise LinkError("answered")
    if is_expired(locked, now, valid_days):
        raise LinkError("expired")
    participant = session.get(Participant, locked.participant_id)
    if participant is None or participant.erased_at is not None or participant.exit_on is None:
        raise LinkError("invalid")
    locked.answered_at = now
    locked.employed = employed
    locked.improved = improved
    result = result_for(employed, improved)
    rec = service.record_of(session, participant)
    if result and (rec is None or not rec.long_result):
        service.record_long_result(
            session, participant, result, max(today, participant.exit_on), by=None, now=now
        )
    else:
        result = ""
    participants.add_contact(
        session,
        participant,
        kind="other",
        happened_at=now,
        note=CONTACT_NOTE
        % {"employed": ANSWER_WORDS[employed], "improved": ANSWER_WORDS[improved]},
    )
    session.flush()
    return result


def purge_attempts(session: Session, older_than: datetime) -> int:
    """Delete the answer page's counted posts older than the given moment."""
    return public_forms.purge_attempts(session, EsfFollowupAttempt, older_than)


# --- other domains ------------------------------------------------------------------------------


def plan_erasure(session: Session, *, plan: Any) -> None:
    """An erased participant's short-survey link goes with her other ESF data."""
    if plan.subject.kind != "participant":
        return
    ids = session.scalars(
        sa.select(EsfFollowupLink.id).where(EsfFollowupLink.participant_id == plan.subject.id)
    )
    plan.delete(EsfFollowupLink, ids, "esf", order=20)
