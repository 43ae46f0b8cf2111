"""Needs surveys: building, versioning, a round end to end through the outbox and a real SMTP
server, the personal answer page (resumable, one final answer per organisation), the needs it
writes, the results, token tampering, permissions and CSRF."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import sqlalchemy as sa
from openpyxl import load_workbook

from crm.contacts import lists as contact_lists
from crm.contacts.models import QualificationNeed
from crm.mail import SMTPTransport
from crm.mail.sender import SenderSettings, send_outbox
from crm.mail.store import stores_for
from crm.surveys.models import Survey, SurveyRecipient, SurveyResponse, SurveyRound
from tests import factories
from tests.job_helpers import run_jobs
from tests.mail_helpers import QueuedMail

LINK = re.compile(r"https?://\S+/bedarfsanalysen/antwort/(\S+?)\?sprache=(de|en)")


def _question(client, survey_id, **data):
    return client.post(f"/bedarfsanalysen/{survey_id}/fragen", data=data)


def _survey_with_round(db_session, client, *, firms=2):
    """A survey (a yes/no and the needs matrix) and a round for `firms` firms, created
    through the staff pages; returns (survey_id, round_id)."""
    contact_list = contact_lists.create_list(db_session, "Firmen Bedarfsanalyse")
    people = []
    for i in range(firms):
        org = factories.make_org(db_session, name=f"Firma {i}", sector="Pflege", region="Magdeburg")
        people.append(
            factories.make_person(
                db_session, first_name=f"Inhaber{i}", email=f"chef{i}@firma{i}.example", org=org
            )
        )
    # Someone without an organisation gets no link.
    loner = factories.make_person(db_session, first_name="Ohne", email="ohne@example.org")
    contact_lists.add_members(db_session, contact_list.id, [p.id for p in [*people, loner]])
    db_session.commit()
    client.post("/bedarfsanalysen/neu", data={"title": "Bedarfsanalyse"})
    survey = db_session.scalar(sa.select(Survey).where(Survey.title == "Bedarfsanalyse"))
    _question(
        client,
        survey.id,
        kind="yesno",
        text_de="Interesse an Fachkräften aus dem Ausland?",
        text_en="Interested in hiring from abroad?",
    )
    _question(client, survey.id, kind="needs", text_de="Welche Fachkräfte suchen Sie?")
    response = client.post(
        f"/bedarfsanalysen/{survey.id}/runden",
        data={
            "name": "Bedarfsanalyse 1. Halbjahr 2027",
            "closes_on": (date.today() + timedelta(days=30)).isoformat(),
            "contact_list_id": str(contact_list.id),
            "round": "1",
        },
    )
    assert response.status_code == 302, response.data
    survey_round = db_session.scalar(
        sa.select(SurveyRound).where(SurveyRound.survey_id == survey.id)
    )
    return survey.id, survey_round.id


def _key(db_session, survey_id, kind):
    survey = db_session.get(Survey, survey_id)
    db_session.refresh(survey)
    return next(q["key"] for q in survey.questions if q["kind"] == kind)


def test_a_round_goes_out_through_smtp_and_answers_become_needs_once(
    app, client, client_as, db_session, smtp_server
):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    assert staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen").status_code == 302
    run_jobs(staff.application)
    transport = SMTPTransport(smtp_server.host, smtp_server.port, security="none", timeout=10)
    send_outbox(
        db_session,
        transport,
        stores_for(app.config),
        SenderSettings(backoff_base=timedelta(0), connection_backoff=0),
    )
    received = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    assert sorted(received) == ["chef0@firma0.example", "chef1@firma1.example"]
    body = received["chef0@firma0.example"].get_body(("plain",)).get_content()
    token = LINK.search(body).group(1)

    needs_key = _key(db_session, survey_id, "needs")
    yes_key = _key(db_session, survey_id, "yesno")
    url = f"/bedarfsanalysen/antwort/{token}"
    page = client.get(url)
    assert page.status_code == 200
    assert "Firma 0" in page.get_data(as_text=True)

    # A draft keeps the answers and can be resumed.
    draft = {
        f"q_{yes_key}": "yes",
        f"q_{needs_key}_occ_0": "Pflegefachkraft",
        f"q_{needs_key}_count_0": "3",
        f"q_{needs_key}_tf_0": "6m",
        "action": "save",
    }
    assert client.post(url, data=draft).status_code == 302
    assert 'value="Pflegefachkraft"' in client.get(url).get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count(QualificationNeed.id))) == 0

    final = {
        **draft,
        f"q_{needs_key}_occ_1": "Koch",
        f"q_{needs_key}_count_1": "1",
        "action": "submit",
    }
    assert client.post(url, data=final).status_code == 200
    needs = db_session.scalars(
        sa.select(QualificationNeed).order_by(QualificationNeed.occupation)
    ).all()
    assert [(n.occupation, n.count, n.time_frame) for n in needs] == [
        ("Koch", 1, ""),
        ("Pflegefachkraft", 3, "6m"),
    ]
    response_row = db_session.scalar(sa.select(SurveyResponse))
    assert {n.survey_response_id for n in needs} == {response_row.id}
    assert needs[0].organisation.name == "Firma 0"

    # A second final answer for the same organisation is refused politely, nothing added.
    again = client.post(url, data=final)
    assert again.status_code == 409
    assert "already answered" in again.get_data(as_text=True) or "bereits" in again.get_data(
        as_text=True
    )
    assert db_session.scalar(sa.select(sa.func.count(QualificationNeed.id))) == 2

    results = staff.get(f"/bedarfsanalysen/runden/{round_id}/ergebnisse").get_data(as_text=True)
    assert "50,0 %" in results or "50.0 %" in results
    assert re.search(r'data-key="Pflegefachkraft">.*?>3<', results, re.S)
    xlsx = staff.get(f"/bedarfsanalysen/runden/{round_id}/ergebnisse.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    values = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    assert any(v[1] == "Pflegefachkraft" and v[2] == 3 for v in values)


def test_reminders_go_only_to_those_who_did_not_answer(app, client, client_as, db_session):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    run_jobs(staff.application)
    mailbox = QueuedMail(db_session, kind="notice")
    invitations = mailbox.messages
    assert len(invitations) == 2
    answered = next(m for m in invitations if m.rcpt_tos == ["chef1@firma1.example"])
    token = LINK.search(answered.message.get_body(("plain",)).get_content()).group(1)
    yes_key = _key(db_session, survey_id, "yesno")
    client.post(
        f"/bedarfsanalysen/antwort/{token}", data={f"q_{yes_key}": "yes", "action": "submit"}
    )

    staff.post(f"/bedarfsanalysen/runden/{round_id}/erinnern")
    run_jobs(staff.application)
    reminders = mailbox.messages[2:]
    assert [m.rcpt_tos for m in reminders] == [["chef0@firma0.example"]]
    recipients = db_session.scalars(
        sa.select(SurveyRecipient).order_by(SurveyRecipient.email)
    ).all()
    assert [r.reminded_at is not None for r in recipients] == [True, False]


def test_editing_a_sent_survey_leaves_the_sent_versions_questions_unchanged(client_as, db_session):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    yes_key = _key(db_session, survey_id, "yesno")
    staff.post(
        f"/bedarfsanalysen/{survey_id}/fragen/{yes_key}",
        data={"kind": "yesno", "text_de": "Geänderte Frage"},
    )
    staff.post(f"/bedarfsanalysen/{survey_id}/fragen/{yes_key}/loeschen")
    survey_round = db_session.get(SurveyRound, round_id)
    db_session.refresh(survey_round.version)
    texts = [q["text_de"] for q in survey_round.version.questions]
    assert texts == ["Interesse an Fachkräften aus dem Ausland?", "Welche Fachkräfte suchen Sie?"]
    survey = db_session.get(Survey, survey_id)
    db_session.refresh(survey)
    assert [q["text_de"] for q in survey.questions] == ["Welche Fachkräfte suchen Sie?"]


def test_a_tampered_link_gets_a_clear_message_and_no_page(client, client_as, db_session):
    staff = client_as("staff")
    _survey_id, round_id = _survey_with_round(db_session, staff)
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    run_jobs(staff.application)
    body = QueuedMail(db_session).messages[0].message.get_body(("plain",)).get_content()
    token = LINK.search(body).group(1)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = client.get(f"/bedarfsanalysen/antwort/{forged}")
    assert response.status_code == 404
    assert "nicht gültig" in response.get_data(as_text=True)
    assert (
        client.post(f"/bedarfsanalysen/antwort/{forged}", data={"action": "submit"}).status_code
        == 404
    )
    assert db_session.scalar(sa.select(sa.func.count(SurveyResponse.id))) == 0


def test_bad_answers_are_shown_again_with_an_error_and_nothing_is_saved(
    client, client_as, db_session
):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    run_jobs(staff.application)
    body = QueuedMail(db_session).messages[0].message.get_body(("plain",)).get_content()
    token = LINK.search(body).group(1)
    needs_key = _key(db_session, survey_id, "needs")
    response = client.post(
        f"/bedarfsanalysen/antwort/{token}",
        data={
            f"q_{needs_key}_occ_0": "Elektriker",
            f"q_{needs_key}_count_0": "viele",
            "action": "submit",
        },
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'value="Elektriker"' in text
    assert 'value="viele"' in text
    assert db_session.scalar(sa.select(sa.func.count(SurveyResponse.id))) == 0


def test_an_empty_submit_is_refused_so_the_survey_stays_open_for_the_firm(
    client, client_as, db_session
):
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    run_jobs(staff.application)
    body = QueuedMail(db_session).messages[0].message.get_body(("plain",)).get_content()
    token = LINK.search(body).group(1)
    url = f"/bedarfsanalysen/antwort/{token}"

    response = client.post(url, data={"action": "submit"})

    assert response.status_code == 422
    assert "Bitte beantworten Sie mindestens eine Frage" in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count(SurveyResponse.id))) == 0
    assert db_session.scalar(sa.select(SurveyRecipient.responded_at).limit(1)) is None
    # With one answer the same button submits.
    yes_key = _key(db_session, survey_id, "yesno")
    assert client.post(url, data={f"q_{yes_key}": "no", "action": "submit"}).status_code == 200
    assert db_session.scalar(sa.select(SurveyResponse.status)) == "final"


def test_answers_sent_over_the_networks_limit_come_back_in_the_form_unsaved(
    app, client, client_as, db_session, monkeypatch
):
    monkeypatch.setitem(app.config, "CRM_INTAKE_MAX_PER_IP", 1)  # six posts an hour
    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    run_jobs(staff.application)
    body = QueuedMail(db_session).messages[0].message.get_body(("plain",)).get_content()
    url = f"/bedarfsanalysen/antwort/{LINK.search(body).group(1)}"
    needs_key = _key(db_session, survey_id, "needs")
    draft = {f"q_{needs_key}_occ_0": "Elektriker", f"q_{needs_key}_count_0": "2"}
    for _ in range(6):
        assert client.post(url, data={**draft, "action": "save"}).status_code == 302
    refused = client.post(url, data={**draft, f"q_{needs_key}_occ_0": "Mechatroniker"})
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "Zu viele Versuche" in page
    assert 'id="answer-form"' in page
    assert 'value="Mechatroniker"' in page
    saved = db_session.scalar(sa.select(SurveyResponse))
    db_session.refresh(saved)
    assert "Mechatroniker" not in str(saved.answers)


def test_the_answer_page_needs_the_csrf_token(client, client_as, db_session):
    staff = client_as("staff")
    _survey_id, round_id = _survey_with_round(db_session, staff)
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    run_jobs(staff.application)
    body = QueuedMail(db_session).messages[0].message.get_body(("plain",)).get_content()
    token = LINK.search(body).group(1)
    response = client.post(
        f"/bedarfsanalysen/antwort/{token}", data={"action": "submit"}, csrf=False
    )
    assert response.status_code == 400
    assert db_session.scalar(sa.select(sa.func.count(SurveyResponse.id))) == 0


def test_staff_pages_are_for_contact_editors_only_and_need_csrf(client, client_as, db_session):
    assert client.get("/bedarfsanalysen/").status_code == 302  # to the login
    readonly = client_as("readonly")
    assert readonly.get("/bedarfsanalysen/").status_code == 403
    assert readonly.post("/bedarfsanalysen/neu", data={"title": "X"}).status_code == 403
    staff = client_as("staff")
    assert staff.get("/bedarfsanalysen/").status_code == 200
    assert staff.post("/bedarfsanalysen/neu", data={"title": "X"}, csrf=False).status_code == 400
    assert db_session.scalar(sa.select(sa.func.count(Survey.id))) == 0


def test_a_closed_round_takes_no_answers_and_sends_nothing(client, client_as, db_session):
    staff = client_as("staff")
    _survey_id, round_id = _survey_with_round(db_session, staff)
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    run_jobs(staff.application)
    body = QueuedMail(db_session).messages[0].message.get_body(("plain",)).get_content()
    token = LINK.search(body).group(1)
    survey_round = db_session.get(SurveyRound, round_id)
    survey_round.closes_on = date.today() - timedelta(days=2)
    db_session.commit()
    assert client.get(f"/bedarfsanalysen/antwort/{token}").status_code == 410
    staff.post(f"/bedarfsanalysen/runden/{round_id}/erinnern")
    run_jobs(staff.application)
    assert len(QueuedMail(db_session).messages) == 2


def test_a_choice_question_without_options_is_refused_with_the_input_kept(client_as, db_session):
    staff = client_as("staff")
    staff.post("/bedarfsanalysen/neu", data={"title": "Kurz"})
    survey = db_session.scalar(sa.select(Survey))
    response = _question(staff, survey.id, kind="single", text_de="Branche?", options_de="Nur eine")
    assert response.status_code == 422
    assert "Branche?" in response.get_data(as_text=True)
    db_session.refresh(survey)
    assert survey.questions == []


def test_merging_two_firms_keeps_the_answer_of_the_merged_one(client, client_as, db_session):
    from crm.accounts.models import User
    from crm.contacts import service as contacts
    from crm.contacts.models import Organisation

    staff = client_as("staff")
    survey_id, round_id = _survey_with_round(db_session, staff)
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    run_jobs(staff.application)
    mails = {m.rcpt_tos[0]: m.message for m in QueuedMail(db_session).messages}
    token = LINK.search(mails["chef1@firma1.example"].get_body(("plain",)).get_content()).group(1)
    yes_key = _key(db_session, survey_id, "yesno")
    client.post(
        f"/bedarfsanalysen/antwort/{token}", data={f"q_{yes_key}": "yes", "action": "submit"}
    )
    keep = db_session.scalar(sa.select(Organisation).where(Organisation.name == "Firma 0"))
    drop = db_session.scalar(sa.select(Organisation).where(Organisation.name == "Firma 1"))
    admin = factories.make_user(db_session, role="admin")
    contacts.merge_organisations(db_session, keep, drop, user=db_session.get(User, admin.id))
    db_session.commit()
    response = db_session.scalar(sa.select(SurveyResponse))
    assert response.organisation_id == keep.id
    # Firma 0 had a link of its own in this round: Firma 1's went with the merged record.
    (recipient,) = db_session.scalars(sa.select(SurveyRecipient)).all()
    assert recipient.organisation_id == keep.id
    # The answer counts for the round's response rate.
    assert recipient.responded_at is not None


def test_a_filled_honeypot_stores_nothing_and_the_page_speaks_english_on_request(
    client, client_as, db_session
):
    staff = client_as("staff")
    _survey_id, round_id = _survey_with_round(db_session, staff)
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    run_jobs(staff.application)
    body = QueuedMail(db_session).messages[0].message.get_body(("plain",)).get_content()
    token = LINK.search(body).group(1)
    page = client.get(f"/bedarfsanalysen/antwort/{token}?sprache=en").get_data(as_text=True)
    assert "Interested in hiring from abroad?" in page
    assert "Submit answers" in page
    response = client.post(
        f"/bedarfsanalysen/antwort/{token}", data={"website": "http://spam", "action": "submit"}
    )
    assert response.status_code == 200
    assert db_session.scalar(sa.select(sa.func.count(SurveyResponse.id))) == 0


def test_creating_a_survey_confirms_it_and_names_the_next_step(client_as):
    staff = client_as("staff")
    response = staff.post(
        "/bedarfsanalysen/neu",
        data={"title": "Fachkräftebedarf Frühjahr 2027"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Die Bedarfsanalyse wurde angelegt. Fügen Sie als Nächstes ihre Fragen hinzu." in page
