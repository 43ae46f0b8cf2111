"""The targets board: counts per ISO week, breakdowns, funnel, office scope, no names."""

from __future__ import annotations

import re
from datetime import date
from html import unescape

import pytest

from crm.dashboard import service
from tests.dashboard_helpers import entered_on, make_participant, office_and_counsellor

DEFAULTS = service.Targets(1, 1)


@pytest.fixture
def known(app_ctx):
    """Two offices; entries and exits on known days around New Year and DST."""
    s = app_ctx
    north, anna = office_and_counsellor(s, "Nord-Test")
    south, bert = office_and_counsellor(s, "Süd-Test")
    from crm.contacts.service import save_organisation

    jobcentre = save_organisation(s, {"name": "Jobcenter Testhausen", "kind": "jobcentre"})
    people = {
        # 29.12.2025 is in 2026-W01
        "a": entered_on(
            s,
            date(2025, 12, 29),
            office=north,
            counsellor=anna,
            last_name="Aalund",
            first_contact_on=date(2025, 12, 1),
            acquisition_channel="jobcentre_agency",
            referrer=jobcentre,
        ),
        # 31.12.2026 is in 2026-W53
        "b": entered_on(
            s,
            date(2026, 12, 31),
            office=north,
            counsellor=anna,
            last_name="Bergqvist",
            first_contact_on=date(2026, 11, 2),
        ),
        # Sunday 29.03.2026 (DST starts) is W13, Monday 30.03. is W14
        "c": entered_on(
            s,
            date(2026, 3, 29),
            office=south,
            counsellor=bert,
            last_name="Castellano",
            first_contact_on=date(2026, 3, 1),
            acquisition_channel="jobcentre_agency",
            referrer=jobcentre,
            exit_on=date(2026, 3, 30),
            outcome="employment",
        ),
        # entered in 2027-W01: not in 2026
        "d": entered_on(
            s,
            date(2027, 1, 4),
            office=south,
            counsellor=bert,
            last_name="Dimitrova",
            first_contact_on=date(2026, 12, 1),
        ),
        # contact and a short session in 2026, never entered
        "e": make_participant(
            s,
            office=south,
            counsellor=bert,
            last_name="Eriksen",
            first_contact_on=date(2026, 2, 2),
            sessions=((date(2026, 2, 3), 60),),
        ),
    }
    # Half an entry and half an exit a week each: the project's weekly target sums to 1.
    for office in (north, south):
        office.weekly_entries = office.weekly_exits = 0.5
    s.flush()
    return {
        "north": north,
        "south": south,
        "anna": anna,
        "bert": bert,
        "p": people,
        "org": jobcentre,
    }


def _week(board, n):
    return board.weeks[n - 1]


def test_the_board_counts_entries_and_exits_in_their_iso_weeks(known, app_ctx):
    board = service.build_board(
        app_ctx, year=2026, today=date(2027, 1, 3), offices=None, defaults=DEFAULTS
    )
    assert len(board.weeks) == 53
    assert _week(board, 1).entries == 1  # 29.12.2025
    assert _week(board, 53).entries == 1  # 31.12.2026
    assert _week(board, 13).entries == 1
    assert _week(board, 13).exits == 0
    assert _week(board, 14).exits == 1
    assert board.entries == 3
    assert board.exits == 1
    assert _week(board, 53).cumulative_entries == 3
    assert board.year_target_entries == 53
    assert board.weeks_elapsed == 53
    assert board.ytd_target_entries == 53


def test_the_year_to_date_target_counts_the_weeks_begun(known, app_ctx):
    # Wednesday of week 14: 14 weeks have begun.
    board = service.build_board(
        app_ctx, year=2026, today=date(2026, 4, 1), offices=None, defaults=DEFAULTS
    )
    assert board.weeks_elapsed == 14
    assert board.ytd_target_entries == 14
    assert _week(board, 14).is_current
    assert _week(board, 15).is_future
    data = board.chart_data()
    assert len(data["labels"]) == 53
    assert len(data["entries"]) == 14
    assert data["target_entries"][:3] == [1, 2, 3]


def test_the_weekly_target_is_the_sum_of_the_active_offices_targets(known, app_ctx):
    known["north"].weekly_entries = 2
    app_ctx.flush()
    board = service.build_board(
        app_ctx, year=2026, today=date(2027, 1, 3), offices=None, defaults=DEFAULTS
    )
    assert board.targets.entries_per_week == 2.5
    assert board.targets.exits_per_week == 1
    assert board.year_target_entries == 132.5
    assert not _week(board, 1).entries_met


def test_a_deactivated_office_leaves_the_summed_target(known, app_ctx):
    known["north"].weekly_entries = 2
    known["south"].is_active = False
    app_ctx.flush()
    board = service.build_board(
        app_ctx, year=2026, today=date(2027, 1, 3), offices=None, defaults=DEFAULTS
    )
    assert board.targets == service.Targets(2, 0.5)
    # Its participants still count.
    assert board.entries == 3


def test_the_office_filter_shows_that_offices_own_target(known, app_ctx):
    known["south"].weekly_entries = 3
    app_ctx.flush()
    board = service.build_board(
        app_ctx, year=2026, today=date(2027, 1, 3), offices=[known["south"].id], defaults=DEFAULTS
    )
    assert board.targets == service.Targets(3, 0.5)


def test_without_any_office_the_configured_defaults_apply(app_ctx):
    board = service.build_board(
        app_ctx,
        year=2026,
        today=date(2027, 1, 3),
        offices=None,
        defaults=service.Targets(2, 1),
    )
    assert board.targets == service.Targets(2, 1)
    assert board.year_target_entries == 106


def test_breakdowns_show_which_channels_and_organisations_bring_entries(known, app_ctx):
    board = service.build_board(
        app_ctx, year=2026, today=date(2027, 1, 3), offices=None, defaults=DEFAULTS
    )
    channels = {b.key: b for b in board.by_channel}
    assert channels["jobcentre_agency"].entries == 2
    assert channels["jobcentre_agency"].exits_employment == 1
    assert channels["job_fair"].entries == 1
    referrers = {b.key: b for b in board.by_referrer}
    assert referrers[known["org"].id].entries == 2
    assert referrers[known["org"].id].label == "Jobcenter Testhausen"
    offices = {b.key: b for b in board.by_office}
    assert offices[known["north"].id].entries == 2
    assert offices[known["south"].id].entries == 1
    counsellors = {b.key: b for b in board.by_counsellor}
    assert counsellors[known["anna"].id].entries == 2


def test_the_funnel_follows_the_years_first_contacts(known, app_ctx):
    board = service.build_board(
        app_ctx, year=2026, today=date(2027, 1, 3), offices=None, defaults=DEFAULTS
    )
    f = board.funnel
    # First contacts in 2026-W01..W53: b, c, d, e (a's was 01.12.2025, in 2025-W49).
    assert (f.first_contact, f.first_session, f.entry, f.exit_employment) == (4, 4, 3, 1)


def test_the_office_filter_restricts_every_number(known, app_ctx):
    board = service.build_board(
        app_ctx, year=2026, today=date(2027, 1, 3), offices=[known["south"].id], defaults=DEFAULTS
    )
    assert board.entries == 1
    assert board.exits == 1
    assert {b.key for b in board.by_office} == {known["south"].id}


def test_a_counsellor_sees_their_own_office_and_cannot_widen_it(known):
    anna = known["anna"]
    allowed = service.board_offices(anna)
    assert allowed == [known["north"].id]
    assert service.effective_offices(allowed, known["south"].id) == []
    staff = type("U", (), {"role": "staff", "office_id": None})()
    assert service.board_offices(staff) is None


def _page(client, **params):
    response = client.get("/auswertung/", query_string=params)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _total_entries(html: str) -> int:
    """The board's "entries this year", a link to the list for those who may open it."""
    found = re.search(r'id="total-entries">(?:<a [^>]*>)?(\d+)<', html)
    assert found
    return int(found.group(1))


def test_a_counsellor_sees_only_their_offices_numbers_on_the_page(known, client_as, db_session):
    c = client_as("counsellor", office=known["north"])
    html = _page(c, jahr=2026)
    assert _total_entries(html) == 2
    html = _page(c, jahr=2026, geschaeftsstelle=known["south"].id)
    assert _total_entries(html) == 0
    assert "Süd-Test" not in html


def test_leads_see_all_offices(known, client_as):
    c = client_as("lead")
    html = _page(c, jahr=2026)
    assert _total_entries(html) == 3
    assert "Nord-Test" in html
    assert "Süd-Test" in html
    assert 'id="targets-form"' in html


@pytest.mark.parametrize("role", ["staff", "readonly"])
def test_staff_and_read_only_see_aggregates_but_no_participant_names(known, client_as, role):
    c = client_as(role)
    html = _page(c, jahr=2026)
    assert 'id="total-entries">3<' in html
    for p in known["p"].values():
        assert p.last_name not in html
    assert "pseudonymised-csv" not in html
    assert 'id="targets-form"' not in html
    report = c.get("/auswertung/jahresbericht?jahr=2026").get_data(as_text=True)
    for p in known["p"].values():
        assert p.last_name not in report
    assert c.get("/auswertung/pseudonymisiert.csv?jahr=2026").status_code == 403
    assert (
        c.post("/auswertung/ziele", data={"jahr": 2026, "entries": 3, "exits": 1}).status_code
        == 403
    )


def test_the_board_uses_a_constant_number_of_queries(known, app_ctx, count_queries):
    with count_queries() as statements:
        service.build_board(
            app_ctx, year=2026, today=date(2027, 1, 3), offices=None, defaults=DEFAULTS
        )
    assert 0 < len(statements) <= 12


def test_setting_targets_through_the_page(known, client_as, db_session):
    c = client_as("lead")
    north, south = known["north"].id, known["south"].id
    data = {"jahr": 2026, f"entries_{north}": "2,5", f"exits_{north}": "1"}
    data |= {f"entries_{south}": "1", f"exits_{south}": "0"}
    r = c.post("/auswertung/ziele", data=data)
    assert r.status_code == 302
    html = _page(c, jahr=2026)
    assert 'value="2,5"' in html
    # The board shows the sum of both offices as the weekly target; the figure after the word
    # reads right for 1 and for 3,5 alike ("1 Austritte" was wrong).
    assert "Ziel pro Woche: Eintritte 3,5, Austritte 1" in html


def _row(html: str, week_label: str) -> str:
    match = re.search(rf'<tr id="week-{week_label}".*?</tr>', html, re.S)
    assert match, week_label
    return match.group(0)


@pytest.mark.usefixtures("frozen_time")
def test_the_board_writes_figures_the_german_way_and_says_met_or_missed_in_words(known, client_as):
    html = _page(client_as("lead"), jahr=2026)

    first, second = _row(html, "2026-W01"), _row(html, "2026-W02")
    # One entry against a target of 1 in week 1, none in week 2; targets to date 1,0 and 2,0.
    assert ">1,0<" in first
    assert ">2,0<" in second
    assert "1.0" not in first
    assert 'data-met="yes"' in first
    assert "Wochenziel erreicht" in first
    assert 'data-met="no"' in second
    assert "Wochenziel verfehlt" in second
    assert re.search(r"Ziel bis heute: \d+,\d", html)


def test_with_a_project_start_the_targets_count_from_its_week(known, app_ctx):
    # Project start Wednesday 04.11.2026 (W45): W45..W47 count by 21.11.2026, the weeks before
    # have no target and are neither met nor missed.
    board = service.build_board(
        app_ctx,
        year=2026,
        today=date(2026, 11, 21),
        offices=None,
        defaults=DEFAULTS,
        project_start=date(2026, 11, 4),
    )
    assert board.weeks_elapsed == 3
    assert board.ytd_target_entries == 3
    assert board.year_target_entries == 9  # W45..W53
    assert board.counted_from == date(2026, 11, 4)
    assert [w.week.week for w in board.weeks if not w.before_term][:1] == [45]
    assert _week(board, 44).before_term
    assert _week(board, 44).target_entries == 0
    assert _week(board, 45).target_entries == 1
    # Entries before the start still count as entries.
    assert board.entries == 3


def test_a_project_start_before_the_year_changes_nothing(known, app_ctx):
    plain = service.build_board(
        app_ctx, year=2026, today=date(2027, 1, 3), offices=None, defaults=DEFAULTS
    )
    started = service.build_board(
        app_ctx,
        year=2026,
        today=date(2027, 1, 3),
        offices=None,
        defaults=DEFAULTS,
        project_start=date(2025, 6, 1),
    )
    assert started.ytd_target_entries == plain.ytd_target_entries == 53
    assert started.counted_from is None
    assert not any(w.before_term for w in started.weeks)


def test_weeks_after_the_project_end_are_neither_missed_nor_in_the_targets(known, app_ctx):
    # Term 04.11. (W45) to Wednesday 18.11.2026 (W47); three weeks later the board still
    # expects three weeks' entries and exits, not six.
    board = service.build_board(
        app_ctx,
        year=2026,
        today=date(2026, 12, 10),
        offices=None,
        defaults=DEFAULTS,
        project_start=date(2026, 11, 4),
        project_end=date(2026, 11, 18),
    )
    assert board.weeks_elapsed == 3
    assert board.ytd_target_entries == board.ytd_target_exits == 3
    assert board.year_target_entries == 3
    assert board.counted_until == date(2026, 11, 18)
    assert not _week(board, 47).after_term
    assert _week(board, 48).after_term
    assert _week(board, 50).target_entries == 3
    # Entries after the end still count as entries.
    assert board.entries == 3


def test_a_project_end_after_the_year_changes_nothing(known, app_ctx):
    board = service.build_board(
        app_ctx,
        year=2026,
        today=date(2027, 1, 3),
        offices=None,
        defaults=DEFAULTS,
        project_end=date(2027, 1, 3),  # the last Sunday of 2026-W53
    )
    assert board.year_target_entries == 53
    assert board.counted_until is None
    assert not any(w.after_term for w in board.weeks)


def test_every_count_of_the_board_opens_the_participant_list_with_as_many_entries(known, client_as):
    c = client_as("lead")
    html = unescape(_page(c, jahr=2026))
    links = re.findall(r'<a href="(/teilnehmende/\?[^"]+)">(\d+)</a>', html)
    # The year's entries and exits, the weeks', and the breakdowns' rows.
    assert len(links) >= 12
    assert ("/teilnehmende/?kennzahl=eintritt&von=2025-12-29&bis=2027-01-03", "3") in links
    north = known["north"].id
    assert (
        "/teilnehmende/?kennzahl=austritt&von=2025-12-29&bis=2027-01-03"
        f"&geschaeftsstelle={known['south'].id}&verbleib=employment",
        "1",
    ) in links
    assert any(f"geschaeftsstelle={north}" in href for href, _n in links)
    for href, n in links:
        listed = c.get(href).get_data(as_text=True)
        assert f'id="participant-count">{n} Teilnehmende' in listed, href


def test_the_board_numbers_stay_plain_for_those_who_may_not_open_the_list(known, client_as):
    html = _page(client_as("staff"), jahr=2026)
    assert "/teilnehmende/?" not in html


def test_each_office_shows_its_target_to_date_next_to_its_counts(known, client_as, frozen_time):
    html = _page(client_as("lead"), jahr=2026)
    table = html.split('id="by-office"')[1].split("</table>")[0]
    row = table.split(f'data-key="{known["north"].id}"')[1].split("</tr>")[0]
    # 21.11.2026 is in week 47: 47 weeks of half an entry and half an exit.
    assert 'data-col="target_entries">23,5<' in row
    assert 'data-col="target_exits">23,5<' in row
    assert "Ziel Eintritte bisher" in table
