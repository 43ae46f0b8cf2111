"""The project term (Projektlaufzeit): set by an admin under Verwaltung, used by the funder
report's „Projektlaufzeit“ period and by the targets board."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.dashboard.models import ProjectTerm
from tests import factories

URL = "/verwaltung/projektlaufzeit"


def _text(response) -> str:
    return response.get_data(as_text=True)


def _term(db_session):
    return db_session.scalar(sa.select(ProjectTerm))


def test_an_admin_sets_the_project_term_from_the_administration_page(admin_client, db_session):
    assert URL in _text(admin_client.get("/verwaltung"))
    r = admin_client.post(
        URL, data={"name": "Netzwerk Integration", "start_on": "2026-11-02", "end_on": "2028-10-31"}
    )
    assert r.status_code == 302
    page = _text(admin_client.get(r.headers["Location"]))
    assert "Die Projektlaufzeit wurde gespeichert." in page
    assert 'value="2026-11-02"' in page
    term = _term(db_session)
    assert (term.name, term.start_on, term.end_on) == (
        "Netzwerk Integration",
        date(2026, 11, 2),
        date(2028, 10, 31),
    )
    entry = db_session.scalar(sa.select(AuditEntry).where(AuditEntry.entity_type == "project_term"))
    assert entry is not None
    assert entry.changes["values"]["start_on"][1] == "2026-11-02"


def test_a_project_end_before_its_start_is_a_german_error_and_the_input_is_kept(
    admin_client, db_session
):
    r = admin_client.post(
        URL, data={"name": "Mein Projekt", "start_on": "2027-01-01", "end_on": "2026-12-31"}
    )
    assert r.status_code == 400
    page = _text(r)
    assert "Das Projektende liegt vor dem Projektbeginn." in page
    assert 'value="Mein Projekt"' in page
    assert 'value="2027-01-01"' in page
    assert 'value="2026-12-31"' in page
    assert _term(db_session) is None


def test_a_project_term_longer_than_the_funder_report_allows_is_refused(admin_client, db_session):
    r = admin_client.post(URL, data={"start_on": "2020-01-01", "end_on": "2035-12-31"})
    assert r.status_code == 400
    assert "höchstens zehn Jahren" in _text(r)
    assert _term(db_session) is None


def test_an_invalid_date_is_a_german_error_and_the_input_is_kept(admin_client, db_session):
    r = admin_client.post(URL, data={"start_on": "2026-02-30", "end_on": ""})
    assert r.status_code == 400
    page = _text(r)
    assert "Kein gültiges Datum." in page
    assert 'value="2026-02-30"' in page
    assert "Bitte geben Sie den letzten Tag ein." in page
    assert _term(db_session) is None


def test_saving_the_project_term_needs_a_csrf_token(admin_client, db_session):
    r = admin_client.post(URL, data={"start_on": "2026-01-01", "end_on": "2026-12-31"}, csrf=False)
    assert r.status_code == 400
    assert _term(db_session) is None


@pytest.mark.parametrize("role", ["lead", "staff"])
def test_only_admins_may_set_the_project_term(client_as, db_session, role):
    c = client_as(role)
    assert c.get(URL).status_code == 403
    assert c.post(URL, data={"start_on": "2026-01-01", "end_on": "2026-12-31"}).status_code == 403
    assert _term(db_session) is None


def test_the_environment_is_the_default_until_an_admin_saves_a_term(app, admin_client, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_PROJECT_START", "2025-01-01")
    monkeypatch.setitem(app.config, "CRM_PROJECT_END", "2027-12-31")
    page = _text(admin_client.get(URL))
    assert 'value="2025-01-01"' in page
    assert 'id="term-from-env"' in page
    admin_client.post(URL, data={"start_on": "2026-03-01", "end_on": "2028-02-29"})
    report = _text(admin_client.get("/auswertung/foerderbericht?zeitraum=term"))
    assert "01.03.2026 – 29.02.2028" in report


def test_the_setup_has_a_project_term_step(admin_client, db_session):
    page = _text(admin_client.get("/verwaltung/ersteinrichtung/projektlaufzeit"))
    assert 'id="project-term-form"' in page
    r = admin_client.post(
        "/verwaltung/ersteinrichtung/projektlaufzeit",
        data={"start_on": "2026-12-01", "end_on": "2029-11-30"},
    )
    assert r.headers["Location"].endswith("/verwaltung/ersteinrichtung/projektlaufzeit")
    assert _term(db_session).start_on == date(2026, 12, 1)


def test_the_funder_report_uses_the_stored_project_term(client_as, db_session):
    db_session.add(ProjectTerm(id=1, name="", start_on=date(2026, 1, 1), end_on=date(2027, 6, 30)))
    db_session.commit()
    html = _text(client_as("lead").get("/auswertung/foerderbericht?zeitraum=term"))
    assert "01.01.2026 – 30.06.2027" in html
    assert 'id="period-error"' not in html


@pytest.mark.usefixtures("frozen_time")
def test_without_a_term_the_funder_report_says_where_to_set_it_with_a_link_for_admins(
    client_as,
):
    admin = _text(client_as("admin").get("/auswertung/foerderbericht?zeitraum=term"))
    assert "Verwaltung → Projektlaufzeit" in admin
    assert re.search(r'id="set-term-link"', admin)
    assert f'href="{URL}"' in admin
    lead = _text(client_as("lead").get("/auswertung/foerderbericht?zeitraum=term"))
    assert "Verwaltung → Projektlaufzeit" in lead
    assert 'id="set-term-link"' not in lead


def _row(html: str, week_label: str) -> str:
    match = re.search(rf'<tr id="week-{week_label}".*?</tr>', html, re.S)
    assert match, week_label
    return match.group(0)


@pytest.mark.usefixtures("frozen_time")
def test_the_board_counts_the_weekly_targets_from_the_project_start(client_as, db_session):
    office = factories.make_office(db_session, name="Magdeburg")
    office.weekly_entries = office.weekly_exits = 1
    db_session.add(
        ProjectTerm(id=1, name="", start_on=date(2026, 11, 2), end_on=date(2028, 10, 31))
    )
    db_session.commit()
    html = _text(client_as("lead").get("/auswertung/?jahr=2026"))
    # 21.11.2026 is in W47: three weeks since the start on Monday 02.11. (W45), not 47.
    assert "Ziel bis heute: 3,0" in html
    assert "ab dem Projektbeginn am 02.11.2026" in html
    before = _row(html, "2026-W44")
    assert "Wochenziel verfehlt" not in before
    assert "vor Projektbeginn" in before
    assert "Wochenziel verfehlt" in _row(html, "2026-W45")


@pytest.mark.usefixtures("frozen_time")
def test_after_the_project_end_the_board_expects_no_more_entries_or_exits(client_as, db_session):
    office = factories.make_office(db_session, name="Magdeburg")
    office.weekly_entries = office.weekly_exits = 1
    # Ended on Saturday 31.10.2026 (W44); today is 21.11.2026 (W47).
    db_session.add(
        ProjectTerm(id=1, name="", start_on=date(2024, 11, 1), end_on=date(2026, 10, 31))
    )
    db_session.commit()
    lead = client_as("lead")
    html = _text(lead.get("/auswertung/?jahr=2026"))
    assert (
        "Die Projektlaufzeit endete am 31.10.2026; Wochen danach zählen nicht zu den Zielen."
        in html
    )
    # W01..W44 count, W45..W47 neither as missed nor into the targets (to date and the year).
    assert "Ziel bis heute: 44,0 · Jahr: 44,0" in html
    assert "Wochenziel verfehlt" in _row(html, "2026-W44")
    after = _row(html, "2026-W45")
    assert "Wochenziel verfehlt" not in after
    assert "nach dem Projektende" in after
    assert ">44,0<" in _row(html, "2026-W47")
    # Mein Tag neither asks for this week's entry and exit.
    day = _text(lead.get("/")).split('id="today-week-status"')[1].split("</p>")[0]
    assert "Die Projektlaufzeit endete am 31.10.2026" in day
    assert "fehlt" not in day


@pytest.mark.usefixtures("frozen_time")
def test_a_project_end_later_in_the_year_leaves_its_weeks_out_of_the_year_target(
    client_as, db_session
):
    office = factories.make_office(db_session, name="Magdeburg")
    office.weekly_entries = office.weekly_exits = 1
    db_session.add(ProjectTerm(id=1, name="", start_on=date(2024, 11, 1), end_on=date(2026, 12, 2)))
    db_session.commit()
    html = _text(client_as("lead").get("/auswertung/?jahr=2026"))
    assert "Die Projektlaufzeit endet am 02.12.2026" in html
    assert "Ziel bis heute: 47,0 · Jahr: 49,0" in html  # W49 holds the last day


@pytest.mark.usefixtures("frozen_time")
def test_without_a_project_start_the_board_counts_from_the_first_week(client_as, db_session):
    office = factories.make_office(db_session, name="Magdeburg")
    office.weekly_entries = office.weekly_exits = 1
    db_session.commit()
    html = _text(client_as("lead").get("/auswertung/?jahr=2026"))
    assert "Ziel bis heute: 47,0" in html
    assert "Wochenziel verfehlt" in _row(html, "2026-W01")
    assert "vor Projektbeginn" not in html


def test_pages_for_visitors_name_the_project_once_an_admin_named_it(admin_client, client):
    notice = "/datenschutz/hinweise"
    assert "– netzwerk-crm</title>" in _text(client.get(notice))
    assert 'id="project-header"' not in _text(client.get(notice))
    admin_client.post(
        URL,
        data={"name": "IQ Anerkennungsberatung", "start_on": "2026-11-02", "end_on": "2028-10-31"},
    )
    page = _text(client.get(notice))
    assert "– IQ Anerkennungsberatung</title>" in page
    assert re.search(r'id="project-header">\s*<p[^>]*>IQ Anerkennungsberatung</p>', page)
    # Staff pages keep the product's name (and cost no extra query for it).
    assert "<title>Anmelden – netzwerk-crm</title>" in _text(client.get("/anmelden"))
