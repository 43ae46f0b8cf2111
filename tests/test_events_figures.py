"""Figures of past events (Vergangene Termine / Kennzahlen): registrations, attendance rate,
new contacts and organisations represented from a known data set; the page, its XLSX, the
period checks and who may open it."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.audit.models import AuditEntry
from crm.events import figures
from crm.events.models import Event, EventContact, EventRegistration, Lead
from tests import factories

PERIOD = figures.Period(date(2026, 9, 1), date(2026, 11, 30))
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)


def _registration(
    session: Any, event: Event, name: str, status: str, *, organisation: str = "", person=None
) -> EventRegistration:
    email = f"{name.lower().replace(' ', '.')}@example.org"
    row = EventRegistration(
        event_id=event.id,
        name=name,
        email=email,
        email_key=email,
        organisation=organisation,
        status=status,
        person_id=person.id if person else None,
    )
    session.add(row)
    return row


def _contact(session: Any, event: Event, person: Any, status: str) -> None:
    session.add(EventContact(event_id=event.id, person_id=person.id, status=status))


@pytest.fixture
def known(db_session: Any) -> dict[str, Any]:
    """Two past events with people, a cancelled one, an empty one, a future one, one before."""
    s = db_session
    acme = factories.make_org(s, name="ACME GmbH")
    gamma = factories.make_org(s, name="Gamma e.V.")
    beta = factories.make_org(s, name="Beta AG")
    fair = factories.make_event(s, title="Messe A", day=date(2026, 10, 10), kind="fair")
    workshop = factories.make_event(s, title="Workshop B", day=date(2026, 9, 15))
    cancelled = factories.make_event(s, title="Abgesagt C", day=date(2026, 10, 20))
    cancelled.status = "cancelled"
    empty = factories.make_event(s, title="Leer D", day=date(2026, 11, 5))
    future = factories.make_event(s, title="Zukunft E", day=date(2026, 12, 20))
    before = factories.make_event(s, title="Vorher F", day=date(2026, 8, 1))

    p1 = factories.make_person(s, last_name="Eins", org=acme)  # attended the fair, new
    p2 = factories.make_person(s, last_name="Zwei", org=gamma)  # first at the workshop
    p3 = factories.make_person(s, last_name="Drei")  # only invited to the fair
    p4 = factories.make_person(s, last_name="Vier")  # registered, known for long
    p5 = factories.make_person(s, last_name="Fuenf")  # lead at the fair, new
    p6 = factories.make_person(s, last_name="Sechs", org=beta)  # only at the cancelled event
    p8 = factories.make_person(s, last_name="Acht", org=acme)  # workshop, known for long
    s.flush()
    p4.created_at = LONG_AGO
    p8.created_at = LONG_AGO

    _contact(s, fair, p1, "attended")
    _contact(s, fair, p2, "no_show")
    _contact(s, fair, p3, "invited")
    _contact(s, fair, p4, "registered")
    # The linked registration of p1 is p1 again: counted once.
    _registration(s, fair, "Person Eins", "attended", person=p1)
    _registration(s, fair, "Ohne Kontakt", "attended", organisation="  acme gmbh ")
    _registration(s, fair, "Warteliste", "waitlisted", organisation="Delta GmbH")
    _registration(s, fair, "Abgemeldet", "cancelled", organisation="Epsilon GmbH")
    s.add(Lead(event_id=fair.id, person_id=p5.id, organisation_id=beta.id))

    _contact(s, workshop, p2, "attended")
    _contact(s, workshop, p8, "attended")

    _contact(s, cancelled, p6, "attended")
    _contact(s, future, p6, "registered")
    _contact(s, before, p4, "attended")
    s.flush()
    return {"fair": fair, "workshop": workshop, "empty": empty, "cancelled": cancelled}


def _by_title(report: figures.FiguresReport) -> dict[str, figures.Figures]:
    return {f.title: f for f in report.events}


def test_each_past_event_gets_its_registrations_attendance_new_contacts_and_organisations(
    app_ctx: Any, known: dict[str, Any]
) -> None:
    report = figures.past_event_figures(app_ctx, PERIOD, now=NOW)
    rows = _by_title(report)
    assert list(rows) == ["Workshop B", "Messe A", "Leer D"]
    fair = rows["Messe A"]
    assert (fair.invited, fair.registrations, fair.attended, fair.no_show) == (1, 4, 2, 1)
    assert fair.attendance_rate == pytest.approx(2 / 3)
    # p1 and the lead p5; p2 met us first at the workshop, p4 is known for long.
    assert fair.new_contacts == 2
    # ACME (p1's employer and the typed "acme gmbh" folded together) and the lead's Beta AG.
    assert fair.organisations == 2
    workshop = rows["Workshop B"]
    assert (workshop.registrations, workshop.attended, workshop.no_show) == (2, 2, 0)
    assert workshop.attendance_rate == 1.0
    assert workshop.new_contacts == 1
    assert workshop.organisations == 2


def test_an_event_nobody_was_expected_at_has_no_attendance_rate(
    app_ctx: Any, known: dict[str, Any]
) -> None:
    empty = _by_title(figures.past_event_figures(app_ctx, PERIOD, now=NOW))["Leer D"]
    assert (empty.registrations, empty.attended, empty.new_contacts, empty.organisations) == (
        0,
        0,
        0,
        0,
    )
    assert empty.attendance_rate is None


def test_cancelled_future_and_out_of_period_events_are_left_out(
    app_ctx: Any, known: dict[str, Any]
) -> None:
    titles = {f.title for f in figures.past_event_figures(app_ctx, PERIOD, now=NOW).events}
    assert titles.isdisjoint({"Abgesagt C", "Zukunft E", "Vorher F"})


def test_totals_add_up_but_count_an_organisation_at_several_events_once(
    app_ctx: Any, known: dict[str, Any]
) -> None:
    t = figures.past_event_figures(app_ctx, PERIOD, now=NOW).totals
    assert (t.invited, t.registrations, t.attended, t.no_show, t.new_contacts) == (1, 6, 4, 1, 3)
    assert t.attendance_rate == pytest.approx(4 / 5)
    # ACME at both events, Beta AG, Gamma e.V.
    assert t.organisations == 3


def test_kind_and_responsible_narrow_the_list(app_ctx: Any, known: dict[str, Any]) -> None:
    fairs = figures.past_event_figures(app_ctx, PERIOD, now=NOW, kind="fair")
    assert [f.title for f in fairs.events] == ["Messe A"]
    user = factories.make_user(app_ctx, role="staff")
    known["workshop"].responsible_id = user.id
    app_ctx.flush()
    mine = figures.past_event_figures(app_ctx, PERIOD, now=NOW, responsible_id=user.id)
    assert [f.title for f in mine.events] == ["Workshop B"]


def test_the_number_of_queries_does_not_grow_with_the_number_of_events(
    app_ctx: Any, count_queries: Any
) -> None:
    person = factories.make_person(app_ctx)

    def statements() -> int:
        with count_queries() as seen:
            figures.past_event_figures(app_ctx, PERIOD, now=NOW)
        return len(seen)

    first = factories.make_event(app_ctx, title="Eins", day=date(2026, 9, 2))
    _contact(app_ctx, first, person, "attended")
    app_ctx.flush()
    with_one = statements()
    for n in range(6):
        event = factories.make_event(app_ctx, title=f"Termin {n}", day=date(2026, 9, 10 + n))
        other = factories.make_person(app_ctx)
        _contact(app_ctx, event, other, "attended")
        _registration(app_ctx, event, f"Gast {n}", "attended", organisation=f"Firma {n}")
    app_ctx.flush()
    assert len(figures.past_event_figures(app_ctx, PERIOD, now=NOW).events) == 7
    assert statements() == with_one


def test_presets_cover_the_last_12_months_100_days_this_and_last_year() -> None:
    today = date(2026, 12, 6)
    assert figures.preset_period("12m", today) == figures.Period(date(2025, 12, 7), today)
    assert figures.preset_period("100d", today).days == 100
    assert figures.preset_period("year", today).start == date(2026, 1, 1)
    assert figures.preset_period("last_year", today) == figures.Period(
        date(2025, 1, 1), date(2025, 12, 31)
    )
    assert figures.preset_period("12m", date(2028, 2, 29)).start == date(2027, 3, 1)


# --- the page ------------------------------------------------------------------------------------


def test_the_page_lists_each_past_event_with_a_link_and_a_totals_row(
    client_as: Any, known: dict[str, Any], frozen_time: Any
) -> None:
    frozen_time.move_to(NOW)
    c = client_as("readonly")
    page = c.get("/termine/kennzahlen?von=2026-09-01&bis=2026-11-30").get_data(as_text=True)
    assert f'href="/termine/{known["fair"].id}"' in page
    assert "Abgesagt C" not in page
    assert 'data-event="total"' in page
    assert 'id="new-contacts-definition"' in page
    assert 'id="organisations-definition"' in page
    assert "66,7 %" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("von=2026-13-45&bis=x", "Bitte geben Sie gültige Daten ein"),
        ("von=2026-11-30&bis=2026-09-01", "Das Ende des Zeitraums liegt vor seinem Beginn"),
        ("von=2020-01-01&bis=2026-11-30", "höchstens drei Jahre"),
    ],
)
def test_a_bad_period_shows_a_german_message_and_keeps_what_was_typed(
    client_as: Any, query: str, message: str
) -> None:
    c = client_as("staff")
    response = c.get(f"/termine/kennzahlen?{query}", headers={"Accept-Language": "de"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page
    von = query.split("&")[0].split("=")[1]
    assert f'value="{von}"' in page


@pytest.mark.parametrize(
    "query",
    [
        "zeitraum=bogus&art=nope&verantwortlich=99999999999999999999",
        "von=abc&bis=2026-01-01T00:00",
        "art=fair&verantwortlich=-1&zeitraum=last_year",
        "von=0000-01-01&bis=9999-12-31",
    ],
)
def test_junk_in_the_query_never_breaks_the_page_or_the_download(
    client_as: Any, query: str
) -> None:
    c = client_as("staff")
    assert c.get(f"/termine/kennzahlen?{query}").status_code == 200
    assert c.get(f"/termine/kennzahlen.xlsx?{query}").status_code == 200


def test_anonymous_visitors_are_sent_to_the_login(client: Any) -> None:
    for url in ("/termine/kennzahlen", "/termine/kennzahlen.xlsx"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/anmelden" in response.headers["Location"]


def test_the_events_list_and_the_board_link_to_the_page(client_as: Any) -> None:
    c = client_as("lead")
    assert 'id="event-figures-link"' in c.get("/termine/").get_data(as_text=True)
    assert 'id="event-figures-board-link"' in c.get("/auswertung/").get_data(as_text=True)


def test_the_xlsx_holds_the_figures_neutralised_and_the_export_is_audited(
    client_as: Any, db_session: Any, known: dict[str, Any], frozen_time: Any
) -> None:
    frozen_time.move_to(NOW)
    known["fair"].title = '=HYPERLINK("http://evil.example/","Messe")'
    db_session.flush()
    c = client_as("staff")
    response = c.get("/termine/kennzahlen.xlsx?von=2026-09-01&bis=2026-11-30")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    fair_row = next(r for r in rows if isinstance(r[1], str) and "HYPERLINK" in r[1])
    assert fair_row[1].startswith("'=")
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert fair_row[3:] == [1, 4, 2, 1, 66.7, 2, 2]
    total = next(r for r in rows if r[0] == "Gesamt")
    assert total[3:] == [1, 6, 4, 1, 80.0, 3, 3]
    entry = db_session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.entity_type == "event_figures")
        .order_by(AuditEntry.id.desc())
    )
    assert entry is not None
    assert entry.action == "export"
    assert entry.actor_id == c.user.id


def test_registrations_without_a_seat_do_not_count(app_ctx: Any) -> None:
    event = factories.make_event(app_ctx, title="Nur Warteliste", day=date(2026, 10, 1))
    _registration(app_ctx, event, "Wartend", "waitlisted")
    _registration(app_ctx, event, "Abgemeldet", "cancelled")
    app_ctx.flush()
    row = figures.past_event_figures(app_ctx, PERIOD, now=NOW).events[0]
    assert (row.registrations, row.invited, row.attended) == (0, 0, 0)


def test_the_demo_has_past_events_with_attendance_on_the_figures_page(app_ctx: Any) -> None:
    from crm import demo
    from crm.database import utcnow
    from crm.events.series import BERLIN

    demo.seed(app_ctx)
    now = utcnow()
    today = now.astimezone(BERLIN).date()
    report = figures.past_event_figures(app_ctx, figures.preset_period("12m", today), now=now)
    with_attendance = [f for f in report.events if f.attended]
    assert len(with_attendance) >= 2
    assert report.totals.no_show >= 1
    assert report.totals.new_contacts >= 1
    assert report.totals.organisations >= 2


def test_the_page_sends_as_many_statements_for_seven_events_as_for_one(
    client_as: Any, db_session: Any, count_queries: Any, frozen_time: Any
) -> None:
    frozen_time.move_to(NOW)
    c = client_as("staff")
    url = "/termine/kennzahlen?von=2026-09-01&bis=2026-11-30"

    def statements() -> int:
        with count_queries() as seen:
            assert c.get(url).status_code == 200
        return len(seen)

    factories.make_event(db_session, title="Eins", day=date(2026, 9, 2))
    db_session.commit()
    c.get(url)  # warm-up: the first request of a client loads what later ones reuse
    with_one = statements()
    for n in range(6):
        event = factories.make_event(db_session, title=f"Termin {n}", day=date(2026, 9, 10 + n))
        event.responsible_id = c.user.id
        _contact(db_session, event, factories.make_person(db_session), "attended")
    db_session.commit()
    assert statements() == with_one


def test_organisation_names_typed_in_capitals_with_umlauts_count_once(app_ctx: Any) -> None:
    event = factories.make_event(app_ctx, title="Umlaute", day=date(2026, 10, 1))
    _registration(app_ctx, event, "Gast Eins", "attended", organisation="MÜLLER BAU GMBH")
    _registration(app_ctx, event, "Gast Zwei", "attended", organisation="müller bau gmbh ")
    _registration(app_ctx, event, "Gast Drei", "attended", organisation="Öko Ärzte Übersee")
    app_ctx.flush()
    row = figures.past_event_figures(app_ctx, PERIOD, now=NOW).events[0]
    assert row.organisations == 2
