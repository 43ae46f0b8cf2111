"""ISO weeks in Europe/Berlin: which week a moment or a date belongs to, a year's weeks.

The board counts per ISO week (Monday to Sunday). Around New Year the ISO week-year differs
from the calendar year (31.12.2026 is in 2026-W53, 01.01.2027 too; 29.12.2025 is in 2026-W01),
so a "year" on the board is an ISO week-year: from the Monday of its week 1 to the Sunday of
its last week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class Week:
    year: int
    week: int
    monday: date

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"


def local_date(moment: datetime) -> date:
    """The Berlin calendar date of an aware moment."""
    return moment.astimezone(BERLIN).date()


def week_of(day: date | datetime) -> Week:
    """The ISO week of a date, or of an aware moment taken in Berlin time."""
    if isinstance(day, datetime):
        day = local_date(day)
    iso = day.isocalendar()
    return Week(iso.year, iso.week, day - timedelta(days=iso.weekday - 1))


def weeks_in_year(year: int) -> int:
    """52 or 53: the ISO week of 28 December is always the year's last."""
    return date(year, 12, 28).isocalendar().week


def year_weeks(year: int) -> list[Week]:
    """Every ISO week of a week-year, in order."""
    first = date.fromisocalendar(year, 1, 1)
    return [
        Week(year, n, first + timedelta(weeks=n - 1)) for n in range(1, weeks_in_year(year) + 1)
    ]


def year_span(year: int) -> tuple[date, date]:
    """First day (Monday of W01) and the day after the last day of an ISO week-year."""
    return date.fromisocalendar(year, 1, 1), date.fromisocalendar(year + 1, 1, 1)


def local_midnight(day: date) -> datetime:
    """The UTC moment at which a Berlin calendar day begins (23:00 or 22:00 UTC before)."""
    return datetime.combine(day, time(0), tzinfo=BERLIN).astimezone(UTC)


def week_index(day: date, year: int) -> int | None:
    """1-based week number of `day` within ISO week-year `year`, or None outside it."""
    iso = day.isocalendar()
    return iso.week if iso.year == year else None
