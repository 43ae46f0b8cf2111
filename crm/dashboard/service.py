"""The targets board and the annual report: aggregates computed in SQL, folded into weeks.

Nothing here returns a participant's name: every function yields counts (per day, per
office, per counsellor, per channel, per referring organisation, per outcome). Erased
participants keep an anonymised row with office, channel, entry and exit dates, so they are
counted here like everybody else and the numbers do not change when someone is erased.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import Office, Role, User
from crm.contacts.models import Organisation
from crm.dashboard.weeks import Week, week_of, year_span, year_weeks
from crm.participants.models import (
    ACQUISITION_CHANNELS,
    EXIT_OUTCOMES,
    CounsellingSession,
    Participant,
)

P = Participant


# --- scope --------------------------------------------------------------------------------------


def board_offices(user: Any) -> list[int] | None:
    """Offices whose numbers `user` sees on the board: None = all.

    Counsellors see the offices they work in (none without one), like the participant list
    (crm.participants.service.office_ids_for). Leads, admins, staff and read-only users see
    every office, but staff and read-only only ever get aggregate numbers, never names.
    """
    role = getattr(user, "role", None)
    if role == Role.COUNSELLOR.value:
        return list(user.office_ids)
    return None


def effective_offices(allowed: list[int] | None, office_id: int | None) -> list[int] | None:
    """The office filter chosen on the page, narrowed to what the user may see."""
    if office_id is None:
        return allowed
    if allowed is None or office_id in allowed:
        return [office_id]
    return []


def _office_clause(offices: list[int] | None) -> sa.ColumnElement[bool]:
    if offices is None:
        return sa.true()
    if not offices:
        return sa.false()
    return P.office_id.in_(offices)


# --- targets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    entries_per_week: float
    exits_per_week: float


def targets_for(session: Session, offices: list[int] | None, defaults: Targets) -> Targets:
    """The weekly targets: the sum over the active offices in `offices` (None = all).

    Each office promises its own entries and exits a week; the board of several offices
    promises their sum. Before any office exists the configured defaults apply.
    """
    stmt = sa.select(
        sa.func.count(Office.id),
        sa.func.coalesce(sa.func.sum(Office.weekly_entries), 0),
        sa.func.coalesce(sa.func.sum(Office.weekly_exits), 0),
    ).where(Office.is_active.is_(True))
    if offices is not None:
        stmt = stmt.where(Office.id.in_(offices) if offices else sa.false())
    n, entries, exits = session.execute(stmt).one()
    if not n and offices is None and not session.scalar(sa.select(sa.func.count(Office.id))):
        return defaults
    return Targets(round(float(entries), 2), round(float(exits), 2))


def office_targets(session: Session, offices: list[int] | None) -> list[Office]:
    """The active offices in scope with their weekly targets, for the board's table."""
    stmt = sa.select(Office).where(Office.is_active.is_(True)).order_by(Office.name)
    if offices is not None:
        stmt = stmt.where(Office.id.in_(offices) if offices else sa.false())
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class WeekProgress:
    """Entries and exits of one ISO week against the summed weekly targets."""

    week: Week
    entries: int
    exits: int
    targets: Targets
    # The project end when this week began after it: nothing is expected any more.
    term_ended_on: date | None = None

    @property
    def entries_missing(self) -> int:
        """Entries still needed to reach the target (a target of 1,5 needs 2)."""
        if self.term_ended_on:
            return 0
        return max(0, math.ceil(self.targets.entries_per_week - self.entries))

    @property
    def exits_missing(self) -> int:
        """Exits still needed to reach the target."""
        if self.term_ended_on:
            return 0
        return max(0, math.ceil(self.targets.exits_per_week - self.exits))

    @property
    def met(self) -> bool:
        return not self.entries_missing and not self.exits_missing


def week_progress(
    session: Session,
    *,
    today: date,
    offices: list[int] | None,
    defaults: Targets,
    project_end: date | None = None,
) -> WeekProgress:
    """This week's entries and exits in `offices` (None = all) against the weekly targets.

    A week that begins after `project_end` expects nothing (as on the board).
    """
    week = week_of(today)
    end = week.monday + timedelta(days=7)
    clause = _office_clause(offices)
    entries = sa.select(sa.func.count()).where(P.entry_on >= week.monday, P.entry_on < end, clause)
    exits = sa.select(sa.func.count()).where(P.exit_on >= week.monday, P.exit_on < end, clause)
    n_in, n_out = session.execute(
        sa.select(entries.scalar_subquery(), exits.scalar_subquery())
    ).one()
    ended = project_end if project_end is not None and week.monday > project_end else None
    return WeekProgress(
        week, int(n_in or 0), int(n_out or 0), targets_for(session, offices, defaults), ended
    )


# --- the board ----------------------------------------------------------------------------------


@dataclass
class WeekRow:
    week: Week
    entries: int = 0
    exits: int = 0
    cumulative_entries: int = 0
    cumulative_exits: int = 0
    target_entries: float = 0.0
    target_exits: float = 0.0
    is_future: bool = False
    is_current: bool = False
    # A week that ended before the project start: no target, so neither met nor missed.
    before_term: bool = False
    # A week that began after the project end: no target either.
    after_term: bool = False

    @property
    def entries_met(self) -> bool:
        return self.entries >= self.target_entries_week

    target_entries_week: float = 0.0
    target_exits_week: float = 0.0

    @property
    def exits_met(self) -> bool:
        return self.exits >= self.target_exits_week


@dataclass
class Breakdown:
    """Counts per key: first contacts, entries and exits in the year, exits into work."""

    key: Any
    label: str
    first_contacts: int = 0
    entries: int = 0
    exits: int = 0
    exits_employment: int = 0

    @property
    def entry_rate(self) -> int:
        return round(100 * self.entries / self.first_contacts) if self.first_contacts else 0


@dataclass
class Funnel:
    """Cohort of the year's first contacts: how far they got (so far)."""

    first_contact: int = 0
    first_session: int = 0
    entry: int = 0
    exit_employment: int = 0


@dataclass
class Board:
    year: int
    today: date
    targets: Targets
    weeks: list[WeekRow]
    entries: int
    exits: int
    weeks_elapsed: int
    ytd_target_entries: float
    ytd_target_exits: float
    year_target_entries: float
    year_target_exits: float
    by_office: list[Breakdown] = field(default_factory=list)
    by_counsellor: list[Breakdown] = field(default_factory=list)
    by_channel: list[Breakdown] = field(default_factory=list)
    by_referrer: list[Breakdown] = field(default_factory=list)
    funnel: Funnel = field(default_factory=Funnel)
    # The project start when the targets count from it rather than from the year's first week.
    counted_from: date | None = None
    # The project end when it falls before the year's last week: no targets after it.
    counted_until: date | None = None

    def chart_data(self) -> dict[str, Any]:
        """What dashboard.js draws: cumulative entries/exits against the target lines."""
        shown = [w for w in self.weeks if not w.is_future]
        return {
            "labels": [f"KW {w.week.week}" for w in self.weeks],
            "entries": [w.cumulative_entries for w in shown],
            "exits": [w.cumulative_exits for w in shown],
            "target_entries": [w.target_entries for w in self.weeks],
            "target_exits": [w.target_exits for w in self.weeks],
        }


def _per_day(
    session: Session, column: Any, start: date, end: date, offices: list[int] | None
) -> dict[date, int]:
    rows = session.execute(
        sa.select(column, sa.func.count())
        .where(column >= start, column < end, _office_clause(offices))
        .group_by(column)
    ).all()
    return {day: n for day, n in rows}


def _breakdown(
    session: Session,
    key: Any,
    start: date,
    end: date,
    offices: list[int] | None,
    *,
    label_join: tuple[Any, Any, Any] | None = None,
    keys: tuple[Any, ...] | None = None,
) -> list[Any]:
    def in_year(column: Any) -> Any:
        return sa.func.sum(sa.case((sa.and_(column >= start, column < end), 1), else_=0))

    group = list(keys) if keys is not None else [key]
    columns = [
        *group,
        in_year(P.first_contact_on),
        in_year(P.entry_on),
        in_year(P.exit_on),
        sa.func.sum(
            sa.case(
                (sa.and_(P.exit_on >= start, P.exit_on < end, P.exit_outcome == "employment"), 1),
                else_=0,
            )
        ),
    ]
    touched = sa.or_(
        sa.and_(P.first_contact_on >= start, P.first_contact_on < end),
        sa.and_(P.entry_on >= start, P.entry_on < end),
        sa.and_(P.exit_on >= start, P.exit_on < end),
    )
    stmt = sa.select(*columns).where(touched, _office_clause(offices)).group_by(*group)
    rows = session.execute(stmt).all()
    if keys is not None:
        return [(*r[: len(keys)], *(int(x or 0) for x in r[len(keys) :])) for r in rows]
    labels: dict[Any, str] = {}
    if label_join is not None:
        model, id_col, name_col = label_join
        ids = [r[0] for r in rows if r[0] is not None]
        if ids:
            labels = dict(session.execute(sa.select(id_col, name_col).where(id_col.in_(ids))).all())
    return [
        (r[0], labels.get(r[0]), int(r[1] or 0), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0))
        for r in rows
    ]


def _to_breakdowns(
    rows: Sequence[tuple[Any, str | None, int, int, int, int]], fallback: dict[Any, str]
) -> list[Breakdown]:
    out = [
        Breakdown(
            key, label or fallback.get(key, str(key) if key is not None else "—"), fc, en, ex, em
        )
        for key, label, fc, en, ex, em in rows
    ]
    return sorted(out, key=lambda b: (-b.entries, -b.first_contacts, b.label.lower()))


def _breakdowns_at_once(
    session: Session, start: date, end: date, offices: list[int] | None
) -> list[dict[Any, list[int]]]:
    """Office, counsellor, channel and referrer counts from ONE scan.

    Grouped in SQL by all four keys together (a few thousand groups at most), then summed
    per key here: one pass over the participants instead of four.
    """
    keys = (P.office_id, P.counsellor_id, P.acquisition_channel, P.referring_organisation_id)
    rows = _breakdown(session, None, start, end, offices, keys=keys)
    out: list[dict[Any, list[int]]] = [{}, {}, {}, {}]
    for row in rows:
        counts = row[4:]
        for i in range(4):
            acc = out[i].setdefault(row[i], [0, 0, 0, 0])
            for j in range(4):
                acc[j] += counts[j]
    return out


def _labelled(
    session: Session, counts: dict[Any, list[int]], id_col: Any, name_col: Any
) -> list[tuple[Any, str | None, int, int, int, int]]:
    ids = [k for k in counts if k is not None]
    labels: dict[Any, str | None] = (
        dict(session.execute(sa.select(id_col, name_col).where(id_col.in_(ids))).all())
        if ids
        else {}
    )
    return [(k, labels.get(k), *v) for k, v in counts.items()]


def funnel(session: Session, start: date, end: date, offices: list[int] | None) -> Funnel:
    """The year's first contacts and how many of them had a session, entered, exited into work."""
    row = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(P.first_session_on),
            sa.func.count(P.entry_on),
            sa.func.sum(sa.case((P.exit_outcome == "employment", 1), else_=0)),
        ).where(P.first_contact_on >= start, P.first_contact_on < end, _office_clause(offices))
    ).one()
    return Funnel(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0))


def build_board(
    session: Session,
    *,
    year: int,
    today: date,
    offices: list[int] | None,
    defaults: Targets,
    channel_labels: dict[str, str] | None = None,
    unknown_label: str = "—",
    project_start: date | None = None,
    project_end: date | None = None,
) -> Board:
    """Everything the board shows for an ISO week-year, restricted to `offices` (None = all).

    With a `project_start`, the weekly targets count from the week it falls in: an install
    set up in December is not behind by every week since 1 January. With a `project_end`,
    they stop after the week it falls in: a finished project misses no further weeks.
    """
    start, end = year_span(year)
    targets = targets_for(session, offices, defaults)
    entries_by_day = _per_day(session, P.entry_on, start, end, offices)
    exits_by_day = _per_day(session, P.exit_on, start, end, offices)
    current = week_of(today)
    rows: list[WeekRow] = []
    entries_by_week: dict[int, int] = {}
    exits_by_week: dict[int, int] = {}
    for day, n in entries_by_day.items():
        week_no = week_of(day).week
        entries_by_week[week_no] = entries_by_week.get(week_no, 0) + n
    for day, n in exits_by_day.items():
        week_no = week_of(day).week
        exits_by_week[week_no] = exits_by_week.get(week_no, 0) + n
    cum_in = cum_out = 0
    elapsed = index = 0
    for wk in year_weeks(year):
        cum_in += entries_by_week.get(wk.week, 0)
        cum_out += exits_by_week.get(wk.week, 0)
        future = wk.monday > today
        before = project_start is not None and wk.sunday < project_start
        after = project_end is not None and wk.monday > project_end
        if not before and not after:
            index += 1
        if not future:
            elapsed = index
        rows.append(
            WeekRow(
                week=wk,
                entries=entries_by_week.get(wk.week, 0),
                exits=exits_by_week.get(wk.week, 0),
                cumulative_entries=cum_in,
                cumulative_exits=cum_out,
                target_entries=round(index * targets.entries_per_week, 2),
                target_exits=round(index * targets.exits_per_week, 2),
                target_entries_week=targets.entries_per_week,
                target_exits_week=targets.exits_per_week,
                is_future=future,
                is_current=(wk.year, wk.week) == (current.year, current.week),
                before_term=before,
                after_term=after,
            )
        )
    n_weeks = index
    last_sunday = end - timedelta(days=1)
    fallback = {None: unknown_label}
    channel_names = {**{c: c for c in ACQUISITION_CHANNELS}, **(channel_labels or {})}
    by = _breakdowns_at_once(session, start, end, offices)
    return Board(
        year=year,
        today=today,
        targets=targets,
        weeks=rows,
        entries=cum_in,
        exits=cum_out,
        weeks_elapsed=elapsed,
        ytd_target_entries=round(elapsed * targets.entries_per_week, 2),
        ytd_target_exits=round(elapsed * targets.exits_per_week, 2),
        year_target_entries=round(n_weeks * targets.entries_per_week, 2),
        year_target_exits=round(n_weeks * targets.exits_per_week, 2),
        by_office=_to_breakdowns(_labelled(session, by[0], Office.id, Office.name), fallback),
        by_counsellor=_to_breakdowns(
            _labelled(session, by[1], User.id, User.display_name), fallback
        ),
        by_channel=_to_breakdowns(
            [(k, None, *v) for k, v in by[2].items()], {**fallback, **channel_names}
        ),
        by_referrer=_to_breakdowns(
            _labelled(session, by[3], Organisation.id, Organisation.name), fallback
        ),
        funnel=funnel(session, start, end, offices),
        counted_from=project_start if project_start and project_start > start else None,
        # A term ending on the year's last Sunday or later leaves every week of it counted.
        counted_until=project_end if project_end and project_end < last_sunday else None,
    )


def available_years(session: Session, today: date) -> list[int]:
    """ISO week-years from the first recorded contact to this one (newest first)."""
    first = session.scalar(sa.select(sa.func.min(P.first_contact_on)))
    last = week_of(today).year
    begin = week_of(first).year if first else last
    return list(range(last, min(begin, last) - 1, -1))


# --- the annual report --------------------------------------------------------------------------


@dataclass
class AnnualReport:
    year: int
    start: date
    end: date  # exclusive
    counselled: int
    sessions: int
    minutes: int
    new_contacts: int
    entries: int
    exits: int
    exits_by_outcome: dict[str, int]
    by_office: list[Breakdown]
    by_channel: list[Breakdown]
    counselled_by_office: dict[Any, int]

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


def annual_report(
    session: Session,
    *,
    year: int,
    offices: list[int] | None,
    channel_labels: dict[str, str] | None = None,
    unknown_label: str = "—",
) -> AnnualReport:
    """Outcomes of an ISO week-year (the same year the board shows): counts only."""
    start, end = year_span(year)
    in_offices = _office_clause(offices)
    sess = (
        sa.select(
            sa.func.count(sa.distinct(CounsellingSession.participant_id)),
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(CounsellingSession.minutes), 0),
        )
        .join(P, P.id == CounsellingSession.participant_id)
        .where(CounsellingSession.held_on >= start, CounsellingSession.held_on < end, in_offices)
    )
    counselled, n_sessions, minutes = session.execute(sess).one()
    per_office = dict(
        session.execute(
            sa.select(P.office_id, sa.func.count(sa.distinct(CounsellingSession.participant_id)))
            .join(P, P.id == CounsellingSession.participant_id)
            .where(
                CounsellingSession.held_on >= start, CounsellingSession.held_on < end, in_offices
            )
            .group_by(P.office_id)
        ).all()
    )
    outcomes = dict(
        session.execute(
            sa.select(P.exit_outcome, sa.func.count())
            .where(P.exit_on >= start, P.exit_on < end, in_offices)
            .group_by(P.exit_outcome)
        ).all()
    )
    exits_by_outcome = {o: int(outcomes.get(o, 0)) for o in (*EXIT_OUTCOMES, "")}
    counts = session.execute(
        sa.select(
            sa.func.sum(
                sa.case(
                    (sa.and_(P.first_contact_on >= start, P.first_contact_on < end), 1), else_=0
                )
            ),
            sa.func.sum(sa.case((sa.and_(P.entry_on >= start, P.entry_on < end), 1), else_=0)),
        ).where(in_offices)
    ).one()
    fallback = {None: unknown_label}
    channel_names = {**{c: c for c in ACQUISITION_CHANNELS}, **(channel_labels or {})}
    return AnnualReport(
        year=year,
        start=start,
        end=end,
        counselled=int(counselled or 0),
        sessions=int(n_sessions or 0),
        minutes=int(minutes or 0),
        new_contacts=int(counts[0] or 0),
        entries=int(counts[1] or 0),
        exits=sum(exits_by_outcome.values()),
        exits_by_outcome=exits_by_outcome,
        by_office=_to_breakdowns(
            _breakdown(
                session,
                P.office_id,
                start,
                end,
                offices,
                label_join=(Office, Office.id, Office.name),
            ),
            fallback,
        ),
        by_channel=_to_breakdowns(
            _breakdown(session, P.acquisition_channel, start, end, offices),
            {**fallback, **channel_names},
        ),
        counselled_by_office={k: int(v) for k, v in per_office.items()},
    )


# --- the pseudonymised export -------------------------------------------------------------------

PSEUDONYM_FIELDS = (
    "pseudonym",
    "office",
    "birth_year",
    "gender",
    "country_of_origin",
    "recognition_status",
    "language_level",
    "target_field",
    "acquisition_channel",
    "first_contact_on",
    "first_session_on",
    "hours",
    "entry_on",
    "exit_on",
    "exit_outcome",
)


def pseudonymised_rows(
    session: Session, *, year: int, offices: list[int] | None
) -> list[tuple[Any, ...]]:
    """One row per participant active in the year (contact, session, entry or exit in it).

    No name, no contact data, no free text; the birth year at most. The pseudonym is the
    participant's stored random key (stable across exports, meaningless outside the CRM).
    Erased participants are left out: their record no longer belongs to anybody.
    """
    start, end = year_span(year)
    return pseudonymised_rows_between(session, start, end, offices)


def pseudonymised_rows_between(
    session: Session, start: date, end: date, offices: list[int] | None
) -> list[tuple[Any, ...]]:
    """`pseudonymised_rows` for the days `start` to `end` (exclusive)."""
    had_session = sa.exists(
        sa.select(CounsellingSession.id).where(
            CounsellingSession.participant_id == P.id,
            CounsellingSession.held_on >= start,
            CounsellingSession.held_on < end,
        )
    )
    active = sa.or_(
        sa.and_(P.first_contact_on >= start, P.first_contact_on < end),
        sa.and_(P.entry_on >= start, P.entry_on < end),
        sa.and_(P.exit_on >= start, P.exit_on < end),
        had_session,
    )
    stmt = (
        sa.select(
            P.pseudonym,
            Office.name,
            P.birth_year,
            P.gender,
            P.country_of_origin,
            P.recognition_status,
            P.language_level,
            P.target_field,
            P.acquisition_channel,
            P.first_contact_on,
            P.first_session_on,
            P.total_minutes,
            P.entry_on,
            P.exit_on,
            P.exit_outcome,
        )
        .join(Office, Office.id == P.office_id)
        .where(active, _office_clause(offices), P.erased_at.is_(None))
        .order_by(P.pseudonym)
    )
    out = []
    for r in session.execute(stmt):
        values = list(r)
        values[11] = round((values[11] or 0) / 60, 2)
        out.append(tuple(values))
    return out
