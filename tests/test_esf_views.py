"""ESF Plus pages: permissions and office scope, CSRF, the consent rule on the form, the exit
form's results, the six-month result, and the indicator XLSX with small-number protection."""

from __future__ import annotations

import io
from datetime import date

import lxml.html
import pytest
from openpyxl import load_workbook

from crm.audit.models import AuditEntry
from crm.esf import service
from crm.esf.models import EsfRecord
from crm.participants import service as participants
from tests import factories
from tests.factories import make_participant


@pytest.fixture
def office(db_session):
    return factories.make_office(db_session)


@pytest.fixture
def counsellor(client_as, office):
    return client_as("counsellor", office=office)


@pytest.fixture
def p(db_session, counsellor, office):
    participant = make_participant(
        db_session,
        office=office,
        counsellor=counsellor.user,
        last_name="Zyxesfwa",
        gender="female",
        birth_year=1990,
        sessions=((date(2026, 3, 2), 540),),
    )
    db_session.commit()
    return participant


def entry_url(p):
    return f"/teilnehmende/{p.id}/esf-plus"


@pytest.mark.parametrize("role", ["staff", "readonly"])
def test_staff_and_read_only_cannot_open_a_participants_esf_data(client_as, p, role):
    user = client_as(role)
    assert user.get(entry_url(p)).status_code == 403
    assert user.post(entry_url(p), data={}).status_code == 403
    assert user.post(f"{entry_url(p)}/verbleib", data={}).status_code == 403


def test_another_offices_counsellor_gets_404(client_as, p, db_session):
    other = client_as("counsellor", office=factories.make_office(db_session))
    assert other.get(entry_url(p)).status_code == 404


def test_saving_without_a_csrf_token_is_refused(counsellor, p, db_session):
    response = counsellor.post(entry_url(p), data={"labour_status": "inactive"}, csrf=False)
    assert response.status_code == 400
    assert service.record_of(db_session, p) is None


def test_the_form_refuses_a_disability_without_consent_and_keeps_what_was_typed(
    counsellor, p, db_session
):
    response = counsellor.post(
        entry_url(p), data={"labour_status": "long_term_unemployed", "disability": "yes"}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'selected value="long_term_unemployed"' in html
    assert service.record_of(db_session, p) is None

    response = counsellor.post(
        entry_url(p),
        data={
            "labour_status": "long_term_unemployed",
            "disability": "yes",
            "disability_consent": "y",
            "disability_consent_on": "2026-03-02",
        },
    )
    assert response.status_code == 302
    rec = service.record_of(db_session, p)
    assert (rec.disability, rec.disability_consent_on) == ("yes", date(2026, 3, 2))
    page = counsellor.get(f"/teilnehmende/{p.id}").get_data(as_text=True)
    assert 'id="esf-consent"' in page

    assert counsellor.post(f"{entry_url(p)}/einwilligung-widerrufen").status_code == 302
    db_session.expire_all()
    rec = service.record_of(db_session, p)
    assert (rec.disability, rec.disability_consent_on) == ("", None)


def test_a_ticked_consent_without_its_date_is_refused_and_keeps_the_tick(counsellor, p, db_session):
    response = counsellor.post(
        entry_url(p), data={"labour_status": "unemployed", "disability_consent": "y"}
    )
    assert response.status_code == 400
    doc = lxml.html.fromstring(response.get_data(as_text=True))
    errors = doc.get_element_by_id("disability_consent_on-errors").text_content()
    assert "Bitte das Datum der Einwilligung eintragen." in errors
    assert doc.get_element_by_id("disability_consent").get("checked") is not None
    assert service.record_of(db_session, p) is None


def test_a_first_exit_into_employment_ticks_in_employment(counsellor, p, db_session):
    response = counsellor.post(
        f"/teilnehmende/{p.id}/austritt",
        data={"exit_on": "2026-04-30", "exit_outcome": "employment", "exit_placement_id": ""},
    )
    assert response.status_code == 302
    assert service.exit_results(service.record_of(db_session, p)) == {"employment"}
    response = counsellor.post(
        f"/teilnehmende/{p.id}/austritt",
        data={
            "exit_on": "2026-04-30",
            "exit_outcome": "employment",
            "exit_placement_id": "",
            "esf_job_searching": "y",
        },
    )
    db_session.expire_all()
    assert service.exit_results(service.record_of(db_session, p)) == {"job_searching"}


def test_the_six_month_result_is_recorded_from_the_participant_page(counsellor, p, db_session):
    participants.record_exit(db_session, p, exit_on=date(2026, 4, 30), outcome="other")
    db_session.commit()
    page = counsellor.get(f"/teilnehmende/{p.id}").get_data(as_text=True)
    assert 'id="esf-long-form"' in page
    bad = counsellor.post(
        f"{entry_url(p)}/verbleib", data={"long_result": "improved", "long_result_on": "2026-01-01"}
    )
    assert bad.status_code == 400
    assert 'selected value="improved"' in bad.get_data(as_text=True)
    ok = counsellor.post(
        f"{entry_url(p)}/verbleib", data={"long_result": "improved", "long_result_on": "2026-11-02"}
    )
    assert ok.status_code == 302
    db_session.expire_all()
    assert (
        db_session.query(EsfRecord).filter_by(participant_id=p.id).one().long_result == "improved"
    )


def test_staff_see_the_indicator_counts_but_no_names(client_as, p, db_session):
    staff = client_as("staff")
    html = staff.get("/auswertung/esf-plus?von=2026-01-01&bis=2026-12-31").get_data(as_text=True)
    assert 'id="esf-table"' in html
    assert "Zyxesfwa" not in html
    assert 'id="esf-incomplete"' not in html


def test_the_completeness_check_links_only_participants_of_the_counsellors_offices(
    client_as, counsellor, p, db_session
):
    other_office = factories.make_office(db_session)
    make_participant(
        db_session,
        office=other_office,
        last_name="Zyxotherwa",
        sessions=((date(2026, 3, 2), 540),),
    )
    db_session.commit()
    html = counsellor.get("/auswertung/esf-plus?von=2026-01-01&bis=2026-12-31").get_data(
        as_text=True
    )
    assert f'href="/teilnehmende/{p.id}/esf-plus"' in html
    assert "Zyxotherwa" not in html
    lead_html = client_as("lead").get("/auswertung/esf-plus?von=2026-01-01&bis=2026-12-31")
    assert "Zyxotherwa" in lead_html.get_data(as_text=True)


@pytest.mark.parametrize("query", ["von=kaputt", "von=2026-12-31&bis=2026-01-01", "bis=2026-02-30"])
def test_a_bad_period_gives_a_clear_message_not_an_error(counsellor, query):
    response = counsellor.get(f"/auswertung/esf-plus?{query}")
    assert response.status_code == 200
    assert 'class="alert alert-danger"' in response.get_data(as_text=True)


def test_a_reversed_period_says_which_period_is_shown_instead(counsellor):
    html = counsellor.get("/auswertung/esf-plus?von=2026-12-31&bis=2026-01-01").get_data(
        as_text=True
    )
    assert "Das Ende des Zeitraums liegt vor seinem Beginn." in html
    year = date.today().year
    assert f"Stattdessen wird der Zeitraum 01.01.{year} bis 31.12.{year} gezeigt." in html


def test_the_xlsx_protects_small_numbers_and_is_audited(client_as, office, db_session):
    lead = client_as("lead")
    for i in range(4):
        q = make_participant(
            db_session, office=office, gender="female", sessions=((date(2026, 3, 2), 540),)
        )
        service.save_entry(
            db_session,
            q,
            {
                "labour_status": "unemployed",
                "rural": "yes" if i == 0 else "no",
                "disability": "yes" if i < 3 else "",
            },
            disability_consent_on=date(2026, 3, 2) if i < 3 else None,
        )
    db_session.commit()
    response = lead.get(
        f"/auswertung/esf-plus.xlsx?von=2026-01-01&bis=2026-12-31&geschaeftsstelle={office.id}"
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = {r[0]: r[1:] for r in sheet.iter_rows(values_only=True) if r and r[0]}
    assert rows["Arbeitslose, einschließlich Langzeitarbeitslose"][0] == 4
    assert rows["Teilnehmende aus ländlichen Gebieten"][0] == "< 3"
    assert rows["Teilnehmende mit Behinderungen"][0] == 3
    assert (
        db_session.query(AuditEntry)
        .filter_by(entity_type="esf_indicators", action="export")
        .count()
        == 1
    )


def test_the_participant_form_has_the_esf_section_and_saves_it_with_the_master_data(
    counsellor, p, db_session, office
):
    page = counsellor.get(f"/teilnehmende/{p.id}/bearbeiten").get_data(as_text=True)
    assert 'id="h-esf-section"' in page
    assert "esf-csrf_token" not in page  # one token: the participant form's
    data = {
        "last_name": "Zyxesfwa-Neu",
        "first_name": "Testa",
        "gender": "female",
        "recognition_status": "not_started",
        "office_id": str(office.id),
        "counsellor_id": str(counsellor.user.id),
        "acquisition_channel": "other",
        "first_contact_on": "2026-01-05",
        "esf-labour_status": "inactive",
        "esf-disability": "yes",
    }
    refused = counsellor.post(f"/teilnehmende/{p.id}/bearbeiten", data=data)
    assert refused.status_code == 400
    assert 'selected value="inactive"' in refused.get_data(as_text=True)
    db_session.expire_all()
    assert p.last_name == "Zyxesfwa"
    assert service.record_of(db_session, p) is None

    data["esf-disability"] = ""
    assert counsellor.post(f"/teilnehmende/{p.id}/bearbeiten", data=data).status_code == 302
    db_session.expire_all()
    assert p.last_name == "Zyxesfwa-Neu"
    assert service.record_of(db_session, p).labour_status == "inactive"


def test_the_indicators_offer_the_project_term_and_keep_year_and_office_on_the_way_back(
    app, client_as, office, monkeypatch
):
    monkeypatch.setitem(app.config, "CRM_PROJECT_START", "2025-03-01")
    monkeypatch.setitem(app.config, "CRM_PROJECT_END", "2027-02-28")
    lead = client_as("lead", office=office)
    page = lead.get(
        f"/auswertung/esf-plus?von=2025-01-01&bis=2025-12-31&geschaeftsstelle={office.id}"
    ).get_data(as_text=True)
    assert (
        f'href="/auswertung/esf-plus?von=2025-03-01&amp;bis=2027-02-28&amp;geschaeftsstelle={office.id}">Projektlaufzeit<'
        in page
    )
    assert (
        f'id="esf-board-link" href="/auswertung/?jahr=2025&amp;geschaeftsstelle={office.id}"'
        in page
    )


def test_the_board_opens_the_indicators_funder_report_and_event_figures_for_its_year(
    client_as, office
):
    lead = client_as("lead", office=office)
    board = lead.get(f"/auswertung/?jahr=2025&geschaeftsstelle={office.id}").get_data(as_text=True)
    esf = f"/auswertung/esf-plus?von=2025-01-01&amp;bis=2025-12-31&amp;geschaeftsstelle={office.id}"
    assert f'href="{esf}"' in board
    funder = "/auswertung/foerderbericht?zeitraum=custom&amp;von=2025-01-01&amp;bis=2025-12-31"
    assert f'href="{funder}"' in board
    assert 'href="/termine/kennzahlen?von=2025-01-01&amp;bis=2025-12-31"' in board
    report = lead.get(funder.replace("&amp;", "&")).get_data(as_text=True)
    assert 'id="funder-board-link" href="/auswertung/?jahr=2025"' in report


def test_the_completeness_check_names_each_participant_s_counsellor_and_counts_them(
    client_as, counsellor, p, office, db_session
):
    html = (
        client_as("lead", office=office)
        .get("/auswertung/esf-plus?von=2026-01-01&bis=2026-12-31")
        .get_data(as_text=True)
    )
    assert "mit fehlenden ESF-Plus-Angaben (1)</h2>" in html
    item = html.split(f'data-participant-id="{p.id}"')[1].split("</li>")[0]
    assert f"Beratung: {counsellor.user.display_name}" in item
    assert office.name in item
