"""ISO weeks in Europe/Berlin around New Year and the daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm.dashboard.weeks import local_date, week_of, weeks_in_year, year_span, year_weeks


@pytest.mark.parametrize(
    ("day", "label"),
    [
        (date(2026, 12, 31), "2026-W53"),
        (date(2027, 1, 1), "2026-W53"),
        (date(2027, 1, 3), "2026-W53"),
        (date(2027, 1, 4), "2027-W01"),
        (date(2025, 12, 29), "2026-W01"),
        (date(2025, 12, 28), "2025-W52"),
        (date(2026, 1, 1), "2026-W01"),
    ],
)
def test_a_date_belongs_to_its_iso_week_year_around_new_year(day, label):
    assert week_of(day).label == label


def test_2026_has_53_weeks_and_its_span_runs_monday_to_sunday():
    assert weeks_in_year(2026) == 53
    assert weeks_in_year(2027) == 52
    start, end = year_span(2026)
    assert start == date(2025, 12, 29)
    assert end == date(2027, 1, 4)
    weeks = year_weeks(2026)
    assert weeks[0].monday == start
    assert weeks[-1].sunday == date(2027, 1, 3)


def test_a_moment_late_on_sunday_night_in_berlin_is_still_in_that_week_across_dst():
    # 29.03.2026: clocks go forward. Sunday 23:30 CEST is 21:30 UTC, still week 13;
    # Monday 00:30 CEST (22:30 UTC on Sunday) is week 14.
    assert week_of(datetime(2026, 3, 29, 21, 30, tzinfo=UTC)).label == "2026-W13"
    assert week_of(datetime(2026, 3, 29, 22, 30, tzinfo=UTC)).label == "2026-W14"
    # 25.10.2026: clocks go back. Sunday 23:30 CET is 22:30 UTC, week 43; Monday 00:30 CET
    # is 23:30 UTC on Sunday, week 44.
    assert week_of(datetime(2026, 10, 25, 22, 30, tzinfo=UTC)).label == "2026-W43"
    assert week_of(datetime(2026, 10, 25, 23, 30, tzinfo=UTC)).label == "2026-W44"


def test_new_year_night_in_berlin_belongs_to_the_local_date():
    # 31.12.2026 23:30 UTC is already 01.01.2027 in Berlin; both days are in 2026-W53.
    assert local_date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2027, 1, 1)
    assert week_of(datetime(2027, 1, 3, 23, 30, tzinfo=UTC)).label == "2027-W01"
