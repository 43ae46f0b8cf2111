"""Every linked number of the funder report equals the count of the list it links to.

A property test over random participants and periods: the report is built, every link of
`report_links` is followed through the list's own parsing (`filters_from` on the link's query
string) and list service, as an admin who sees every office, and the list's total must be the
number. This catches the report and the lists disagreeing about period bounds, "not stated",
the age group or the placements counted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from crm.dashboard import funder, funder_views
from crm.events import figures as event_figures
from crm.participants import service as participant_service
from crm.participants import views as participant_views
from crm.participants.erasure import PARTICIPANT_PERSONAL_FIELDS
from crm.participants.models import (
    ACQUISITION_CHANNELS,
    EXIT_OUTCOMES,
    GENDERS,
    RECOGNITION_STATUSES,
)
from crm.placements import service as placement_service
from crm.placements import views as placement_views
from crm.placements.models import PLACEMENT_KINDS, PLACEMENT_STATUSES, Placement
from tests import factories
from tests.dashboard_helpers import make_participant, office_and_counsellor

NOW = datetime(2027, 6, 1, 10, 0, tzinfo=UTC)
TODAY = date(2027, 6, 1)
BASE = date(2026, 1, 1)
# Countries as typed: empty ("not stated"), with an apostrophe, an ampersand, another case.
COUNTRIES = ("", "Syrien", "syrien", "Côte d'Ivoire", "Bosnien & Herzegowina", "Ukraine")


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    """A period and participants whose dates fall often on and next to its first and last day."""
    start = BASE + timedelta(days=draw(st.integers(-100, 300)))
    end = start + timedelta(days=draw(st.sampled_from((0, 1, 30, 181, 364, 1200))))
    edges = [start - timedelta(days=1), start, end, end + timedelta(days=1)]
    day = st.one_of(
        st.sampled_from(edges),
        st.integers(-200, 500).map(lambda d: BASE + timedelta(days=d)),
    )
    person = st.fixed_dictionaries(
        {
            "office": st.integers(0, 2),
            "counsellor": st.integers(0, 2),
            "gender": st.sampled_from(("", *GENDERS)),
            "birth_year": st.none() | st.integers(1955, 2008),
            "country": st.sampled_from(COUNTRIES),
            "channel": st.sampled_from(ACQUISITION_CHANNELS),
            "referrer": st.none() | st.integers(0, 1),
            "recognition": st.sampled_from(RECOGNITION_STATUSES),
            "first": day,
            "sessions": st.lists(
                st.tuples(day, st.sampled_from((60, 240, 481))), min_size=0, max_size=3
            ),
            "exit": st.none() | st.tuples(day, st.sampled_from(("", *EXIT_OUTCOMES))),
            # Erased: the anonymous row stays and the report counts it; the lists cannot
            # show it and say how many such records match instead.
            "erased": st.booleans(),
            "placements": st.lists(
                st.tuples(
                    st.sampled_from(PLACEMENT_KINDS), st.sampled_from(PLACEMENT_STATUSES), day
                ),
                max_size=2,
            ),
        }
    )
    return {
        "period": funder.Period(start, end),
        "people": draw(st.lists(person, min_size=1, max_size=8)),
    }


def _build(s: Any, people: list[dict[str, Any]]) -> None:
    teams = [office_and_counsellor(s) for _ in range(3)]
    firms = [factories.make_org(s, name=f"Zuweiser {i}") for i in range(2)]
    for spec in people:
        office = teams[spec["office"]][0]
        counsellor = teams[spec["counsellor"]][1]
        referrer = firms[spec["referrer"]] if spec["referrer"] is not None else None
        first = min([spec["first"], *(d for d, _ in spec["sessions"])])
        exit_on, outcome = spec["exit"] or (None, "")
        p = make_participant(
            s,
            office=office,
            counsellor=counsellor,
            first_contact_on=first,
            sessions=tuple(spec["sessions"]),
            exit_on=max(exit_on, first) if exit_on else None,
            outcome=outcome,
            referrer=referrer,
            gender=spec["gender"],
            birth_year=spec["birth_year"],
            country_of_origin=spec["country"],
            acquisition_channel=spec["channel"],
            recognition_status=spec["recognition"],
        )
        for kind, status, starts_on in spec["placements"]:
            s.add(
                Placement(
                    participant_id=p.id,
                    organisation_id=firms[0].id,
                    kind=kind,
                    status=status,
                    starts_on=starts_on,
                    ends_on=starts_on + timedelta(days=90) if kind == "internship" else None,
                )
            )
        if spec["erased"]:
            # What the erasure does to the row (crm.participants.erasure).
            for name, value in PARTICIPANT_PERSONAL_FIELDS.items():
                setattr(p, name, value)
            p.erased_at = NOW
    s.flush()


def _number(report: funder.FunderReport, key: tuple[Any, ...]) -> int:
    """The number the report shows in the cell of `key` (the keys of report_links)."""
    section = key[0]
    if section == "total":
        name = {"events": "events_held", "attended": "event_attended"}.get(key[1], key[1])
        return int(getattr(report, name))
    if section == "outcome":
        return report.exits_by_outcome[key[1]]
    if section == "placement":
        return report.placements_by_kind[key[1]]
    _by, dim, row_key, col = key
    row = next(r for r in report.breakdowns[dim] if r.key == row_key)
    return int(getattr(row, col))


def _listed(s: Any, admin: Any, url: str) -> int:
    """The total of the list behind `url`, read as its view reads the query string, plus the
    erased records it reports as counted but not listed."""
    parts = urlsplit(url)
    args = MultiDict(parse_qsl(parts.query, keep_blank_values=True))
    if parts.path == "/teilnehmende/":
        filters = participant_views.filters_from(args)
        total = participant_service.list_participants(s, admin, filters, TODAY, per_page=1)[1]
        return total + participant_service.count_erased(s, admin, filters, TODAY)
    assert parts.path == "/teilnehmende/vermittlungen/", url
    placements = placement_views.filters_from(args)
    total = placement_service.list_placements(s, admin, placements, per_page=1)[1]
    return total + placement_service.count_erased_placements(s, admin, placements)


def _event_figures(s: Any, url: str) -> event_figures.FiguresReport:
    """The totals of the events' figures page for the period in `url`."""
    args = MultiDict(parse_qsl(urlsplit(url).query))
    period = event_figures.checked_period(
        date.fromisoformat(args["von"]), date.fromisoformat(args["bis"])
    )
    return event_figures.past_event_figures(s, period, now=NOW)


@settings(max_examples=30)
@given(scenario=scenarios())
def test_every_linked_number_equals_the_total_of_its_list(app_ctx, scenario):
    s = app_ctx
    savepoint = s.begin_nested()
    try:
        _build(s, scenario["people"])
        admin = factories.make_user(s, role="admin")
        report = funder.funder_report(s, scenario["period"], user=admin, now=NOW)
        links = funder_views.report_links(report, may_list=True, may_events=True)
        # Every cell of the breakdowns and every participant, placement and event total links.
        for dim, rows in report.breakdowns.items():
            for row in rows:
                for col in ("counselled", "entries", "exits"):
                    assert ("by", dim, row.key, col) in links
        for key, url in links.items():
            if key[0] == "total" and key[1] in ("events", "attended"):
                continue  # the events' figures page: checked below
            assert _listed(s, admin, url) == _number(report, key), (key, url)
        if ("total", "events") in links:
            events = _event_figures(s, links[("total", "events")])
            assert len(events.events) == report.events_held
            assert events.totals.attended == report.event_attended
    finally:
        savepoint.rollback()


def test_the_events_figures_are_linked_only_for_periods_that_page_can_show(app_ctx):
    admin = factories.make_user(app_ctx, role="admin")
    short = funder.funder_report(
        app_ctx, funder.Period(date(2026, 1, 1), date(2026, 12, 31)), user=admin, now=NOW
    )
    long = funder.funder_report(
        app_ctx, funder.Period(date(2020, 1, 1), date(2026, 12, 31)), user=admin, now=NOW
    )
    assert ("total", "events") in funder_views.report_links(short, may_list=True, may_events=True)
    assert ("total", "events") not in funder_views.report_links(
        long, may_list=True, may_events=True
    )
    # Without the right to list participants, only the events' page is linked.
    assert set(funder_views.report_links(short, may_list=False, may_events=True)) == {
        ("total", "events"),
        ("total", "attended"),
    }


filter_values = st.fixed_dictionaries(
    {
        "q": st.sampled_from(("", "Ana")),
        "office_id": st.none() | st.integers(1, 5),
        "counsellor_id": st.none() | st.integers(1, 5),
        "period_kind": st.sampled_from(participant_service.PERIOD_KINDS),
        "outcomes": st.lists(st.sampled_from(("", *EXIT_OUTCOMES)), unique=True, max_size=3).map(
            tuple
        ),
        "channel": st.none() | st.sampled_from(ACQUISITION_CHANNELS),
        "referrer_id": st.none() | st.integers(1, 5),
        "gender": st.none() | st.sampled_from(GENDERS),
        "age_group": st.none() | st.sampled_from(participant_service.AGE_GROUPS),
        "country": st.none() | st.sampled_from(COUNTRIES[1:]),
        "recognition": st.none() | st.sampled_from(RECOGNITION_STATUSES),
        "not_stated": st.lists(
            st.sampled_from(participant_service.GROUPS), unique=True, max_size=2
        ).map(lambda gs: tuple(g for g in participant_service.GROUPS if g in gs)),
    }
)


@pytest.mark.usefixtures("app_ctx")
@settings(max_examples=50)
@given(values=filter_values)
def test_the_lists_query_string_reads_back_as_the_same_filters(values):
    if values["period_kind"] != "exited":
        values["outcomes"] = ()
    # "Not stated" wins over a value of the same breakdown: the query string holds only it.
    for group in values["not_stated"]:
        values[{"referrer": "referrer_id"}.get(group, group)] = None
    filters = participant_service.ParticipantFilters(
        period_from=date(2026, 1, 1), period_to=date(2026, 6, 30), **values
    )
    pairs = participant_views.query_pairs(participant_views.list_args(filters))
    assert participant_views.filters_from(MultiDict(pairs)) == filters
