""" "Mein Tag": what one user has to do today, gathered from the domains in a fixed set of queries.

Every section is one (or for the recent changes, one per record type) query with a limit,
so the start page costs the same number of queries however much work is waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, load_only

from crm.accounts import absences
from crm.accounts.models import Absence, Role
from crm.audit.models import AuditEntry
from crm.contacts.models import Organisation, Person
from crm.dashboard import service as dashboard
from crm.dashboard.term import current_term
from crm.dashboard.weeks import local_midnight
from crm.events.models import Event, StaffSlot
from crm.followups import service as followups
from crm.followups.models import FollowUp
from crm.intake import service as intake
from crm.intake.models import Inquiry
from crm.participants import service as participants
from crm.participants.models import Participant, SupportItem
from crm.participants.service import ENTRY_THRESHOLD_MINUTES, NEAR_ENTRY_MINUTES
from crm.security import has_permission

# Limits per section: the page links to the full lists for the rest.
FOLLOWUP_LIMIT = 30
EVENT_LIMIT = 20
# The coming week's events: the first few, then a link to the calendar's agenda. A busy
# office has dozens; the start page is for what is next, the calendar for the whole week.
EVENTS_SOON_SHOWN = 8
# Events the user is responsible for beyond the coming week (a fair prepared weeks ahead):
# the next few only, the calendar has the rest.
MY_LATER_EVENTS_SHOWN = 3
PARTICIPANT_LIMIT = 10
RECENT_LIMIT = 10
INQUIRY_LIMIT = 20
# The team's absences this week on a lead's start page; the absences page has the rest.
TEAM_ABSENCE_LIMIT = 10
RECENT_DAYS = 7
# Events (and duties) still running today are looked for among those that began at most this
# long ago: without a lower bound the query read every past event along ix_event_starts_at.
# Events are fairs, presentations and meetings; a longer one is not "today's" any more.
EVENT_LOOKBACK_DAYS = 31
# Open support items read per status, in due order, to find the participants with the most
# urgent ones; more than enough for PARTICIPANT_LIMIT of them unless the caseload is small.
OPEN_ITEM_SCAN = 50
OPEN_ITEM_STATUSES = ("open", "in_progress")
# At most this many audit rows are read for the recent-changes list (the newest ones).
RECENT_SCAN = 2000
# Record types of the recent-changes list (audit entity_type), in the order names are looked up.
RECENT_TYPES = ("participant", "organisation", "person")
# What the caseload lists show of a participant and sort by; the other columns need not be
# loaded for them.
CASE_COLUMNS = load_only(
    Participant.first_name,
    Participant.last_name,
    Participant.sort_name,
    Participant.total_minutes,
)


@dataclass
class OpenItems:
    """A participant with the number of open support items and the nearest due date."""

    participant: Participant
    count: int
    next_due: date | None


@dataclass
class Change:
    """A record changed recently, for the lead's list."""

    kind: str  # one of RECENT_TYPES
    record_id: int
    label: str
    at: datetime


@dataclass
class MyDay:
    """Everything the start page shows; sections a role does not get stay None."""

    today: date
    overdue: list[FollowUp] | None = None
    due_today: list[FollowUp] | None = None
    followups_truncated: bool = False
    events_today: list[Event] | None = None
    events_soon: list[Event] | None = None
    more_events_soon: bool = False
    # The user's own (responsible) events after the coming week, the next few.
    my_later_events: list[Event] | None = None
    duties: list[StaffSlot] | None = None
    open_items: list[OpenItems] | None = None
    deadlines: list[Participant] | None = None
    near_entry: list[Participant] | None = None
    week: dashboard.WeekProgress | None = None
    recent: list[Change] | None = None
    may_edit_followups: bool = False
    # Leads and admins: a link to the team's follow-ups (overdue ones per person).
    team_followups: bool = False
    # Participants linked to the listed follow-ups whom the user may see (named and linked).
    visible_participants: frozenset[int] = frozenset()
    # The user's open inquiries with "first response overdue", earliest deadline first.
    inquiries: list[tuple[Inquiry, bool]] | None = None
    # The last day of the user's current absence (None: present today).
    absent_until: date | None = None
    # For leads and admins: absences of their users that touch this week (Monday to Sunday).
    team_absences: list[Absence] | None = None
    more_team_absences: bool = False


def build_my_day(
    session: Session,
    user: Any,
    now: datetime,
    *,
    target_defaults: dashboard.Targets,
    config: Mapping[str, Any] | None = None,
) -> MyDay:
    """Gather the user's day; what each role sees follows its permissions and scope.

    `config` supplies the project term when none is stored (CRM_PROJECT_START/END).
    """
    today = now.astimezone(followups.BERLIN).date()
    day = MyDay(today=today)
    day.absent_until = absences.absent_until(session, user.id, today)
    if has_permission(user, "absences.manage"):
        monday = today - timedelta(days=today.weekday())
        found = absences.team_absences(
            session, user, monday, monday + timedelta(days=6), TEAM_ABSENCE_LIMIT + 1
        )
        day.team_absences = found[:TEAM_ABSENCE_LIMIT]
        day.more_team_absences = len(found) > TEAM_ABSENCE_LIMIT
    if has_permission(user, "followups.view"):
        _add_followups(session, day, user, now)
    if has_permission(user, "events.view"):
        _add_events(session, day, user, today)
    if has_permission(user, "intake.view"):
        day.inquiries = [
            (i, i.first_contact_at is None and (i.first_response_due_at or now) < now)
            for i in intake.open_for_user(session, user.id, INQUIRY_LIMIT)
        ]
    if user.role == Role.COUNSELLOR.value and has_permission(user, "participants.view"):
        _add_caseload(session, day, user, today)
    if user.role in (Role.LEAD.value, Role.ADMIN.value) and has_permission(user, "reports.view"):
        day.week = dashboard.week_progress(
            session,
            today=today,
            offices=dashboard.board_offices(user),
            defaults=target_defaults,
            project_end=current_term(session, config or {}).end,
        )
        day.recent = recent_changes(session, user, now)
    return day


def _add_followups(session: Session, day: MyDay, user: Any, now: datetime) -> None:
    items = followups.due_until_tomorrow(session, user.id, now, limit=FOLLOWUP_LIMIT + 1)
    day.followups_truncated = len(items) > FOLLOWUP_LIMIT
    items = items[:FOLLOWUP_LIMIT]
    day.overdue = [f for f in items if followups.group_of(f.due_at, f.has_time, now) == "overdue"]
    day.due_today = [f for f in items if f not in day.overdue]
    day.may_edit_followups = has_permission(user, "followups.edit")
    day.team_followups = user.role in followups.SUPERVISING
    linked = {f.participant_id for f in items if f.participant_id is not None}
    if linked and has_permission(user, "participants.view"):
        # One query: a follow-up may name a participant the user no longer sees (moved office).
        day.visible_participants = frozenset(
            session.scalars(
                participants.scope_participants(sa.select(Participant.id), user).where(
                    Participant.id.in_(linked)
                )
            )
        )


def _add_events(session: Session, day: MyDay, user: Any, today: date) -> None:
    start = local_midnight(today)
    tomorrow = local_midnight(today + timedelta(days=1))
    horizon = local_midnight(today + timedelta(days=8))
    earliest = start - timedelta(days=EVENT_LOOKBACK_DAYS)
    events = list(
        session.scalars(
            sa.select(Event)
            .where(
                Event.ends_at >= start,
                Event.starts_at >= earliest,
                Event.starts_at < horizon,
                Event.status == "planned",
            )
            .order_by(Event.starts_at, Event.id)
            .limit(EVENT_LIMIT)
        )
    )
    day.events_today = [e for e in events if e.starts_at < tomorrow]
    soon = [e for e in events if e.starts_at >= tomorrow]
    day.events_soon = soon[:EVENTS_SOON_SHOWN]
    day.more_events_soon = len(soon) > EVENTS_SOON_SHOWN
    day.my_later_events = list(
        session.scalars(
            sa.select(Event)
            .where(
                Event.responsible_id == user.id,
                Event.starts_at >= horizon,
                Event.status == "planned",
            )
            .order_by(Event.starts_at, Event.id)
            .limit(MY_LATER_EVENTS_SHOWN)
        )
    )
    day.duties = list(
        session.scalars(
            sa.select(StaffSlot)
            .join(Event, Event.id == StaffSlot.event_id)
            .where(
                StaffSlot.user_id == user.id,
                StaffSlot.ends_at > start,
                StaffSlot.starts_at >= earliest,
                StaffSlot.starts_at < horizon,
                Event.status == "planned",
            )
            .options(joinedload(StaffSlot.event))
            .order_by(StaffSlot.starts_at, StaffSlot.id)
            .limit(EVENT_LIMIT)
        )
    )


def _add_caseload(session: Session, day: MyDay, user: Any, today: date) -> None:
    # Only the user's own open cases, and only within the offices they may see.
    mine = participants.visible_participants(user).where(
        Participant.counsellor_id == user.id, Participant.exit_on.is_(None)
    )
    day.open_items = _open_items(session, user, mine)
    day.deadlines = list(
        session.scalars(
            participants.visible_participants(user)
            .where(Participant.counsellor_id == user.id, participants.warning_clause(today))
            .options(CASE_COLUMNS)
            .order_by(Participant.sort_name, Participant.id)
            .limit(PARTICIPANT_LIMIT)
        )
    )
    day.near_entry = list(
        session.scalars(
            mine.where(
                Participant.entry_on.is_(None),
                Participant.total_minutes >= NEAR_ENTRY_MINUTES,
                Participant.total_minutes <= ENTRY_THRESHOLD_MINUTES,
            )
            .options(CASE_COLUMNS)
            .order_by(Participant.total_minutes.desc(), Participant.id)
            .limit(PARTICIPANT_LIMIT)
        )
    )


def _open_items(session: Session, user: Any, mine: sa.Select) -> list[OpenItems]:
    """The user's open cases with open support items: the most urgent due date first.

    Grouping every open item of the caseload grows with the caseload. Instead the open items
    are read in due order (one status at a time, so that ix_support_item_status_due gives the
    order) until OPEN_ITEM_SCAN of the user's own: the work depends on how many items of
    colleagues come first, not on how many cases there are. Only when that does not settle
    the first PARTICIPANT_LIMIT participants (a small caseload) is the whole caseload grouped.
    """
    first_due: dict[int, date] = {}
    cutoff: date | None = None
    for status in OPEN_ITEM_STATUSES:
        walk = participants.scope_participants(
            sa.select(SupportItem.participant_id, SupportItem.due_on).join(
                Participant, Participant.id == SupportItem.participant_id
            ),
            user,
        )
        batch = session.execute(
            walk.where(
                SupportItem.status == status,
                SupportItem.due_on.is_not(None),
                Participant.counsellor_id == user.id,
                Participant.exit_on.is_(None),
            )
            .order_by(SupportItem.due_on, SupportItem.id)
            .limit(OPEN_ITEM_SCAN)
        ).all()
        if len(batch) == OPEN_ITEM_SCAN:
            # Items due on the last date read may continue beyond it: only earlier ones count.
            last: date = batch[-1][1]
            cutoff = last if cutoff is None else min(cutoff, last)
        for participant_id, due in batch:
            if participant_id not in first_due or due < first_due[participant_id]:
                first_due[participant_id] = due
    if cutoff is not None:
        first_due = {p: due for p, due in first_due.items() if due < cutoff}
    counted = (
        mine.join(SupportItem, SupportItem.participant_id == Participant.id)
        .where(SupportItem.status.in_(OPEN_ITEM_STATUSES))
        .with_only_columns(Participant, sa.func.count(SupportItem.id))
        .options(CASE_COLUMNS)
        .group_by(Participant.id)
    )
    if len(first_due) >= PARTICIPANT_LIMIT:
        # Every participant not found has its first due date on or after the cutoff. Of those
        # found, only the first ten dates matter (ties on the tenth are decided by name).
        tenth = sorted(first_due.values())[PARTICIPANT_LIMIT - 1]
        wanted = [p for p, due in first_due.items() if due <= tenth]
        found = [
            OpenItems(p, n, first_due[p.id])
            for p, n in session.execute(counted.where(Participant.id.in_(wanted)))
        ]
        found.sort(key=lambda o: (o.next_due, o.participant.sort_name, o.participant.id))
        return found[:PARTICIPANT_LIMIT]
    next_due = sa.func.min(SupportItem.due_on)
    rows = session.execute(
        counted.add_columns(next_due)
        # Items with a due date first, the most urgent at the top.
        .order_by(next_due.is_(None), next_due, Participant.sort_name, Participant.id)
        .limit(PARTICIPANT_LIMIT)
    )
    return [OpenItems(p, n, due) for p, n, due in rows]


def recent_changes(session: Session, user: Any, now: datetime) -> list[Change]:
    """Participants, organisations and people created or changed in the last days, newest first.

    Read from the audit log (indexed by time); names come from the records themselves, and a
    participant only when `user` may see it, so erased or out-of-scope records drop out.
    """
    # Walk the log backwards along its time index and stop after a bounded number of rows: a
    # GROUP BY over a week of a busy log (every participant view is logged) would read it all.
    # Type and action are filtered here, not in SQL, so that the planner keeps to that index
    # (SQLite prefers the action index otherwise and sorts the whole week).
    found = session.execute(
        sa.select(AuditEntry.entity_type, AuditEntry.entity_id, AuditEntry.at, AuditEntry.action)
        .where(AuditEntry.at >= now - timedelta(days=RECENT_DAYS))
        .order_by(AuditEntry.at.desc())
        .limit(RECENT_SCAN)
    ).all()
    rows: list[tuple[str, int, datetime]] = []
    seen: set[tuple[str, int]] = set()
    for kind, record_id, at, action in found:
        if kind not in RECENT_TYPES or action not in ("create", "update") or record_id is None:
            continue
        if (kind, record_id) in seen:
            continue
        seen.add((kind, record_id))
        rows.append((kind, int(record_id), at))
        # Some may be gone or out of scope: keep a few more than are shown.
        if len(rows) >= RECENT_LIMIT * 3:
            break
    ids: dict[str, list[int]] = {kind: [] for kind in RECENT_TYPES}
    for kind, record_id, _at in rows:
        ids[kind].append(record_id)
    labels: dict[tuple[str, int], str] = {}
    if ids["participant"] and has_permission(user, "participants.view"):
        for p in session.scalars(
            participants.visible_participants(user).where(Participant.id.in_(ids["participant"]))
        ):
            labels["participant", p.id] = p.full_name
    if ids["organisation"]:
        for oid, name in session.execute(
            sa.select(Organisation.id, Organisation.name).where(
                Organisation.id.in_(ids["organisation"])
            )
        ):
            labels["organisation", oid] = name
    if ids["person"]:
        for person in session.scalars(sa.select(Person).where(Person.id.in_(ids["person"]))):
            labels["person", person.id] = person.full_name
    changes = [
        Change(kind, record_id, labels[kind, record_id], at)
        for kind, record_id, at in rows
        if (kind, record_id) in labels
    ]
    return changes[:RECENT_LIMIT]
