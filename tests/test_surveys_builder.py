"""Needs surveys, second part: section headings in the builder and on the answer page, the
qualification level of each needed occupation (answer page, the firm's needs, results, XLSX),
and answers that staff take on the phone and enter for a firm."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import lxml.html
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from crm.contacts.models import Organisation, QualificationNeed
from crm.surveys import service
from crm.surveys.models import Survey, SurveyRecipient, SurveyResponse, SurveyRound
from tests import factories
from tests.job_helpers import run_jobs
from tests.mail_helpers import QueuedMail
from tests.test_surveys import LINK, _key, _question, _survey_with_round


def _token_of(db_session, round_id, staff, email="chef0@firma0.example"):
    """Send the round's invitations and read the personal link of `email` from the outbox."""
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    run_jobs(staff.application)
    mail = next(m for m in QueuedMail(db_session).messages if m.rcpt_tos == [email])
    return LINK.search(mail.message.get_body(("plain",)).get_content()).group(1)


def _recipient(db_session, round_id, org_name="Firma 0"):
    return db_session.scalar(
        sa.select(SurveyRecipient)
        .join(Organisation, Organisation.id == SurveyRecipient.organisation_id)
        .where(SurveyRecipient.round_id == round_id, Organisation.name == org_name)
    )


def _count(db_session, model):
    return db_session.scalar(sa.select(sa.func.count(model.id)))


# --- sections ------------------------------------------------------------------------------------


def test_a_section_groups_the_questions_after_it_and_never_produces_an_answer(
    client, client_as, db_session
):
    staff = client_as("staff")
    survey_id, _round_id = _survey_with_round(db_session, staff)
    # Added at the end, then moved to the top like any question.
    response = _question(
        staff,
        survey_id,
        kind="section",
        text_de="Ihr Betrieb",
        text_en="Your firm",
        intro_de="Zuerst ein paar Fragen zu Ihrem Betrieb.",
        intro_en="First a few questions about your firm.",
        options_de="wird nicht gespeichert\nbei Abschnitten",
    )
    assert response.status_code == 302
    section_key = _key(db_session, survey_id, "section")
    for _step in range(2):
        staff.post(
            f"/bedarfsanalysen/{survey_id}/fragen/{section_key}/verschieben",
            data={"direction": "up"},
        )
    _question(staff, survey_id, kind="section", text_de="Ihr Bedarf")
    needs_key = _key(db_session, survey_id, "needs")
    second = next(
        q["key"]
        for q in db_session.get(Survey, survey_id).questions
        if q["text_de"] == "Ihr Bedarf"
    )
    staff.post(
        f"/bedarfsanalysen/{survey_id}/fragen/{second}/verschieben", data={"direction": "up"}
    )
    survey = db_session.get(Survey, survey_id)
    db_session.refresh(survey)
    assert [q["kind"] for q in survey.questions] == ["section", "yesno", "section", "needs"]
    assert survey.questions[0]["options_de"] == []
    builder = staff.get(f"/bedarfsanalysen/{survey_id}").get_data(as_text=True)
    assert "Abschnitt: Ihr Betrieb" in builder

    # The new version goes out with the next round; its answer page groups the questions.
    contact_list_id = db_session.scalar(sa.text("SELECT id FROM contact_list"))
    staff.post(
        f"/bedarfsanalysen/{survey_id}/runden",
        data={
            "name": "Mit Abschnitten",
            "closes_on": (date.today() + timedelta(days=30)).isoformat(),
            "contact_list_id": str(contact_list_id),
            "round": "1",
        },
    )
    new_round = db_session.scalar(
        sa.select(SurveyRound).where(SurveyRound.name == "Mit Abschnitten")
    )
    assert new_round.version.number == 2
    token = _token_of(db_session, new_round.id, staff)
    url = f"/bedarfsanalysen/antwort/{token}"
    doc = lxml.html.fromstring(client.get(url).get_data(as_text=True))
    sections = doc.xpath('//fieldset[contains(@class, "survey-section")]')
    assert [s.xpath("./legend/h2")[0].text_content() for s in sections] == [
        "Ihr Betrieb",
        "Ihr Bedarf",
    ]
    assert sections[0].xpath('./p[@class="section-intro"]')[0].text_content() == (
        "Zuerst ein paar Fragen zu Ihrem Betrieb."
    )
    # Each section holds the questions after it, numbered across the page (headings are not).
    legends = [
        [f.xpath("./legend")[0].text_content() for f in s.xpath(".//fieldset[@data-kind]")]
        for s in sections
    ]
    assert legends == [
        ["1. Interesse an Fachkräften aus dem Ausland?"],
        ["2. Welche Fachkräfte suchen Sie?"],
    ]
    assert not doc.xpath(f'//*[starts-with(@name, "q_{section_key}")]')
    english = client.get(url + "?sprache=en").get_data(as_text=True)
    assert "Your firm" in english
    assert "First a few questions about your firm." in english

    # Whatever is posted under a section's name, the answer holds only the questions.
    yes_key = _key(db_session, survey_id, "yesno")
    client.post(
        url,
        data={
            f"q_{section_key}": "eingeschleust",
            f"q_{yes_key}": "yes",
            f"q_{needs_key}_occ_0": "Koch",
            f"q_{needs_key}_count_0": "1",
            "action": "submit",
        },
    )
    answer = db_session.scalar(
        sa.select(SurveyResponse).where(SurveyResponse.round_id == new_round.id)
    )
    assert set(answer.answers) == {yes_key, needs_key}
    parsed = service.parse_answers(
        new_round.version.questions, MultiDict({f"q_{section_key}": "x"})
    )
    assert section_key not in parsed.answers
    assert parsed.errors == {}


def test_a_section_without_heading_is_refused_in_german_with_the_input_kept(client_as, db_session):
    staff = client_as("staff")
    staff.post("/bedarfsanalysen/neu", data={"title": "Kurz"})
    survey = db_session.scalar(sa.select(Survey))
    response = _question(staff, survey.id, kind="section", intro_de="Einleitung ohne Titel")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Bitte geben Sie die Überschrift auf Deutsch ein." in text
    assert "Einleitung ohne Titel" in text
    db_session.refresh(survey)
    assert survey.questions == []


def test_editing_a_section_keeps_the_sent_version_and_its_introduction(client_as, db_session):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    _question(staff, survey_id, kind="section", text_de="Alt", intro_de="Alte Einleitung")
    key = _key(db_session, survey_id, "section")
    page = staff.get(f"/bedarfsanalysen/{survey_id}/fragen/{key}").get_data(as_text=True)
    assert "Alte Einleitung" in page
    staff.post(
        f"/bedarfsanalysen/{survey_id}/fragen/{key}",
        data={"kind": "section", "text_de": "Neu", "intro_de": "Neue Einleitung"},
    )
    survey = db_session.get(Survey, survey_id)
    db_session.refresh(survey)
    section = next(q for q in survey.questions if q["key"] == key)
    assert (section["text_de"], section["intro_de"]) == ("Neu", "Neue Einleitung")
    # The round sent before still asks its own questions.
    version = db_session.get(SurveyRound, round_id).version
    db_session.refresh(version)
    assert [q["kind"] for q in version.questions] == ["yesno", "needs"]


# --- qualification level -------------------------------------------------------------------------


def test_the_qualification_level_of_each_row_lands_on_the_need_and_in_the_results(
    client, client_as, db_session
):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    token = _token_of(db_session, round_id, staff)
    needs_key = _key(db_session, survey_id, "needs")
    url = f"/bedarfsanalysen/antwort/{token}"
    page = client.get(url).get_data(as_text=True)
    assert "Qualifikationsniveau, Zeile 1" in page
    assert "Berufsabschluss (Fachkraft)" in page
    assert (
        client.post(
            url,
            data={
                f"q_{needs_key}_occ_0": "Pflegefachkraft",
                f"q_{needs_key}_count_0": "3",
                f"q_{needs_key}_lvl_0": "skilled",
                f"q_{needs_key}_occ_1": "Elektroingenieur",
                f"q_{needs_key}_count_1": "1",
                f"q_{needs_key}_lvl_1": "academic",
                # A level the page never offers counts as not said.
                f"q_{needs_key}_occ_2": "Küchenhilfe",
                f"q_{needs_key}_count_2": "2",
                f"q_{needs_key}_lvl_2": "doktor",
                "action": "submit",
            },
        ).status_code
        == 200
    )
    needs = db_session.scalars(
        sa.select(QualificationNeed).order_by(QualificationNeed.occupation)
    ).all()
    assert [(n.occupation, n.qualification_level) for n in needs] == [
        ("Elektroingenieur", "academic"),
        ("Küchenhilfe", ""),
        ("Pflegefachkraft", "skilled"),
    ]
    org_page = staff.get(f"/kontakte/organisationen/{needs[0].organisation_id}").get_data(
        as_text=True
    )
    assert "Qualifikation: Hochschulabschluss" in org_page

    results = staff.get(f"/bedarfsanalysen/runden/{round_id}/ergebnisse").get_data(as_text=True)
    table = lxml.html.fromstring(results).xpath('//*[@id="by-level"]')[0]
    rows = [
        (tr.xpath("./th")[0].text_content(), tr.xpath("./td")[0].text_content())
        for tr in table.xpath(".//tbody/tr")
    ]
    assert rows == [
        ("Berufsabschluss (Fachkraft)", "3"),
        ("ohne Angabe", "2"),
        ("Hochschulabschluss", "1"),
    ]
    xlsx = staff.get(f"/bedarfsanalysen/runden/{round_id}/ergebnisse.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    values = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    assert ("Qualifikationsniveau", "Berufsabschluss (Fachkraft)", 3) in values
    assert ("Qualifikationsniveau", "Hochschulabschluss", 1) in values


def test_the_needs_form_of_an_organisation_takes_and_shows_the_qualification_level(
    client_as, db_session
):
    staff = client_as("staff")
    org = factories.make_org(db_session, name="Tischlerei Holz")
    db_session.commit()
    url = f"/kontakte/organisationen/{org.id}"
    form = staff.get(url).get_data(as_text=True)
    assert "Meister/Techniker" in form
    base = {"occupation": "Tischlermeister", "count": "1", "surveyed_on": "2026-12-01"}
    refused = staff.post(f"{url}/bedarf", data={**base, "qualification_level": "doktor"})
    assert refused.status_code == 400
    assert _count(db_session, QualificationNeed) == 0
    assert (
        staff.post(f"{url}/bedarf", data={**base, "qualification_level": "master"}).status_code
        == 302
    )
    need = db_session.scalar(sa.select(QualificationNeed))
    assert need.qualification_level == "master"
    assert "Qualifikation: Meister/Techniker" in staff.get(url).get_data(as_text=True)
    # A hand-entered need without a level says nothing about it.
    staff.post(f"{url}/bedarf", data={**base, "occupation": "Helfer"})
    levels = db_session.scalars(
        sa.select(QualificationNeed.qualification_level).order_by(QualificationNeed.id)
    ).all()
    assert levels == ["master", ""]


def test_the_database_refuses_an_unknown_qualification_level(db_session):
    org = factories.make_org(db_session, name="Firma Prüfung")
    db_session.add(
        QualificationNeed(organisation_id=org.id, occupation="X", count=1, qualification_level="x")
    )
    with pytest.raises(IntegrityError):
        db_session.flush()
    db_session.rollback()


# --- answers taken on the phone ------------------------------------------------------------------


def test_staff_enter_a_phone_answer_that_counts_like_the_firms_own_and_only_once(
    client, client_as, db_session
):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    token = _token_of(db_session, round_id, staff)
    recipient = _recipient(db_session, round_id)
    round_page = staff.get(f"/bedarfsanalysen/runden/{round_id}").get_data(as_text=True)
    links = lxml.html.fromstring(round_page).xpath('//a[@class="phone-answer"]')
    assert [a.text_content() for a in links] == [
        "Antwort erfassen (Telefon): Firma 0",
        "Antwort erfassen (Telefon): Firma 1",
    ]
    url = links[0].get("href")
    assert url == f"/bedarfsanalysen/runden/{round_id}/empfaenger/{recipient.id}/telefon"

    page = staff.get(url).get_data(as_text=True)
    assert "Interesse an Fachkräften aus dem Ausland?" in page
    assert "chef0@firma0.example" in page
    yes_key = _key(db_session, survey_id, "yesno")
    needs_key = _key(db_session, survey_id, "needs")
    answers = {
        f"q_{yes_key}": "no",
        f"q_{needs_key}_occ_0": "Maurer",
        f"q_{needs_key}_count_0": "2",
        f"q_{needs_key}_tf_0": "now",
        f"q_{needs_key}_lvl_0": "skilled",
    }
    saved = staff.post(url, data=answers)
    assert saved.status_code == 302
    assert saved.headers["Location"].endswith(f"/bedarfsanalysen/runden/{round_id}")

    answer = db_session.scalar(sa.select(SurveyResponse))
    assert (answer.status, answer.channel, answer.entered_by_id) == (
        "final",
        "phone",
        staff.user.id,
    )
    assert answer.answers[yes_key] == "no"
    db_session.refresh(recipient)
    assert recipient.responded_at is not None
    need = db_session.scalar(sa.select(QualificationNeed))
    assert (need.organisation_id, need.occupation, need.count, need.time_frame) == (
        recipient.organisation_id,
        "Maurer",
        2,
        "now",
    )
    assert (need.qualification_level, need.survey_response_id) == ("skilled", answer.id)
    round_page = staff.get(f"/bedarfsanalysen/runden/{round_id}").get_data(as_text=True)
    assert "1 von 2 haben geantwortet" in round_page
    assert [
        a.text_content()
        for a in lxml.html.fromstring(round_page).xpath('//a[@class="phone-answer"]')
    ] == ["Antwort erfassen (Telefon): Firma 1"]

    # A second answer is refused, by staff and by the firm's own link; nothing is added.
    again = staff.post(url, data=answers)
    assert again.status_code == 409
    assert "bereits beantwortet" in again.get_data(as_text=True)
    assert "bereits" in staff.get(url).get_data(as_text=True)
    assert (
        client.post(f"/bedarfsanalysen/antwort/{token}", data={"action": "submit"}).status_code
        == 409
    )
    assert _count(db_session, QualificationNeed) == 1
    assert _count(db_session, SurveyResponse) == 1


def test_a_phone_answer_starts_from_the_firms_draft(client, client_as, db_session):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    token = _token_of(db_session, round_id, staff)
    needs_key = _key(db_session, survey_id, "needs")
    client.post(
        f"/bedarfsanalysen/antwort/{token}",
        data={f"q_{needs_key}_occ_0": "Gärtner", f"q_{needs_key}_count_0": "1", "action": "save"},
    )
    recipient = _recipient(db_session, round_id)
    url = f"/bedarfsanalysen/runden/{round_id}/empfaenger/{recipient.id}/telefon"
    assert 'value="Gärtner"' in staff.get(url).get_data(as_text=True)
    staff.post(url, data={f"q_{needs_key}_occ_0": "Gärtnerin", f"q_{needs_key}_count_0": "2"})
    (answer,) = db_session.scalars(sa.select(SurveyResponse)).all()
    assert (answer.status, answer.channel) == ("final", "phone")
    assert [n.occupation for n in db_session.scalars(sa.select(QualificationNeed))] == ["Gärtnerin"]


def test_bad_phone_input_is_shown_again_with_a_german_error_and_nothing_is_saved(
    client_as, db_session
):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    recipient = _recipient(db_session, round_id)
    needs_key = _key(db_session, survey_id, "needs")
    response = staff.post(
        f"/bedarfsanalysen/runden/{round_id}/empfaenger/{recipient.id}/telefon",
        data={
            f"q_{needs_key}_occ_0": "Elektriker",
            f"q_{needs_key}_count_0": "viele",
            f"q_{needs_key}_lvl_0": "master",
        },
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'value="Elektriker"' in text
    assert 'value="viele"' in text
    assert re.search(r'value="master"\s+selected', text)
    assert "Bitte geben Sie an, wie viele Personen (1 oder mehr)." in text
    assert "Bitte prüfen Sie" in text
    assert _count(db_session, SurveyResponse) == 0
    db_session.refresh(recipient)
    assert recipient.responded_at is None


def test_the_phone_page_is_for_contact_editors_only_and_needs_csrf(client, client_as, db_session):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    recipient = _recipient(db_session, round_id)
    url = f"/bedarfsanalysen/runden/{round_id}/empfaenger/{recipient.id}/telefon"
    yes_key = _key(db_session, survey_id, "yesno")
    data = {f"q_{yes_key}": "yes"}
    assert client.get(url).status_code == 302  # to the login
    assert client.post(url, data=data).status_code == 302
    readonly = client_as("readonly")
    assert readonly.get(url).status_code == 403
    assert readonly.post(url, data=data).status_code == 403
    assert staff.post(url, data=data, csrf=False).status_code == 400
    # A recipient of another round, or none at all, is not found.
    assert (
        staff.get(
            f"/bedarfsanalysen/runden/{round_id + 1}/empfaenger/{recipient.id}/telefon"
        ).status_code
        == 404
    )
    assert (
        staff.get(f"/bedarfsanalysen/runden/{round_id}/empfaenger/999999/telefon").status_code
        == 404
    )
    assert _count(db_session, SurveyResponse) == 0
    # Counsellors edit contacts too: they may take the call.
    counsellor = client_as("counsellor")
    assert counsellor.get(url).status_code == 200


def test_a_closed_round_takes_no_phone_answer(client_as, db_session):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    recipient = _recipient(db_session, round_id)
    survey_round = db_session.get(SurveyRound, round_id)
    survey_round.closes_on = date.today() - timedelta(days=2)
    db_session.commit()
    round_page = staff.get(f"/bedarfsanalysen/runden/{round_id}").get_data(as_text=True)
    assert "Antwort erfassen" not in round_page
    yes_key = _key(db_session, survey_id, "yesno")
    response = staff.post(
        f"/bedarfsanalysen/runden/{round_id}/empfaenger/{recipient.id}/telefon",
        data={f"q_{yes_key}": "yes"},
    )
    assert response.status_code == 409
    assert "Die Runde ist beendet." in response.get_data(as_text=True)
    assert _count(db_session, SurveyResponse) == 0


def test_a_survey_of_section_headings_only_cannot_go_out(db_session):
    survey = Survey(title="Nur Überschriften", questions=[])
    db_session.add(survey)
    db_session.flush()
    service.add_question(
        survey, service.check_question({"kind": "section", "text_de": "Ihr Betrieb"})[0]
    )
    with pytest.raises(service.SurveyError) as refused:
        service.create_round(
            db_session,
            survey,
            name="Runde",
            closes_on=date.today(),
            contact_list_id=factories.make_list(db_session).id,
            secret="s",
            today=date.today(),
        )
    # Refused for having no questions, not for the empty list further on.
    assert "questions" in str(refused.value.args[0]) or "Fragen" in str(refused.value.args[0])
