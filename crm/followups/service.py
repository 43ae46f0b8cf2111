"""Follow-up rules: create, reassign, snooze, done, cancel, "my follow-ups", reminders."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from flask import render_template
from sqlalchemy.orm import Session, joinedload

from crm.accounts.models import Role, User
from crm.contacts.models import Activity, Organisation, Person
from crm.contacts.service import log_activity
from crm.dashboard.weeks import week_of
from crm.followups.models import CASE_KINDS, PRIORITIES, REPEAT_UNITS, FollowUp
from crm.mail import build_message
from crm.mail.queue import enqueue, mail_domain
from crm.participants.models import Participant
from crm.signals import RowChange, case_followup_moved, merging, move_column

log = logging.getLogger(__name__)

BERLIN = ZoneInfo("Europe/Berlin")
# A follow-up without a time is due (and reminded) at this local time on its date.
DATE_ONLY_TIME = time(8, 0)
GROUPS = ("overdue", "today", "week", "later")
PRIORITY_DE = {"low": "niedrig", "normal": "normal", "high": "hoch"}


class FollowUpError(ValueError):
    """The requested change is not allowed (e.g. snoozing a follow-up that is done)."""


# Leads and admins see every follow-up; everyone else those assigned to or created by them.
SUPERVISING = frozenset({Role.ADMIN.value, Role.LEAD.value})
# `mark_done` logs a note on the linked contact with this subject (stored German, like the
# rest of the note). Notes from before `Activity.followup_id` existed are only known by it;
# the English form covers notes somebody typed or imported in English.
DONE_NOTE_PREFIX = "Wiedervorlage erledigt: "
DONE_NOTE_PREFIXES = (DONE_NOTE_PREFIX.rstrip(), "Follow-up done:")


def visible_to(user: Any) -> sa.ColumnElement[bool]:
    """The follow-ups `user` may see, as a WHERE clause (the same rule as the follow-up pages)."""
    if user.role in SUPERVISING:
        return sa.true()
    return sa.or_(FollowUp.assignee_id == user.id, FollowUp.created_by_id == user.id)


def can_see(user: Any, fu: FollowUp) -> bool:
    """`visible_to` for one loaded follow-up."""
    return user.role in SUPERVISING or user.id in (fu.assignee_id, fu.created_by_id)


# --- time ---------------------------------------------------------------------------------------


def due_moment(due_date: date, due_time: time | None) -> datetime:
    """The UTC moment a follow-up on `due_date` (at `due_time`, or 08:00) Berlin time is due."""
    local = datetime.combine(due_date, due_time or DATE_ONLY_TIME, tzinfo=BERLIN)
    return local.astimezone(UTC)


def local_due(fu: FollowUp) -> datetime:
    """The follow-up's due moment in Europe/Berlin."""
    return fu.due_at.astimezone(BERLIN)


@dataclass(frozen=True)
class Boundaries:
    """Where today, tomorrow, this week and next week begin (Europe/Berlin), as UTC moments."""

    now: datetime
    today: datetime
    tomorrow: datetime
    week_start: datetime
    next_week: datetime


def boundaries(now: datetime) -> Boundaries:
    """Group boundaries for `now`; a week runs Monday to Sunday, days start at local midnight."""
    week = week_of(now)  # the Berlin week of `now`, also on a Sunday and just after midnight

    def midnight(d: date) -> datetime:
        return datetime.combine(d, time(0), tzinfo=BERLIN).astimezone(UTC)

    local_today = now.astimezone(BERLIN).date()
    return Boundaries(
        now=now,
        today=midnight(local_today),
        tomorrow=midnight(local_today + timedelta(days=1)),
        week_start=midnight(week.monday),
        next_week=midnight(week.sunday + timedelta(days=1)),
    )


def groups_of(due_at: datetime, has_time: bool, now: datetime) -> tuple[str, ...]:
    """Every group a follow-up is listed in: "overdue" or "today", and "week"; or "later".

    "week" is the whole week, Monday to Sunday: what is due today or overdue from earlier
    this week is in it as well, so on a Sunday it still lists the week's follow-ups (a
    "rest of the week after today" is always empty on a Sunday).
    """
    b = boundaries(now)
    in_week = b.week_start <= due_at < b.next_week
    if due_at < b.today or (has_time and due_at < now):
        return ("overdue", "week") if in_week else ("overdue",)
    if due_at < b.tomorrow:
        return ("today", "week")
    if in_week:
        return ("week",)
    return ("later",)


def group_of(due_at: datetime, has_time: bool, now: datetime) -> str:
    """ "overdue", "today", "week" (later this week) or "later": the first of `groups_of`.

    A follow-up with a time is overdue once that time has passed; one without a time only once
    its date has passed, so it stays under "today" all day.
    """
    return groups_of(due_at, has_time, now)[0]


def _group_clause(group: str, b: Boundaries) -> sa.ColumnElement[bool]:
    overdue = sa.or_(
        FollowUp.due_at < b.today, sa.and_(FollowUp.has_time.is_(True), FollowUp.due_at < b.now)
    )
    if group == "overdue":
        return overdue
    if group == "today":
        # due_at >= today follows from "not overdue"; said outright, it is where the index
        # range starts, instead of reading every overdue follow-up first.
        return sa.and_(sa.not_(overdue), FollowUp.due_at >= b.today, FollowUp.due_at < b.tomorrow)
    if group == "week":
        return sa.and_(FollowUp.due_at >= b.week_start, FollowUp.due_at < b.next_week)
    if group == "later":
        return FollowUp.due_at >= b.next_week
    raise ValueError(f"unknown group {group!r}")


# --- changes ------------------------------------------------------------------------------------


def create_followup(
    session: Session,
    *,
    subject: str,
    due_date: date,
    due_time: time | None = None,
    assignee: User,
    created_by: User | None = None,
    note: str = "",
    priority: str = "normal",
    person: Person | None = None,
    organisation: Organisation | None = None,
    event_id: int | None = None,
    participant: Any | None = None,
    repeat_every: int | None = None,
    repeat_unit: str | None = None,
    case_kind: str = "",
) -> FollowUp:
    """Create an open follow-up; without `due_time` it is due at 08:00 on `due_date`.

    `case_kind` marks the follow-up a participant's case date keeps (see CASE_KINDS).
    """
    subject = subject.strip()
    if not subject:
        raise FollowUpError("subject must not be empty")
    if priority not in PRIORITIES:
        raise FollowUpError(f"unknown priority {priority!r}")
    if case_kind and (case_kind not in CASE_KINDS or participant is None):
        raise FollowUpError(f"invalid case kind {case_kind!r}")
    repeat_every, repeat_unit = _checked_repeat(repeat_every, repeat_unit)
    fu = FollowUp(
        subject=subject[:200],
        note=note.strip(),
        priority=priority,
        status="open",
        due_at=due_moment(due_date, due_time),
        has_time=due_time is not None,
        assignee=assignee,
        created_by=created_by,
        person=person,
        organisation=organisation,
        event_id=event_id,
        participant=participant,
        repeat_every=repeat_every,
        repeat_unit=repeat_unit,
        case_kind=case_kind,
    )
    session.add(fu)
    session.flush()
    return fu


def _checked_repeat(every: int | None, unit: str | None) -> tuple[int | None, str | None]:
    if not every or not unit:
        return None, None
    if unit not in REPEAT_UNITS or every < 1:
        raise FollowUpError(f"invalid recurrence {every!r} {unit!r}")
    return every, unit


def next_due_date(due: date, every: int, unit: str) -> date:
    """The due date of the next follow-up of a repeating one."""
    if unit == "days":
        return due + timedelta(days=every)
    if unit == "weeks":
        return due + timedelta(weeks=every)
    return due + relativedelta(months=every)  # 31 Jan + 1 month = 28/29 Feb


def update_followup(
    session: Session,
    fu: FollowUp,
    *,
    subject: str,
    note: str,
    due_date: date,
    due_time: time | None,
    priority: str,
    repeat_every: int | None = None,
    repeat_unit: str | None = None,
) -> FollowUp:
    """Edit subject, note, due date/time, priority and recurrence of an open follow-up.

    A changed due moment is reminded afresh.
    """
    _require_open(fu)
    subject = subject.strip()
    if not subject:
        raise FollowUpError("subject must not be empty")
    if priority not in PRIORITIES:
        raise FollowUpError(f"unknown priority {priority!r}")
    fu.repeat_every, fu.repeat_unit = _checked_repeat(repeat_every, repeat_unit)
    fu.subject = subject[:200]
    fu.note = note.strip()
    fu.priority = priority
    due_at = due_moment(due_date, due_time)
    if due_at != fu.due_at or fu.has_time != (due_time is not None):
        fu.due_at = due_at
        fu.has_time = due_time is not None
        fu.reminded_at = None
        session.flush()
        _case_date_moved(session, fu, due_date)
    session.flush()
    return fu


def _case_date_moved(session: Session, fu: FollowUp, due_date: date) -> None:
    """Tell the participant's domain that the follow-up keeping its next contact moved.

    Only the next contact follows its follow-up: a transfer's follow-up is a reminder some
    days before the transfer, and snoozing that reminder does not move the course's end.
    """
    if fu.case_kind == "next_contact" and fu.participant_id is not None:
        case_followup_moved.send(
            fu.case_kind, session=session, participant_id=fu.participant_id, due_date=due_date
        )


def _require_open(fu: FollowUp) -> None:
    if fu.status != "open":
        raise FollowUpError("only open follow-ups can be changed")


def reassign(session: Session, fu: FollowUp, assignee: User) -> FollowUp:
    """Give the follow-up to another user; they get their own reminder when it is due."""
    _require_open(fu)
    if fu.assignee_id != assignee.id:
        fu.assignee = assignee
        fu.reminded_at = None
    session.flush()
    return fu


def snooze(session: Session, fu: FollowUp, due_date: date, due_time: time | None) -> FollowUp:
    """Move the due date (and time); the reminder is sent again at the new moment."""
    _require_open(fu)
    fu.due_at = due_moment(due_date, due_time)
    fu.has_time = due_time is not None
    fu.snoozed_until = fu.due_at
    fu.reminded_at = None
    session.flush()
    _case_date_moved(session, fu, due_date)
    return fu


def snooze_by(session: Session, fu: FollowUp, days: int, now: datetime) -> FollowUp:
    """Snooze by whole days from the due date, or from today if that has passed; keep the time."""
    local = local_due(fu)
    base = max(local.date(), now.astimezone(BERLIN).date())
    return snooze(session, fu, base + timedelta(days=days), local.time() if fu.has_time else None)


def mark_done(
    session: Session, fu: FollowUp, *, outcome: str = "", by: User | None, now: datetime
) -> FollowUp:
    """Close the follow-up with its outcome; log that as a note on the linked contact."""
    _require_open(fu)
    fu.status = "done"
    fu.done_at = now
    fu.done_by_id = by.id if by else None
    fu.outcome = outcome.strip()
    if fu.person is not None or fu.organisation is not None:
        log_activity(
            session,
            kind="note",
            occurred_at=now,
            user_id=by.id if by else None,
            subject=f"{DONE_NOTE_PREFIX}{fu.subject}"[:200],
            text=fu.outcome,
            person=fu.person,
            organisation=fu.organisation,
            followup_id=fu.id,
        )
    if fu.repeat_every and fu.repeat_unit:
        local = local_due(fu)
        create_followup(
            session,
            subject=fu.subject,
            due_date=next_due_date(local.date(), fu.repeat_every, fu.repeat_unit),
            due_time=local.time() if fu.has_time else None,
            assignee=fu.assignee,
            created_by=fu.created_by,
            note=fu.note,
            priority=fu.priority,
            person=fu.person,
            organisation=fu.organisation,
            event_id=fu.event_id,
            participant=fu.participant,
            repeat_every=fu.repeat_every,
            repeat_unit=fu.repeat_unit,
        )
    session.flush()
    return fu


def cancel(session: Session, fu: FollowUp) -> FollowUp:
    """Cancel an open follow-up (it is no longer needed); no reminder is sent any more."""
    _require_open(fu)
    fu.status = "cancelled"
    session.flush()
    return fu


# --- reading ------------------------------------------------------------------------------------


@dataclass
class Group:
    key: str
    count: int
    items: list[FollowUp] = field(default_factory=list)


# The newest completed follow-ups a record's history lists (a case runs for months, not years).
DONE_HISTORY_LIMIT = 50


@dataclass(frozen=True)
class DoneFollowUp:
    """A completed follow-up as a record's history shows it.

    `subject` and `outcome` are empty unless the viewer may see the follow-up (`can_see`):
    the history then says only that a follow-up was done, when and by whom.
    """

    id: int
    done_at: datetime
    done_by: User | None
    visible: bool
    subject: str
    outcome: str


def done_followups(
    session: Session,
    viewer: Any,
    *,
    participant_id: int | None = None,
    person_id: int | None = None,
    organisation_id: int | None = None,
    limit: int = DONE_HISTORY_LIMIT,
) -> list[DoneFollowUp]:
    """The completed follow-ups linked to one record, newest first, in one query."""
    links = {
        FollowUp.participant_id: participant_id,
        FollowUp.person_id: person_id,
        FollowUp.organisation_id: organisation_id,
    }
    chosen = [column == value for column, value in links.items() if value is not None]
    if len(chosen) != 1:
        raise ValueError("exactly one record to show the history of")
    rows = session.scalars(
        sa.select(FollowUp)
        .where(chosen[0], FollowUp.status == "done")
        .options(joinedload(FollowUp.done_by))
        .order_by(FollowUp.done_at.desc(), FollowUp.id.desc())
        .limit(limit)
    )
    out = []
    for fu in rows:
        visible = can_see(viewer, fu)
        assert fu.done_at is not None  # the done_at_iff_done constraint
        out.append(
            DoneFollowUp(
                fu.id,
                fu.done_at,
                fu.done_by,
                visible,
                fu.subject if visible else "",
                fu.outcome if visible else "",
            )
        )
    return out


def hidden_done_notes(session: Session, viewer: Any, activities: Iterable[Activity]) -> set[int]:
    """Ids of the `activities` recording a done follow-up whose subject `viewer` may not read.

    A note linked to its follow-up (`followup_id`) follows `can_see` for that follow-up: one
    extra query asks which of the page's linked follow-ups `visible_to` lets the viewer see
    (none for leads and admins, or for a page without linked notes). A note without the link whose
    subject starts with a done prefix was written before the link existed (or its follow-up
    was deleted): only supervising roles and its author (who completed it) read it, since
    who else could see the follow-up is no longer known.
    """
    if viewer.role in SUPERVISING:
        return set()
    hidden: set[int] = set()
    linked: dict[int, list[int]] = {}
    for a in activities:
        if a.followup_id is not None:
            linked.setdefault(a.followup_id, []).append(a.id)
        elif a.subject.startswith(DONE_NOTE_PREFIXES) and a.user_id != viewer.id:
            hidden.add(a.id)
    if linked:
        # Ask for the visible ones (NOT of the rule would drop rows whose creator is NULL).
        visible = set(
            session.scalars(
                sa.select(FollowUp.id).where(FollowUp.id.in_(linked), visible_to(viewer))
            )
        )
        for fu_id, activity_ids in linked.items():
            if fu_id not in visible:
                hidden.update(activity_ids)
    return hidden


def grouped_followups(
    session: Session,
    assignee_id: int,
    now: datetime,
    *,
    limit: int = 50,
    offset: int = 0,
    only: str | None = None,
) -> list[Group]:
    """Open follow-ups of one assignee in the groups overdue/today/week/later, with counts.

    "week" (Monday to Sunday) also holds what "overdue" and "today" list from this week.

    Each group lists at most `limit` items (from `offset` for the group named in `only`;
    with `only`, the other groups come back with their counts but no items).
    """
    b = boundaries(now)
    mine = sa.and_(FollowUp.assignee_id == assignee_id, FollowUp.status == "open")
    counts = _group_counts(session, mine, b)
    groups = []
    for key in GROUPS:
        group = Group(key, counts.get(key, 0))
        if group.count and (only is None or only == key):
            group.items = list(
                session.scalars(
                    sa.select(FollowUp)
                    .where(mine, _group_clause(key, b))
                    .options(
                        joinedload(FollowUp.person),
                        joinedload(FollowUp.organisation),
                        # The list names a linked participant the viewer may see.
                        joinedload(FollowUp.participant).load_only(
                            Participant.first_name, Participant.last_name
                        ),
                    )
                    .order_by(FollowUp.due_at, FollowUp.id)
                    .limit(limit)
                    .offset(offset if only == key else 0)
                ).unique()
            )
        groups.append(group)
    return groups


def _group_counts(session: Session, mine: sa.ColumnElement[bool], b: Boundaries) -> dict[str, int]:
    """How many of `mine` are in each group, from ranges of due_at in the assignee's index.

    The same split as `_group_clause`, counted as index ranges: one CASE per row grouped in a
    temporary table cost five times as much for a user with thousands of open follow-ups.
    Overdue is everything before today plus today's follow-ups with a time already past.
    """

    def count(*where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
        return (
            sa.select(sa.func.count()).select_from(FollowUp).where(mine, *where).scalar_subquery()
        )

    before_today, passed_today, today, week, later = session.execute(
        sa.select(
            count(FollowUp.due_at < b.today),
            count(
                FollowUp.due_at >= b.today,
                FollowUp.due_at < b.now,
                FollowUp.has_time.is_(True),
            ),
            count(FollowUp.due_at >= b.today, FollowUp.due_at < b.tomorrow),
            count(FollowUp.due_at >= b.week_start, FollowUp.due_at < b.next_week),
            count(FollowUp.due_at >= b.next_week),
        )
    ).one()
    return {
        "overdue": before_today + passed_today,
        "today": today - passed_today,
        "week": week,
        "later": later,
    }


@dataclass(frozen=True)
class TeamRow:
    """One assignee's open follow-ups due up to the end of this week, per group."""

    user: User
    overdue: int
    today: int
    week: int


def team_counts(session: Session, users: Iterable[User], now: datetime) -> list[TeamRow]:
    """Overdue, today's and this week's open follow-ups of each of `users`, in one query.

    The same groups as `grouped_followups` (so each number matches the list it links to);
    only follow-ups due before next week are read, so "later" is left out.
    """
    b = boundaries(now)

    def counted(group: str) -> sa.Label[int]:
        return sa.func.coalesce(
            sa.func.sum(sa.case((_group_clause(group, b), 1), else_=0)), 0
        ).label(group)

    users = list(users)
    rows = session.execute(
        sa.select(FollowUp.assignee_id, counted("overdue"), counted("today"), counted("week"))
        .where(
            FollowUp.status == "open",
            FollowUp.assignee_id.in_([u.id for u in users]),
            FollowUp.due_at < b.next_week,
        )
        .group_by(FollowUp.assignee_id)
    ).all()
    by_user = {r.assignee_id: r for r in rows}
    out = []
    for user in users:
        r = by_user.get(user.id)
        out.append(TeamRow(user, r.overdue, r.today, r.week) if r else TeamRow(user, 0, 0, 0))
    return out


def due_until_tomorrow(
    session: Session, assignee_id: int, now: datetime, *, limit: int
) -> list[FollowUp]:
    """Open follow-ups of one assignee that are overdue or due today, oldest first.

    One query, with the linked records' ids and names (what the start page shows of them);
    sort them into groups with `group_of`.
    """
    b = boundaries(now)
    # Only the columns the start page shows of the linked records: the other columns of
    # three joined tables need not become attributes of every row.
    return list(
        session.scalars(
            sa.select(FollowUp)
            .where(
                FollowUp.assignee_id == assignee_id,
                FollowUp.status == "open",
                FollowUp.due_at < b.tomorrow,
            )
            .options(
                joinedload(FollowUp.person).load_only(
                    Person.title, Person.first_name, Person.last_name
                ),
                joinedload(FollowUp.organisation).load_only(Organisation.name),
                joinedload(FollowUp.participant).load_only(
                    Participant.first_name, Participant.last_name
                ),
            )
            .order_by(FollowUp.due_at, FollowUp.id)
            .limit(limit)
        ).unique()
    )


def group_by_bucket(followups: list[FollowUp], now: datetime) -> dict[str, list[FollowUp]]:
    """Sort already loaded follow-ups into the four groups (pure; same rule as the query)."""
    out: dict[str, list[FollowUp]] = {g: [] for g in GROUPS}
    for fu in sorted(followups, key=lambda f: (f.due_at, f.id or 0)):
        for group in groups_of(fu.due_at, fu.has_time, now):
            out[group].append(fu)
    return out


# --- reminders ----------------------------------------------------------------------------------


def _due_for_reminder(now: datetime) -> sa.ColumnElement[bool]:
    # Same predicate as the partial index ix_followup_reminder_pending, plus the time. The
    # status is a literal, not a bound parameter: a planner can only match a partial index's
    # WHERE against constants (PostgreSQL generic plans, SQLite).
    return sa.and_(
        FollowUp.status == sa.literal_column("'open'"),
        FollowUp.reminded_at.is_(None),
        FollowUp.due_at <= now,
    )


def _reminder_message(
    fu: FollowUp, *, sender: str, base_url: str, message_id_domain: str, reply_to: str | None
):
    local = local_due(fu)
    context = {
        "fu": fu,
        "due_date": local.strftime("%d.%m.%Y"),
        "due_time": local.strftime("%H:%M") if fu.has_time else "",
        "priority": PRIORITY_DE.get(fu.priority, fu.priority),
        "url": f"{base_url.rstrip('/')}/wiedervorlagen/{fu.id}",
        "contact": fu.person.full_name if fu.person else "",
        "organisation": fu.organisation.name if fu.organisation else "",
    }
    return build_message(
        sender=sender,
        to=(fu.assignee.display_name, fu.assignee.email),
        subject=f"Wiedervorlage fällig: {fu.subject}",
        text=render_template("email/followup_reminder.txt", **context),
        html=render_template("email/followup_reminder.html", **context),
        reply_to=reply_to or None,
        extra_headers={"Auto-Submitted": "auto-generated", "X-CRM-Followup": str(fu.id)},
        message_id_domain=message_id_domain,
    )


def pending_reminders(session: Session, now: datetime) -> int:
    """How many follow-ups wait for their reminder at `now`."""
    return session.scalar(sa.select(sa.func.count()).where(_due_for_reminder(now))) or 0


def send_due_reminders(
    session: Session,
    now: datetime,
    base_url: str,
    batch: int = 100,
    *,
    sender: str = "netzwerk-crm <crm@localhost>",
    reply_to: str | None = None,
) -> int:
    """Queue one reminder per due, open, unreminded follow-up (at most `batch`); return the count.

    Each follow-up is claimed in its own short transaction: the row is selected FOR UPDATE
    SKIP LOCKED (PostgreSQL; on SQLite the transaction's write lock serialises), `reminded_at`
    is set and the reminder is added to the mail outbox, and both commit together. So a second
    process skips the row or sees it reminded, a crash loses neither half, and no SMTP server
    is ever waited for while the row (or SQLite's write lock) is held: the outbox sender
    delivers the message later, with retries.

    A reminder that cannot be built (an unusable address) is logged and the follow-up marked
    as reminded anyway, so one bad address does not block or repeat forever.
    """
    if not pending_reminders(session, now):
        session.commit()
        return 0
    domain = mail_domain(sender)
    queued = 0
    for _ in range(batch):
        fu = session.scalars(
            sa.select(FollowUp)
            .where(_due_for_reminder(now))
            .order_by(FollowUp.due_at, FollowUp.id)
            .limit(1)
            .with_for_update(skip_locked=True, of=FollowUp)
        ).first()
        if fu is None:
            break
        fu.reminded_at = now
        try:
            message = _reminder_message(
                fu, sender=sender, base_url=base_url, message_id_domain=domain, reply_to=reply_to
            )
            enqueue(session, message, kind="reminder", user_id=fu.assignee_id)
        except ValueError:
            log.error("follow-up %s: reminder cannot be built; not retried", fu.id, exc_info=True)
        except BaseException:
            session.rollback()
            raise
        else:
            queued += 1
        session.commit()
    return queued


# --- contacts merge ------------------------------------------------------------------------------


def move_merged_references(
    entity_type: str, *, session: Session, keep_id: int, drop_id: int
) -> list[RowChange]:
    """merging handler: follow-ups about the merged-away record follow it to the one kept."""
    column = {"person": FollowUp.person_id, "organisation": FollowUp.organisation_id}.get(
        entity_type
    )
    return move_column(session, column, keep_id, drop_id) if column is not None else []


def connect_signals() -> None:
    """Take part in contact merges (called once by create_app)."""
    merging.connect(move_merged_references)
