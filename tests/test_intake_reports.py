"""Inquiry report: weekly counts by channel and topic, first-contact time, deadline share,
conversion, closing reasons and firms counselled from a known data set; its XLSX, the board's
tile and who sees which figures."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from crm.audit.models import AuditEntry
from crm.contacts.models import Activity
from crm.intake import reports
from crm.intake.models import Inquiry
from tests import factories

PERIOD = reports.Period(date(2026, 10, 5), date(2026, 11, 1))  # ISO weeks 41 to 44
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _berlin(day: int, month: int, hour: int, minute: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(2026, month, day, hour, minute, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(
        UTC
    )


def _inquiry(
    session: Any,
    office: Any,
    created: datetime,
    *,
    channel: str = "web",
    topic: str = "job",
    contact_after_hours: float | None = None,
    status: str | None = None,
    close_reason: str = "",
    kind: str = "person",
    organisation_name: str = "",
    assigned_to: Any = None,
) -> Inquiry:
    contacted = (
        created + timedelta(hours=contact_after_hours) if contact_after_hours is not None else None
    )
    inquiry = Inquiry(
        kind=kind,
        topic=topic,
        office_id=office.id,
        name="Anfragende Person",
        organisation_name=organisation_name,
        channel=channel,
        status=status or ("in_contact" if contacted else "assigned"),
        close_reason=close_reason,
        first_response_due_at=created + timedelta(hours=48),
        first_contact_at=contacted,
        assigned_to_id=assigned_to.id if assigned_to else None,
        created_at=created,
        updated_at=contacted or created,
        # A converted inquiry carries the moment of its conversion (a CHECK demands it).
        converted_at=(contacted or created) if status == "converted" else None,
    )
    session.add(inquiry)
    return inquiry


@pytest.fixture
def known(db_session: Any) -> dict[str, Any]:
    """Nine inquiries in the period (one spam, one of office B), two outside; four activities."""
    a = factories.make_office(db_session, "Magdeburg")
    b = factories.make_office(db_session, "Burg")
    lead = factories.make_user(db_session, role="lead", office=a)
    counsellor = factories.make_user(db_session, role="counsellor", office=a)
    s = db_session
    _inquiry(
        s, a, _berlin(5, 10, 9), topic="recognition", contact_after_hours=2, assigned_to=counsellor
    )
    _inquiry(
        s, a, _berlin(6, 10, 10), channel="hotline", contact_after_hours=10, status="converted"
    )
    # Sunday night of the week daylight saving time ends: still week 43 in Berlin.
    _inquiry(s, a, _berlin(25, 10, 23, 30), contact_after_hours=30, status="converted")
    _inquiry(s, a, _berlin(19, 10, 9), topic="recognition")
    _inquiry(
        s,
        a,
        _berlin(14, 10, 9),
        channel="hotline",
        topic="qualification",
        status="closed",
        close_reason="not_eligible",
    )
    _inquiry(s, a, _berlin(26, 10, 9), topic="other", status="closed", close_reason="spam")
    _inquiry(
        s,
        a,
        _berlin(26, 10, 9),
        channel="email",
        contact_after_hours=100,
        kind="firm",
        organisation_name=" muster gmbh",
    )
    _inquiry(s, a, _berlin(28, 9, 9))  # before the period
    _inquiry(s, a, _berlin(2, 11, 0, 30))  # after it (Sunday 23:30 UTC)
    _inquiry(s, b, _berlin(13, 10, 9), topic="recognition")
    for pending in s.new:
        if isinstance(pending, Inquiry) and pending.assigned_to_id is None:
            pending.assigned_to_id = lead.id
    muster = factories.make_org(s, name="Muster GmbH")
    beispiel = factories.make_org(s, name="Beispiel AG")
    noted = factories.make_org(s, name="Notiz KG")
    old = factories.make_org(s, name="Alt AG")
    for org, kind, when in (
        (muster, "call", _berlin(27, 10, 10)),
        (beispiel, "meeting", _berlin(10, 10, 10)),
        (noted, "note", _berlin(10, 10, 10)),
        (old, "call", _berlin(1, 9, 10)),
    ):
        s.add(Activity(kind=kind, occurred_at=when, organisation_id=org.id, user_id=lead.id))
    s.flush()
    return {"a": a, "b": b, "lead": lead, "counsellor": counsellor}


def test_the_report_counts_weeks_by_channel_and_topic_in_berlin_time_without_spam(app_ctx, known):
    r = reports.intake_report(app_ctx, known["lead"], PERIOD, office_id=None, now=NOW)
    assert [w.week.label for w in r.weeks] == ["2026-W41", "2026-W42", "2026-W43", "2026-W44"]
    assert [w.total for w in r.weeks] == [2, 2, 2, 1]
    assert [w.by_channel for w in r.weeks] == [
        {"web": 1, "hotline": 1},
        {"hotline": 1, "web": 1},
        {"web": 2},
        {"email": 1},
    ]
    assert r.total == 7
    assert r.by_channel == {"web": 4, "hotline": 2, "email": 1, "other": 0}
    assert {k: v for k, v in r.by_topic.items() if v} == {
        "recognition": 3,
        "job": 3,
        "qualification": 1,
    }
    assert r.spam == 1


def test_median_first_contact_deadline_share_conversion_and_reasons(app_ctx, known):
    r = reports.intake_report(app_ctx, known["lead"], PERIOD, office_id=None, now=NOW)
    # Contacted after 2, 10, 30 and 100 hours: the median is the mean of the middle two.
    assert r.median_hours == pytest.approx(20.0)
    assert (r.contacted, r.due, r.answered_in_time) == (4, 7, 3)
    assert r.converted == 2
    assert r.conversion_rate == pytest.approx(2 / 7)
    assert r.closed_by_reason == {"not_eligible": 1, "spam": 1}


def test_firms_counselled_count_activities_and_firm_inquiries_once_per_firm(app_ctx, known):
    r = reports.intake_report(app_ctx, known["lead"], PERIOD, office_id=None, now=NOW)
    # Muster GmbH (call and firm inquiry, counted once) and Beispiel AG (meeting); a note
    # and a call before the period do not count.
    assert (r.firms_counselled, r.firms_from_activities, r.firms_from_inquiries) == (2, 2, 1)


def test_the_office_filter_narrows_every_figure(app_ctx, known):
    r = reports.intake_report(app_ctx, known["lead"], PERIOD, office_id=known["b"].id, now=NOW)
    assert r.total == 1
    assert r.by_topic["recognition"] == 1
    assert r.firms_counselled == 0
    r = reports.intake_report(app_ctx, known["lead"], PERIOD, office_id=known["a"].id, now=NOW)
    assert r.total == 6
    assert r.firms_counselled == 2


def test_a_counsellor_counts_only_the_inquiries_of_their_scope(app_ctx, known):
    r = reports.intake_report(app_ctx, known["counsellor"], PERIOD, office_id=None, now=NOW)
    assert r.total == 1
    assert r.median_hours == pytest.approx(2.0)
    assert r.firms_counselled == 0


def test_an_empty_period_shows_no_median_and_no_rates(app_ctx, known):
    empty = reports.Period(date(2025, 1, 6), date(2025, 1, 12))
    r = reports.intake_report(app_ctx, known["lead"], empty, office_id=None, now=NOW)
    assert (r.total, r.median_hours, r.conversion_rate, r.in_time_share) == (0, None, None, None)


def test_presets_end_today_and_twelve_weeks_start_on_a_monday():
    today = date(2026, 12, 3)
    assert reports.preset_period("12w", today) == reports.Period(date(2026, 9, 14), today)
    assert reports.preset_period("100d", today).days == 100
    assert reports.preset_period("quarter", today).start == date(2026, 10, 1)
    assert reports.preset_period("year", today).start == date(2026, 1, 1)


def test_the_page_shows_the_figures_and_states_the_firms_definition(client_as, known):
    lead = client_as("lead")
    page = lead.get("/anfragen/auswertung?von=2026-10-05&bis=2026-11-01")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert (
        'data-key="total"><th scope="row" class="fw-normal">Anfragen</th><td class="text-end">7<'
        in html
    )
    assert 'id="firms-definition"' in html
    assert "2026-W43" in html
    queue = lead.get("/anfragen/").get_data(as_text=True)
    assert 'href="/anfragen/auswertung"' in queue


@pytest.mark.parametrize(
    "query",
    [
        "von=gestern&bis=2026-13-45",
        "von=2026-11-01&bis=2026-10-01",
        "von=1990-01-01&bis=2026-01-01",
        "von=0001-01-01",
        "stelle=abc&zeitraum=unbekannt",
    ],
)
def test_bad_period_input_gives_a_german_message_and_keeps_what_was_typed(
    client_as, db_session, query
):
    page = client_as("lead").get(f"/anfragen/auswertung?{query}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    if "von=" in query:
        assert 'id="period-error"' in html
        typed = query.split("&")[0].split("=", 1)[1]
        assert f'value="{typed}"' in html
    xlsx = client_as("admin").get(f"/anfragen/auswertung.xlsx?{query}")
    assert xlsx.status_code == 200


def test_read_only_users_get_no_report_and_no_tile(client_as, db_session):
    readonly = client_as("readonly")
    assert readonly.get("/anfragen/auswertung").status_code == 403
    assert readonly.get("/anfragen/auswertung.xlsx").status_code == 403
    board = readonly.get("/auswertung/").get_data(as_text=True)
    assert 'id="intake-tile"' not in board


def test_the_board_tile_counts_this_week_open_and_overdue_and_links_the_report(
    client_as, db_session, frozen_time
):
    office = factories.make_office(db_session, "Schönebeck")
    now = datetime.now(UTC)
    _inquiry(db_session, office, now - timedelta(hours=1))  # this week, open, not yet due
    _inquiry(db_session, office, now - timedelta(days=10))  # open and overdue
    _inquiry(db_session, office, now - timedelta(days=9), contact_after_hours=4)
    _inquiry(db_session, office, now - timedelta(days=8), status="closed", close_reason="spam")
    db_session.commit()
    tile = reports.board_tile(db_session, factories.make_user(db_session, role="admin"), now)
    assert (tile.this_week, tile.open, tile.overdue) == (1, 3, 1)
    assert tile.median_hours == pytest.approx(4.0)
    board = client_as("lead").get("/auswertung/").get_data(as_text=True)
    assert 'id="intake-tile"' in board
    assert 'href="/anfragen/auswertung"' in board


def test_the_xlsx_has_the_same_figures_neutralises_formulas_and_is_audited(
    client_as, db_session, known
):
    known["a"].name = '=HYPERLINK("http://evil.example","klick")'
    db_session.commit()
    lead = client_as("lead")
    response = lead.get(
        f"/anfragen/auswertung.xlsx?von=2026-10-05&bis=2026-11-01&stelle={known['a'].id}"
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    cells = {row[0].value: row for row in sheet.iter_rows() if row[0].value}
    office_cell = cells["Geschäftsstelle"][1]
    assert office_cell.data_type == "s"
    assert office_cell.value.startswith("'=")
    assert cells["Anfragen"][1].value == 6
    assert cells["Beratene Firmen"][1].value == 2
    assert cells["2026-W43"][2].value == 2
    audit = db_session.query(AuditEntry).filter_by(entity_type="inquiry_report").one()
    assert audit.action == "export"


def test_the_report_costs_the_same_number_of_queries_however_many_inquiries_it_counts(
    client_as, db_session, count_queries
):
    office = factories.make_office(db_session, "Genthin")
    lead = client_as("lead")
    url = "/anfragen/auswertung?von=2026-10-05&bis=2026-11-01"

    def add(n: int) -> None:
        for i in range(n):
            _inquiry(
                db_session,
                office,
                _berlin(5 + i % 20, 10, 9),
                channel=("web", "hotline", "email")[i % 3],
                contact_after_hours=i + 1,
            )
        db_session.commit()

    add(2)
    lead.get(url)
    with count_queries() as few:
        assert lead.get(url).status_code == 200
    add(40)
    with count_queries() as many:
        assert lead.get(url).status_code == 200
    assert len(many) == len(few)
