"""The funder report for any period: outcomes and breakdowns, counted in SQL.

A period is Berlin calendar days `start` to `end`, both included. Definitions:
- counselled: participants with a counselling session held in the period;
- entries / exits: participants whose entry / exit day falls in the period;
- qualifications reached: exits in the period with the outcome "qualification / training" or
  "recognition obtained";
- placements: placements starting in the period, except cancelled ones, by kind;
- firms counselled: the intake report's definition (crm.intake.reports.firms_counselled);
- needs collected: qualification needs surveyed in the period, the sum of their counts;
- events: the event figures page's totals (crm.events.figures.past_event_figures);
- newsletters: campaigns that started sending in the period, and deliveries sent in it.

Like the annual report, erased participants keep their anonymised row and are counted. All
breakdowns come from one statement (one row per participant counselled, entered or exited in the
period, with every breakdown key) folded in Python, so the number of statements does not grow
with the data and the period's sessions are read once, through the (participant, day) index.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import compress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import Office, User
from crm.contacts.models import Organisation, QualificationNeed
from crm.events import figures as event_figures
from crm.inputs import parse_date
from crm.intake import reports as intake_reports
from crm.newsletters.models import Campaign, Delivery
from crm.participants.models import EXIT_OUTCOMES, CounsellingSession, Participant
from crm.participants.service import AGE_GROUPS, age_group_at_entry
from crm.placements.models import PLACEMENT_KINDS, Placement

P = Participant

PRESETS = ("year", "half", "100d", "term", "custom")
# A project term may run several years; longer periods are refused.
MAX_DAYS = 10 * 366
QUALIFICATION_OUTCOMES = ("qualification", "recognition")
DIMENSIONS = (
    "office",
    "counsellor",
    "channel",
    "referrer",
    "gender",
    "age_group",
    "country",
    "recognition",
)


class PeriodError(ValueError):
    """A period that cannot be reported (bad or reversed dates, too long, no project term)."""


@dataclass(frozen=True)
class Period:
    """Berlin calendar days `start` to `end`, both included."""

    start: date
    end: date

    @property
    def after_end(self) -> date:
        return self.end + timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _parse(value: str | None) -> date:
    try:
        day = parse_date((value or "").strip())
    except ValueError:
        day = None
    if day is None:
        raise PeriodError("date")
    return day


def checked(start: date, end: date) -> Period:
    if end < start:
        raise PeriodError("reversed")
    if (end - start).days >= MAX_DAYS:
        raise PeriodError("too long")
    return Period(start, end)


def period_for(
    preset: str,
    today: date,
    *,
    start: str | None = None,
    end: str | None = None,
    project_start: str = "",
    project_end: str = "",
) -> Period:
    """The period of a preset; "custom" takes `start`/`end` as ISO dates. PeriodError if bad."""
    if preset == "year":
        return Period(date(today.year, 1, 1), date(today.year, 12, 31))
    if preset == "half":
        if today.month <= 6:
            return Period(date(today.year, 1, 1), date(today.year, 6, 30))
        return Period(date(today.year, 7, 1), date(today.year, 12, 31))
    if preset == "100d":
        return Period(today - timedelta(days=99), today)
    if preset == "term":
        if not project_start or not project_end:
            raise PeriodError("no term")
        return checked(_parse(project_start), _parse(project_end))
    if preset == "custom":
        return checked(_parse(start), _parse(end))
    raise PeriodError("preset")


# --- the report ---------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of a breakdown: counselled, entries and exits of participants with `key`."""

    key: Any
    label: str
    counselled: int = 0
    entries: int = 0
    exits: int = 0


@dataclass
class FunderReport:
    period: Period
    counselled: int = 0
    entries: int = 0
    exits: int = 0
    exits_by_outcome: dict[str, int] = field(default_factory=dict)
    qualifications: int = 0
    placements_by_kind: dict[str, int] = field(default_factory=dict)
    firms_counselled: int = 0
    needs_rows: int = 0
    needs_people: int = 0
    events_held: int = 0
    event_registrations: int = 0
    event_attended: int = 0
    campaigns_sent: int = 0
    newsletter_recipients: int = 0
    breakdowns: dict[str, list[Row]] = field(default_factory=dict)

    @property
    def placements(self) -> int:
        return sum(self.placements_by_kind.values())


def _in(column: Any, period: Period) -> sa.ColumnElement[bool]:
    return sa.and_(column >= period.start, column < period.after_end)


def _counselled(period: Period) -> sa.ColumnElement[bool]:
    """SQL: the participant had a session in the period.

    A correlated EXISTS, one seek per participant in ix_counselling_session_participant_date;
    `id IN (sessions of the period)` read every session of a long period instead.
    """
    return sa.exists(
        sa.select(CounsellingSession.id).where(
            CounsellingSession.participant_id == P.id, _in(CounsellingSession.held_on, period)
        )
    )


def age_group_key(period: Period) -> sa.ColumnElement[Any]:
    """SQL: the age group at entry (the period's start year for those without an entry); the
    participant list filters by the same expression."""
    return age_group_at_entry(period.start.year)


def _keys(period: Period) -> dict[str, Any]:
    return {
        "office": P.office_id,
        "counsellor": P.counsellor_id,
        "channel": P.acquisition_channel,
        "referrer": P.referring_organisation_id,
        "gender": P.gender,
        "age_group": age_group_key(period),
        "country": P.country_of_origin,
        "recognition": P.recognition_status,
    }


def _breakdowns(session: Session, period: Period) -> dict[str, list[tuple[Any, int, int, int]]]:
    """Per dimension: (key, counselled, entries, exits), from one pass over the participants."""
    keys = _keys(period)
    counselled = _counselled(period).label("counselled")
    entered = _in(P.entry_on, period)
    exited = _in(P.exit_on, period)
    rows = session.execute(
        sa.select(
            *(k.label(dim) for dim, k in keys.items()),
            counselled,
            sa.case((entered, 1), else_=0),
            sa.case((exited, 1), else_=0),
        )
        # Not the EXISTS here: beside an OR, PostgreSQL hashes every session of the period for
        # it. Whoever was counselled in the period had a first session before its end.
        .where(sa.or_(P.first_session_on < period.after_end, entered, exited))
    ).all()
    if not rows:
        return {dim: [] for dim in keys}
    # Columns, then one C-level Counter pass per dimension and figure (not a Python loop over
    # every participant and dimension).
    columns = list(zip(*rows, strict=True))
    flags = [[bool(v) for v in col] for col in columns[len(keys) :]]
    out: dict[str, list[tuple[Any, int, int, int]]] = {}
    for i, dim in enumerate(keys):
        c, e, x = (Counter(compress(columns[i], f)) for f in flags)
        out[dim] = [(k, c[k], e[k], x[k]) for k in c.keys() | e.keys() | x.keys()]
    return out


def _names(session: Session, id_col: Any, name_col: Any, ids: list[Any]) -> dict[Any, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return dict(session.execute(sa.select(id_col, name_col).where(id_col.in_(wanted))).all())


def funder_report(
    session: Session,
    period: Period,
    *,
    user: Any,
    now: datetime,
    labels: dict[str, dict[Any, str]] | None = None,
    unknown_label: str = "—",
) -> FunderReport:
    """Every figure and breakdown of the period (all offices: leads and admins see them all)."""
    labels = labels or {}
    report = FunderReport(period)
    by_dimension = _breakdowns(session, period)
    # Every counselled participant falls in exactly one office row.
    counselled = sum(c for _k, c, _e, _x in by_dimension["office"])
    entries = session.scalar(sa.select(sa.func.count()).where(_in(P.entry_on, period)))
    outcomes = dict(
        session.execute(
            sa.select(P.exit_outcome, sa.func.count())
            .where(_in(P.exit_on, period))
            .group_by(P.exit_outcome)
        ).all()
    )
    report.counselled = int(counselled or 0)
    report.entries = int(entries or 0)
    report.exits_by_outcome = {o: int(outcomes.get(o, 0)) for o in (*EXIT_OUTCOMES, "")}
    report.exits = sum(report.exits_by_outcome.values())
    report.qualifications = sum(report.exits_by_outcome[o] for o in QUALIFICATION_OUTCOMES)
    kinds = dict(
        session.execute(
            sa.select(Placement.kind, sa.func.count())
            .where(_in(Placement.starts_on, period), Placement.status != "cancelled")
            .group_by(Placement.kind)
        ).all()
    )
    report.placements_by_kind = {k: int(kinds.get(k, 0)) for k in PLACEMENT_KINDS}
    report.firms_counselled = intake_reports.firms_counselled(
        session, user, intake_reports.Period(period.start, period.end), None
    )[0]
    n_needs, people = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(QualificationNeed.count), 0)).where(
            _in(QualificationNeed.surveyed_on, period)
        )
    ).one()
    report.needs_rows, report.needs_people = int(n_needs or 0), int(people or 0)
    events = event_figures.past_event_figures(
        session, event_figures.Period(period.start, period.end), now=now
    )
    report.events_held = len(events.events)
    report.event_registrations = events.totals.registrations
    report.event_attended = events.totals.attended
    since = event_figures.Period(period.start, period.end).since
    until = event_figures.Period(period.start, period.end).until
    report.campaigns_sent = int(
        session.scalar(
            sa.select(sa.func.count()).where(
                Campaign.started_at >= since, Campaign.started_at < until
            )
        )
        or 0
    )
    report.newsletter_recipients = int(
        session.scalar(
            sa.select(sa.func.count()).where(
                Delivery.status == "sent", Delivery.sent_at >= since, Delivery.sent_at < until
            )
        )
        or 0
    )
    names_of = {
        "office": (Office.id, Office.name),
        "counsellor": (User.id, User.display_name),
        "referrer": (Organisation.id, Organisation.name),
    }
    for dim, rows in by_dimension.items():
        names = labels.get(dim, {})
        if dim in names_of:
            names = _names(session, *names_of[dim], [r[0] for r in rows])
        out = [
            Row(k, names.get(k) or (str(k) if k not in (None, "") else unknown_label), c, e, x)
            for k, c, e, x in rows
        ]
        if dim == "age_group":
            order = {g: i for i, g in enumerate(AGE_GROUPS)}
            out.sort(key=lambda r: order.get(r.key, len(order)))
        else:
            out.sort(key=lambda r: (-r.counselled, -r.entries, r.label.lower()))
        report.breakdowns[dim] = out
    return report


# --- small-number protection --------------------------------------------------------------------


def protect(n: int, min_cell: int) -> int | str:
    """A count for an export: counts below `min_cell` (zero too: next to a total a zero can
    give away the others) become "< min_cell", so a breakdown cannot single out a person."""
    if min_cell > 1 and n < min_cell:
        return f"< {min_cell}"
    return n


# Columns of the pseudonymised rows (crm.dashboard.service.PSEUDONYM_FIELDS) that together
# could point to a person: a value held by fewer than the threshold in the export is hidden.
QUASI_IDENTIFIERS = (
    "office",
    "birth_year",
    "gender",
    "country_of_origin",
    "recognition_status",
    "language_level",
    "target_field",
    "acquisition_channel",
)


def protect_rows(
    fields: tuple[str, ...], rows: list[tuple[Any, ...]], min_cell: int
) -> list[tuple[Any, ...]]:
    """Rows with every rare value of a quasi-identifying column shown as "< min_cell".

    Each column is checked on its own: a value (a birth year, a country) that fewer than
    `min_cell` rows of the export hold is replaced, so no single column singles out a person.
    """
    if min_cell <= 1 or not rows:
        return rows
    columns = [fields.index(f) for f in QUASI_IDENTIFIERS if f in fields]
    rare: dict[int, set[Any]] = {}
    for i in columns:
        counts: dict[Any, int] = {}
        for row in rows:
            counts[row[i]] = counts.get(row[i], 0) + 1
        rare[i] = {v for v, n in counts.items() if n < min_cell and v not in (None, "")}
    shown = f"< {min_cell}"
    return [
        tuple(shown if i in rare and v in rare[i] else v for i, v in enumerate(row)) for row in rows
    ]
