"""Inquiry figures for a period: per ISO week by channel and topic, time to first contact,
conversion, closing reasons and the firms counselled (aggregate numbers, never names).

Every figure about inquiries is about the inquiries *received* in the period (a cohort by
`created_at`), within the user's scope (`service.scope`) and the chosen office. Spam (closed
with reason "spam") is not an inquiry and is left out everywhere except the closing reasons.
"Converted" is the status `converted`: it needs no column of the conversion step, so these
figures read the same before and after conversion records its own timestamps.

Counting happens in the database (GROUP BY, COUNT, one ORDER BY with OFFSET for a median);
weeks are folded with a CASE over the Berlin Mondays, so the same SQL runs on SQLite and
PostgreSQL and a week is the Berlin week across daylight-saving changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import User, user_office
from crm.contacts.models import Activity, Organisation
from crm.dashboard.weeks import BERLIN, Week, local_midnight, week_of
from crm.intake.models import CHANNELS, OPEN_STATUSES, TOPICS, Inquiry
from crm.intake.service import overdue_condition, scope, supervises

# Activities with a firm that count as counselling it: talking or writing to it, meeting it.
# Notes are internal; presentations and fair contacts reach many firms without counselling one.
COUNSELLING_ACTIVITY_KINDS = ("call", "email", "meeting")
# Firm inquiries that show a counselling contact: somebody reached the firm.
COUNSELLED_INQUIRY_STATUSES = ("in_contact", "converted")
# The longest period a report covers (about two years of weeks).
MAX_DAYS = 731
PRESETS = ("12w", "100d", "quarter", "year")


@dataclass(frozen=True)
class Period:
    """Berlin calendar days `start` to `end`, both included."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        return local_midnight(self.start)

    @property
    def until(self) -> datetime:
        return local_midnight(self.end + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def weeks(self) -> list[Week]:
        """The ISO weeks the period touches, in order."""
        first = week_of(self.start)
        result = []
        monday = first.monday
        while monday <= self.end:
            result.append(week_of(monday))
            monday += timedelta(days=7)
        return result


def preset_period(preset: str, today: date) -> Period:
    """A named period ending today: the last 12 weeks (from a Monday), the last 100 days,
    this quarter, this year."""
    if preset == "100d":
        return Period(today - timedelta(days=99), today)
    if preset == "quarter":
        first_month = 3 * ((today.month - 1) // 3) + 1
        return Period(date(today.year, first_month, 1), today)
    if preset == "year":
        return Period(date(today.year, 1, 1), today)
    return Period(week_of(today).monday - timedelta(weeks=11), today)


# --- the report ---------------------------------------------------------------------------------


@dataclass
class WeekCounts:
    week: Week
    total: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    by_topic: dict[str, int] = field(default_factory=dict)


@dataclass
class IntakeReport:
    period: Period
    weeks: list[WeekCounts]
    total: int
    by_channel: dict[str, int]
    by_topic: dict[str, int]
    # Hours from receipt to first contact, median over the contacted inquiries; None if none.
    median_hours: float | None
    contacted: int
    # Inquiries whose deadline has passed or that were contacted, and those contacted in time.
    due: int
    answered_in_time: int
    converted: int
    closed_by_reason: dict[str, int]
    spam: int
    firms_counselled: int
    firms_from_activities: int
    firms_from_inquiries: int

    @property
    def in_time_share(self) -> float | None:
        return self.answered_in_time / self.due if self.due else None

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.total if self.total else None

    def chart_data(self, channel_labels: dict[str, str]) -> dict[str, Any]:
        """Labels and one series per channel, for the stacked bar chart."""
        return {
            "labels": [f"KW {w.week.week}" for w in self.weeks],
            "series": [
                {
                    "label": channel_labels.get(c, c),
                    "data": [w.by_channel.get(c, 0) for w in self.weeks],
                }
                for c in CHANNELS
            ],
        }


def _not_spam() -> sa.ColumnElement[bool]:
    return sa.not_(sa.and_(Inquiry.status == "closed", Inquiry.close_reason == "spam"))


def _office_users(offices: Sequence[int]) -> sa.Select[Any]:
    """Ids of users who work in one of `offices` (home office or membership)."""
    members = sa.select(user_office.c.user_id).where(user_office.c.office_id.in_(offices))
    return sa.select(User.id).where(sa.or_(User.office_id.in_(offices), User.id.in_(members)))


def _inquiries(user: Any, office_id: int | None, *columns: Any) -> sa.Select[Any]:
    query = scope(sa.select(*columns).select_from(Inquiry), user)
    if office_id is not None:
        query = query.where(Inquiry.office_id == office_id)
    return query


def _seconds_between(session: Session, later: Any, earlier: Any) -> Any:
    """SQL for `later - earlier` in seconds (the two databases spell it differently)."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.extract("epoch", later - earlier)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


def _median(session: Session, query: sa.Select[Any], n: int) -> float | None:
    """The median of the single column `query` selects, over its `n` rows."""
    if n == 0:
        return None
    column = query.selected_columns[0]
    values = session.scalars(
        query.order_by(column).offset((n - 1) // 2).limit(2 if n % 2 == 0 else 1)
    ).all()
    return sum(float(v) for v in values) / len(values)


def _week_bucket(weeks: list[Week]) -> sa.ColumnElement[int]:
    """The index of the week an inquiry was received in (Berlin Mondays, DST included)."""
    whens = [
        (Inquiry.created_at < local_midnight(w.monday + timedelta(days=7)), i)
        for i, w in enumerate(weeks)
    ]
    return sa.case(*whens, else_=len(weeks) - 1)


def firms_counselled(
    session: Session, user: Any, period: Period, office_id: int | None
) -> tuple[int, int, int]:
    """Distinct firms counselled in the period: (all, via activities, via firm inquiries).

    A firm counts once if staff had a call, e-mail or meeting with the organisation in the
    period, or if a firm inquiry was in contact or converted with its first contact in the
    period (before a first contact was recorded: its last change). Firms are told apart by
    their name ignoring case, so a converted firm inquiry and the organisation it became
    count once. Activities count for the offices of the staff member who recorded them;
    users who do not supervise see only their own activities and their scope's inquiries.
    """
    when = Activity.occurred_at
    org_names = (
        sa.select(
            sa.func.lower(sa.func.trim(Organisation.name)).label("name"),
            sa.literal("activity").label("source"),
        )
        .select_from(Activity)
        .join(Organisation, Organisation.id == Activity.organisation_id)
        .where(
            Activity.kind.in_(COUNSELLING_ACTIVITY_KINDS),
            when >= period.since,
            when < period.until,
        )
    )
    if not supervises(user):
        org_names = org_names.where(Activity.user_id == user.id)
    if office_id is not None:
        org_names = org_names.where(Activity.user_id.in_(_office_users([office_id])))
    moment = sa.func.coalesce(Inquiry.first_contact_at, Inquiry.updated_at)
    inquiry_names = _inquiries(
        user,
        office_id,
        sa.func.lower(sa.func.trim(Inquiry.organisation_name)).label("name"),
        sa.literal("inquiry").label("source"),
    ).where(
        Inquiry.kind == "firm",
        Inquiry.status.in_(COUNSELLED_INQUIRY_STATUSES),
        Inquiry.organisation_name != "",
        moment >= period.since,
        moment < period.until,
    )
    # One pass over the activities for all three counts.
    names = sa.union_all(org_names, inquiry_names).subquery()
    all_, via_activities, via_inquiries = session.execute(
        sa.select(
            sa.func.count(sa.distinct(names.c.name)),
            sa.func.count(sa.distinct(sa.case((names.c.source == "activity", names.c.name)))),
            sa.func.count(sa.distinct(sa.case((names.c.source == "inquiry", names.c.name)))),
        )
    ).one()
    return int(all_ or 0), int(via_activities or 0), int(via_inquiries or 0)


def intake_report(
    session: Session, user: Any, period: Period, *, office_id: int | None, now: datetime
) -> IntakeReport:
    """Every figure of the inquiry report for `user`'s scope, one office or all."""
    in_period = (Inquiry.created_at >= period.since, Inquiry.created_at < period.until)
    weeks = period.weeks()
    bucket = _week_bucket(weeks).label("bucket")
    grouped = session.execute(
        _inquiries(user, office_id, bucket, Inquiry.channel, Inquiry.topic, sa.func.count())
        .where(*in_period, _not_spam())
        .group_by(bucket, Inquiry.channel, Inquiry.topic)
    ).all()
    rows = [WeekCounts(w) for w in weeks]
    by_channel = dict.fromkeys(CHANNELS, 0)
    by_topic = dict.fromkeys(TOPICS, 0)
    for index, channel, topic, n in grouped:
        row = rows[int(index)]
        row.total += n
        row.by_channel[channel] = row.by_channel.get(channel, 0) + n
        row.by_topic[topic] = row.by_topic.get(topic, 0) + n
        by_channel[channel] = by_channel.get(channel, 0) + n
        by_topic[topic] = by_topic.get(topic, 0) + n
    total = sum(by_channel.values())

    seconds = _seconds_between(session, Inquiry.first_contact_at, Inquiry.created_at)
    contacted_q = _inquiries(user, office_id, seconds).where(
        *in_period, _not_spam(), Inquiry.first_contact_at.is_not(None)
    )
    in_time = sa.and_(
        Inquiry.first_contact_at.is_not(None),
        Inquiry.first_contact_at <= Inquiry.first_response_due_at,
    )
    is_due = sa.or_(Inquiry.first_contact_at.is_not(None), Inquiry.first_response_due_at < now)
    contacted, due, answered, converted = session.execute(
        _inquiries(
            user,
            office_id,
            sa.func.count(Inquiry.first_contact_at),
            sa.func.count(sa.case((is_due, 1))),
            sa.func.count(sa.case((in_time, 1))),
            sa.func.count(sa.case((Inquiry.status == "converted", 1))),
        ).where(*in_period, _not_spam())
    ).one()
    median = _median(session, contacted_q, int(contacted or 0))

    reasons = session.execute(
        _inquiries(user, office_id, Inquiry.close_reason, sa.func.count())
        .where(*in_period, Inquiry.status == "closed")
        .group_by(Inquiry.close_reason)
    ).all()
    closed_by_reason = {reason: int(n) for reason, n in reasons}
    firms, via_activities, via_inquiries = firms_counselled(session, user, period, office_id)
    return IntakeReport(
        period=period,
        weeks=rows,
        total=total,
        by_channel=by_channel,
        by_topic=by_topic,
        median_hours=median / 3600 if median is not None else None,
        contacted=int(contacted or 0),
        due=int(due or 0),
        answered_in_time=int(answered or 0),
        converted=int(converted or 0),
        closed_by_reason=closed_by_reason,
        spam=closed_by_reason.get("spam", 0),
        firms_counselled=firms,
        firms_from_activities=via_activities,
        firms_from_inquiries=via_inquiries,
    )


# --- the board's tile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    this_week: int
    open: int
    overdue: int
    # Median hours to first contact of the inquiries received in the last 12 weeks.
    median_hours: float | None


def board_tile(session: Session, user: Any, now: datetime) -> Tile:
    """Inquiries received this week, open, overdue, and the recent median first-contact time."""
    monday = local_midnight(week_of(now.astimezone(BERLIN)).monday)
    this_week, open_, overdue = session.execute(
        _inquiries(
            user,
            None,
            sa.func.count(sa.case((sa.and_(Inquiry.created_at >= monday, _not_spam()), 1))),
            sa.func.count(sa.case((Inquiry.status.in_(OPEN_STATUSES), 1))),
            sa.func.count(sa.case((sa.and_(*overdue_condition(now)), 1))),
        )
    ).one()
    recent = preset_period("12w", now.astimezone(BERLIN).date())
    seconds = _seconds_between(session, Inquiry.first_contact_at, Inquiry.created_at)
    contacted_q = _inquiries(user, None, seconds).where(
        Inquiry.created_at >= recent.since,
        _not_spam(),
        Inquiry.first_contact_at.is_not(None),
    )
    n = session.scalar(
        _inquiries(user, None, sa.func.count()).where(
            Inquiry.created_at >= recent.since,
            _not_spam(),
            Inquiry.first_contact_at.is_not(None),
        )
    )
    median = _median(session, contacted_q, int(n or 0))
    return Tile(
        int(this_week or 0),
        int(open_ or 0),
        int(overdue or 0),
        median / 3600 if median is not None else None,
    )
