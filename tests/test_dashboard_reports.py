"""The annual report (HTML, XLSX) and the pseudonymised export for the funder."""

from __future__ import annotations

import io
from datetime import date

from openpyxl import load_workbook

from crm.audit.models import AuditEntry
from crm.dashboard import service
from tests.dashboard_helpers import entered_on, make_participant, office_and_counsellor


def _data(s):
    office, counsellor = office_and_counsellor(s, "Berichtsstelle")
    a = entered_on(
        s,
        date(2026, 2, 2),
        office=office,
        counsellor=counsellor,
        last_name="Wunderlich",
        first_contact_on=date(2026, 1, 20),
        exit_on=date(2026, 5, 4),
        outcome="employment",
        birth_year=1988,
    )
    b = entered_on(
        s,
        date(2026, 3, 2),
        office=office,
        counsellor=counsellor,
        last_name="=HYPERLINK(1)",
        first_contact_on=date(2026, 2, 1),
        exit_on=date(2026, 6, 1),
        outcome="moved_away",
        target_field="=cmd|' /C calc'!A0",
    )
    c = make_participant(
        s,
        office=office,
        counsellor=counsellor,
        last_name="Zögerlich",
        first_contact_on=date(2026, 4, 1),
        sessions=((date(2026, 4, 2), 90),),
    )
    old = entered_on(
        s,
        date(2024, 3, 4),
        office=office,
        counsellor=counsellor,
        last_name="Vorjahr",
        first_contact_on=date(2024, 3, 1),
    )
    s.flush()
    return office, [a, b, c, old]


def test_the_annual_report_counts_counselled_entries_and_exits_by_outcome(app_ctx):
    office, _ = _data(app_ctx)
    r = service.annual_report(app_ctx, year=2026, offices=[office.id])
    assert r.counselled == 3
    assert r.sessions == 3
    assert r.minutes == 481 * 2 + 90
    assert r.new_contacts == 3
    assert r.entries == 2
    assert r.exits == 2
    assert r.exits_by_outcome["employment"] == 1
    assert r.exits_by_outcome["moved_away"] == 1
    assert r.counselled_by_office[office.id] == 3


def test_the_report_page_prints_and_downloads_as_xlsx_with_an_audit_entry(client_as, db_session):
    office, people = _data(db_session)
    db_session.commit()
    c = client_as("readonly")
    html = c.get(f"/auswertung/jahresbericht?jahr=2026&geschaeftsstelle={office.id}").get_data(
        as_text=True
    )
    assert "/static/css/dashboard." in html  # dashboard.<content hash>.css
    assert 'data-key="counselled"' in html
    for p in people:
        assert p.last_name not in html
    r = c.get(f"/auswertung/jahresbericht.xlsx?jahr=2026&geschaeftsstelle={office.id}")
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.data)).active
    values = [row for row in sheet.iter_rows(values_only=True)]
    assert any(row[1] == 3 for row in values if row and row[1] is not None)
    assert (
        db_session.query(AuditEntry).filter_by(entity_type="annual_report", action="export").count()
        == 1
    )


def test_print_css_hides_navigation():
    from pathlib import Path

    css = (Path(__file__).resolve().parent.parent / "crm/static/css/dashboard.css").read_text()
    assert "@media print" in css


def test_the_pseudonymised_export_has_no_names_and_stable_pseudonyms(client_as, db_session):
    office, people = _data(db_session)
    db_session.commit()
    c = client_as("lead")
    first = c.get("/auswertung/pseudonymisiert.csv?jahr=2026").get_data(as_text=True)
    second = c.get("/auswertung/pseudonymisiert.csv?jahr=2026").get_data(as_text=True)
    assert first == second
    for p in people:
        assert p.last_name not in first
        assert p.first_name not in first
    pseudonyms = {p.pseudonym for p in people[:3]}
    lines = first.strip().splitlines()[1:]
    assert {line.split(";")[0] for line in lines} == pseudonyms
    assert people[3].pseudonym not in first  # not active in 2026
    assert "1988" in first
    # A formula in a free field is neutralised.
    assert "'=cmd" in first
    r = c.get("/auswertung/pseudonymisiert.xlsx?jahr=2026")
    sheet = load_workbook(io.BytesIO(r.data)).active
    cells = [v for row in sheet.iter_rows(values_only=True) for v in row if isinstance(v, str)]
    assert not any(v.startswith("=") for v in cells)
    assert (
        db_session.query(AuditEntry).filter_by(entity_type="participant", action="export").count()
        == 3
    )


def test_a_counsellor_exports_only_their_own_office(client_as, db_session):
    office, people = _data(db_session)
    other_office, _ = office_and_counsellor(db_session, "Andere Stelle")
    db_session.commit()
    c = client_as("counsellor", office=other_office)
    body = c.get(
        f"/auswertung/pseudonymisiert.csv?jahr=2026&geschaeftsstelle={office.id}"
    ).get_data(as_text=True)
    assert all(p.pseudonym not in body for p in people)


def test_the_annual_report_s_counts_open_the_participant_list_with_as_many(client_as, db_session):
    import re
    from html import unescape

    office, _people = _data(db_session)
    db_session.commit()
    lead = client_as("lead")
    html = unescape(
        lead.get(f"/auswertung/jahresbericht?jahr=2026&geschaeftsstelle={office.id}").get_data(
            as_text=True
        )
    )
    links = re.findall(r'<a href="(/teilnehmende/\?[^"]+)">(\d+)</a>', html)
    # 2026 as an ISO week-year: 29.12.2025 to 03.01.2027.
    assert (
        f"/teilnehmende/?kennzahl=beraten&geschaeftsstelle={office.id}"
        "&von=2025-12-29&bis=2027-01-03",
        "3",
    ) in links
    assert any("verbleib=moved_away" in href for href, _n in links)
    for href, n in links:
        listed = lead.get(href).get_data(as_text=True)
        assert f'id="participant-count">{n} Teilnehmende' in listed, href
    # Read-only users get the numbers without links.
    plain = client_as("readonly").get("/auswertung/jahresbericht?jahr=2026").get_data(True)
    assert "/teilnehmende/?" not in plain
