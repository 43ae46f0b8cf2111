"""Survey rounds: recipients chosen by an audience of organisations (one contact person each,
the firms without one named), invitations and reminders sent by a worker job through the
outbox and a real SMTP server (a second run mails nobody), and results compared between two
rounds on the page and in the XLSX; permissions, CSRF and bad input."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.contacts.models import Organisation
from crm.database import utcnow
from crm.jobs.models import BackgroundJob
from crm.mail import SMTPTransport
from crm.mail.sender import SenderSettings, send_outbox
from crm.mail.store import stores_for
from crm.surveys import sending, service
from crm.surveys.models import Survey, SurveyRecipient, SurveyRound, SurveyUnreached
from tests import factories
from tests.job_helpers import run_jobs
from tests.mail_helpers import QueuedMail

CLOSES = (date.today() + timedelta(days=30)).isoformat()
AUDIENCE = {"source": "audience", "org_kinds": "employer", "sectors": "Pflege"}


def _survey(db_session, staff, title="Bedarfsanalyse Pflege"):
    """A survey with the needs matrix, built through the staff pages; returns it."""
    staff.post("/bedarfsanalysen/neu", data={"title": title})
    survey = db_session.scalar(sa.select(Survey).where(Survey.title == title))
    staff.post(
        f"/bedarfsanalysen/{survey.id}/fragen",
        data={"kind": "needs", "text_de": "Welche Fachkräfte suchen Sie?"},
    )
    db_session.refresh(survey)
    return survey


def _firms(db_session):
    """Care employers: two reachable (one with two contacts), two without a reachable
    contact; an IT employer and a care association that the audience does not match."""
    reachable = factories.make_org(db_session, name="Pflegedienst Sonne", kind="employer")
    reachable.sector = "Pflege"
    first = factories.make_person(
        db_session, first_name="Anna", email="anna@sonne.example", org=reachable
    )
    factories.make_person(
        db_session, first_name="Bernd", email="bernd@sonne.example", org=reachable
    )
    second = factories.make_org(db_session, name="Heim Mond", kind="employer", sector="Pflege")
    factories.make_person(db_session, first_name="Carla", email="carla@mond.example", org=second)
    no_email = factories.make_org(db_session, name="Pflege Ohne Mail", kind="employer")
    no_email.sector = "Pflege"
    factories.make_person(db_session, first_name="Dora", email="", org=no_email)
    left = factories.make_org(db_session, name="Pflege Ehemalig", kind="employer", sector="Pflege")
    former = factories.make_person(db_session, first_name="Emil", email="emil@example.org")
    from crm.contacts.service import add_affiliation

    add_affiliation(db_session, former, left, until=date.today() - timedelta(days=10))
    it = factories.make_org(db_session, name="IT Firma", kind="employer", sector="IT")
    factories.make_person(db_session, first_name="Fritz", email="fritz@it.example", org=it)
    club = factories.make_org(db_session, name="Pflegeverein", kind="association", sector="Pflege")
    factories.make_person(db_session, first_name="Gerd", email="gerd@verein.example", org=club)
    db_session.commit()
    return first


def _create_round(staff, survey, name="Runde 1", **audience):
    data = {"name": name, "closes_on": CLOSES, **(audience or AUDIENCE)}
    preview = staff.post(f"/bedarfsanalysen/{survey.id}/runden", data={**data, "action": "preview"})
    assert preview.status_code == 200, preview.data
    key = re.search(r'name="preview_key" value="([0-9a-f]+)"', preview.get_data(as_text=True))
    created = staff.post(
        f"/bedarfsanalysen/{survey.id}/runden",
        data={**data, "action": "create", "preview_key": key.group(1)},
    )
    assert created.status_code == 302, created.data
    return int(created.headers["Location"].rsplit("/", 1)[1])


def test_an_audience_reaches_one_contact_per_matching_firm_and_names_the_firms_without_one(
    client_as, db_session
):
    staff = client_as("staff")
    survey = _survey(db_session, staff)
    anna = _firms(db_session)
    page = staff.get(f"/bedarfsanalysen/{survey.id}/runden/neu")
    assert page.status_code == 200
    assert "Pflege" in page.get_data(as_text=True)

    preview = staff.post(
        f"/bedarfsanalysen/{survey.id}/runden",
        data={"name": "Runde 1", "closes_on": CLOSES, **AUDIENCE, "action": "preview"},
    ).get_data(as_text=True)
    assert "2 Organisationen erhalten den persönlichen Link." in preview
    assert "2 passende Organisationen haben keine Ansprechperson mit E-Mail-Adresse" in preview
    assert db_session.scalar(sa.select(sa.func.count(SurveyRound.id))) == 0

    round_id = _create_round(staff, survey)
    recipients = db_session.scalars(
        sa.select(SurveyRecipient).where(SurveyRecipient.round_id == round_id)
    ).all()
    # One per firm: the lowest id among the current contacts with an address.
    assert sorted(r.email for r in recipients) == ["anna@sonne.example", "carla@mond.example"]
    assert next(r for r in recipients if r.email.startswith("anna")).person_id == anna.id
    unreached = db_session.scalars(
        sa.select(Organisation.name)
        .join(SurveyUnreached, SurveyUnreached.organisation_id == Organisation.id)
        .order_by(Organisation.name)
    ).all()
    assert unreached == ["Pflege Ehemalig", "Pflege Ohne Mail"]
    survey_round = db_session.get(SurveyRound, round_id)
    assert survey_round.audience_spec == {"org_kinds": ["employer"], "sectors": ["Pflege"]}

    text = staff.get(f"/bedarfsanalysen/runden/{round_id}").get_data(as_text=True)
    # The section is on the page once, and the browser tab shows only the round's name.
    assert text.count('id="unreached"') == 1
    assert "<title>Runde 1 – netzwerk-crm</title>" in text
    section = text.split('id="unreached"', 1)[1]
    assert "Ohne Ansprechperson mit E-Mail (2)" in section
    assert "Pflege Ohne Mail" in section
    assert "Pflege Ehemalig" in section
    assert "IT Firma" not in text
    assert "Pflegeverein" not in text


def test_the_service_filters_by_size_and_region_too(app_ctx):
    from crm.extensions import db

    session = db.session
    big = factories.make_org(session, name="Groß", kind="employer", region="Magdeburg")
    big.size_class = "250+"
    small = factories.make_org(session, name="Klein", kind="employer", region="Magdeburg")
    small.size_class = "1-9"
    elsewhere = factories.make_org(session, name="Burg", kind="employer", region="Burg")
    elsewhere.size_class = "250+"
    for org in (big, small, elsewhere):
        factories.make_person(session, org=org)
    session.flush()
    spec = service.clean_audience(
        {"regions": ["Magdeburg"], "size_classes": ["250+"]}, kinds=["employer"]
    )
    rows = service.audience_recipients(session, spec, date.today())
    assert [org_id for org_id, _p, _e in rows] == [big.id]
    with pytest.raises(service.SurveyError):
        service.clean_audience({"size_classes": ["riesig"]}, kinds=["employer"])
    with pytest.raises(service.SurveyError):
        service.clean_audience({"org_kinds": [], "sectors": [" "]}, kinds=["employer"])


def test_bad_round_input_is_refused_in_german_with_the_input_kept(client_as, db_session):
    staff = client_as("staff")
    survey = _survey(db_session, staff)
    _firms(db_session)
    url = f"/bedarfsanalysen/{survey.id}/runden"

    empty = staff.post(url, data={"name": "Meine Runde", "closes_on": CLOSES, "source": "audience"})
    assert empty.status_code == 422
    text = empty.get_data(as_text=True)
    assert "Bitte wählen Sie mindestens eine Art, eine Branche, eine Region oder eine Größe" in text
    assert 'value="Meine Runde"' in text

    forged = staff.post(
        url,
        data={
            "name": "Meine Runde",
            "closes_on": "morgen",
            "source": "audience",
            "org_kinds": "raumschiff",
        },
    )
    assert forged.status_code == 422
    assert "Bitte wählen Sie die Zielgruppe aus den angebotenen Werten." in forged.get_data(
        as_text=True
    )

    no_date = staff.post(url, data={**AUDIENCE, "name": "Meine Runde", "closes_on": "morgen"})
    assert no_date.status_code == 422
    text = no_date.get_data(as_text=True)
    assert "Einsendeschluss" in text
    assert 'value="morgen"' in text
    assert re.search(r'value="Pflege" selected', text)

    no_list = staff.post(url, data={"name": "X", "closes_on": CLOSES, "source": "list"})
    assert no_list.status_code == 422
    assert "Bitte wählen Sie eine Kontaktliste." in no_list.get_data(as_text=True)
    garbage = staff.post(url, data={"source": "list", "contact_list_id": "9" * 40})
    assert garbage.status_code == 422

    # The choice changed after the count was shown: the new count first, no round.
    changed = staff.post(
        url,
        data={
            **AUDIENCE,
            "sectors": "IT",
            "name": "X",
            "closes_on": CLOSES,
            "action": "create",
            "preview_key": "0" * 16,
        },
    )
    assert changed.status_code == 200
    assert "1 Organisation erhält den persönlichen Link." in changed.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count(SurveyRound.id))) == 0


def test_the_sending_job_mails_through_smtp_in_batches_and_a_second_run_mails_nobody(
    app, client, client_as, db_session, smtp_server, monkeypatch
):
    monkeypatch.setattr(sending, "BATCH", 1)
    staff = client_as("staff")
    survey = _survey(db_session, staff)
    _firms(db_session)
    round_id = _create_round(staff, survey)
    assert staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen").status_code == 302
    # The request only queued a job: no mail yet, and a second click queues no second job.
    assert QueuedMail(db_session).messages == []
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    page = staff.get(f"/bedarfsanalysen/runden/{round_id}").get_data(as_text=True)
    assert 'id="send-progress"' in page
    assert "wartet auf einen Worker" in page
    assert "Einladungen senden" not in page
    assert run_jobs(app) == 1
    job = db_session.scalar(sa.select(BackgroundJob).where(BackgroundJob.kind == sending.KIND))
    assert (job.status, job.progress_done, job.progress_total) == ("done", 2, 2)
    assert job.result["queued"] == 2
    fragment = staff.get(f"/bedarfsanalysen/runden/{round_id}/versand").get_data(as_text=True)
    assert "2 von 2 Empfänger*innen bearbeitet" in fragment
    assert "data-hx-get" not in fragment

    transport = SMTPTransport(smtp_server.host, smtp_server.port, security="none", timeout=10)
    send_outbox(
        db_session,
        transport,
        stores_for(app.config),
        SenderSettings(backoff_base=timedelta(0), connection_backoff=0),
    )
    received = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    assert sorted(received) == ["anna@sonne.example", "carla@mond.example"]
    assert db_session.get(SurveyRound, round_id).status == "sent"

    # Run again, as a new click and as the same job retried after a crash: nobody twice.
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    assert run_jobs(app) == 1
    job.status, job.claimed_by = "queued", ""
    db_session.commit()
    assert run_jobs(app) == 1
    assert len(QueuedMail(db_session).messages) == 2

    # Carla answers; the reminder goes to Anna only, and once.
    body = received["carla@mond.example"].get_body(("plain",)).get_content()
    token = re.search(r"/bedarfsanalysen/antwort/(\S+?)\?sprache=", body).group(1)
    needs_key = survey.questions[0]["key"]
    assert (
        client.post(
            f"/bedarfsanalysen/antwort/{token}",
            data={f"q_{needs_key}_occ_0": "Pflegefachkraft", f"q_{needs_key}_count_0": "1"}
            | {"action": "submit"},
        ).status_code
        == 200
    )
    staff.post(f"/bedarfsanalysen/runden/{round_id}/erinnern")
    assert run_jobs(app) == 1
    reminder_job = db_session.scalar(
        sa.select(BackgroundJob)
        .where(BackgroundJob.kind == sending.KIND)
        .order_by(BackgroundJob.id.desc())
    )
    reminder_job.status, reminder_job.claimed_by = "queued", ""
    db_session.commit()
    assert run_jobs(app) == 1
    reminders = QueuedMail(db_session).messages[2:]
    assert [m.rcpt_tos for m in reminders] == [["anna@sonne.example"]]
    assert reminders[0].message["Subject"].startswith("Erinnerung:")


def test_the_job_of_a_closed_round_mails_nobody(app, client_as, db_session):
    staff = client_as("staff")
    survey = _survey(db_session, staff)
    _firms(db_session)
    round_id = _create_round(staff, survey)
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    db_session.get(SurveyRound, round_id).closes_on = date.today() - timedelta(days=1)
    db_session.commit()
    assert run_jobs(app) == 1
    assert QueuedMail(db_session).messages == []


def _answer(db_session, round_id, needs):
    """The firms of the round answer: {organisation name: [(occupation, count)]}."""
    survey_round = db_session.get(SurveyRound, round_id)
    key = next(q["key"] for q in survey_round.version.questions if q["kind"] == "needs")
    for recipient in db_session.scalars(
        sa.select(SurveyRecipient).where(SurveyRecipient.round_id == round_id)
    ):
        rows = needs.get(recipient.organisation.name)
        if rows is None:
            continue
        answers = {key: [{"occupation": o, "count": str(n), "time_frame": ""} for o, n in rows]}
        service.save_answers(
            db_session,
            recipient,
            answers,
            final=True,
            now=utcnow(),
            today=date.today(),
        )
    db_session.commit()


def test_two_rounds_compared_side_by_side_on_the_page_and_in_the_xlsx(client_as, db_session):
    staff = client_as("staff")
    survey = _survey(db_session, staff)
    _firms(db_session)
    first = _create_round(staff, survey, name="Runde Frühjahr")
    second = _create_round(
        staff, survey, name="Runde Herbst", source="audience", org_kinds="employer", sectors="IT"
    )
    _answer(db_session, first, {"Pflegedienst Sonne": [("Pflegefachkraft", 3), ("Koch", 1)]})
    _answer(db_session, second, {"IT Firma": [("Pflegefachkraft", 1), ("Elektriker", 2)]})

    url = f"/bedarfsanalysen/runden/{first}/ergebnisse"
    plain = staff.get(url).get_data(as_text=True)
    assert "Runde Herbst" in plain  # offered for comparison
    page = staff.get(f"{url}?vergleich={second}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    occupations = text.split('id="by-occupation"', 1)[1].split("</table>", 1)[0]
    cells = re.findall(
        r'data-key="([^"]+)">.*?<td[^>]*>(\d+)</td><td[^>]*>(\d+)</td><td[^>]*>([+-]\d+)</td>',
        occupations,
    )
    assert cells == [
        ("Pflegefachkraft", "3", "1", "+2"),
        ("Koch", "1", "0", "+1"),
        ("Elektriker", "0", "2", "-2"),
    ]
    sectors = text.split('id="by-sector"', 1)[1].split("</table>", 1)[0]
    assert re.search(r'data-key="IT">.*?>0<.*?>3<.*?>-3<', sectors, re.S)
    # 1 of 2 firms answered against 1 of 1.
    assert "-50,0 Prozentpunkte" in text
    chart = re.search(r"data-chart='([^']+)'", text).group(1)
    assert "Runde Herbst" in chart
    assert "Runde Fr\\u00fchjahr" in chart

    xlsx = staff.get(f"/bedarfsanalysen/runden/{first}/ergebnisse.xlsx?vergleich={second}")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    values = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    assert values[0] == ("Aufschlüsselung", "Wert", "Runde Frühjahr", "Runde Herbst", "Differenz")
    assert ("Beruf", "Elektriker", 0, 2, -2) in values
    assert any(v[0] == "Rücklaufquote (%)" and v[2:] == (50.0, 100.0, -50.0) for v in values)


def test_a_bad_comparison_choice_gets_a_german_message_and_no_500(client_as, db_session):
    staff = client_as("staff")
    survey = _survey(db_session, staff)
    _firms(db_session)
    round_id = _create_round(staff, survey)
    url = f"/bedarfsanalysen/runden/{round_id}/ergebnisse"
    for bad in ("abc", "99999999", str(round_id), "9" * 30, "-1"):
        response = staff.get(url, query_string={"vergleich": bad})
        assert response.status_code == 422, bad
        assert "Bitte wählen Sie eine andere Runde aus der Liste." in response.get_data(
            as_text=True
        )
        xlsx = staff.get(url + ".xlsx", query_string={"vergleich": bad})
        assert xlsx.status_code == 404


def test_round_pages_and_actions_are_for_contact_editors_and_need_csrf(
    app, client, client_as, db_session
):
    staff = client_as("staff")
    survey = _survey(db_session, staff)
    _firms(db_session)
    round_id = _create_round(staff, survey)
    staff.post(f"/bedarfsanalysen/runden/{round_id}/einladen")
    readonly = client_as("readonly")
    for path in (
        f"/bedarfsanalysen/{survey.id}/runden/neu",
        f"/bedarfsanalysen/runden/{round_id}/versand",
        f"/bedarfsanalysen/runden/{round_id}/ergebnisse?vergleich={round_id}",
    ):
        assert readonly.get(path).status_code == 403, path
        assert client.get(path).status_code == 302, path  # to the login
    for path in (
        f"/bedarfsanalysen/{survey.id}/runden",
        f"/bedarfsanalysen/runden/{round_id}/einladen",
        f"/bedarfsanalysen/runden/{round_id}/erinnern",
    ):
        assert readonly.post(path, data={**AUDIENCE, "action": "preview"}).status_code == 403
        assert (
            staff.post(path, data={**AUDIENCE, "action": "preview"}, csrf=False).status_code == 400
        )
    # Only the one job queued by staff above.
    assert db_session.scalar(sa.select(sa.func.count(BackgroundJob.id))) == 1
    assert db_session.scalar(sa.select(sa.func.count(SurveyRound.id))) == 1


def test_the_progress_partial_polls_while_the_job_waits_and_reloads_the_page_when_done(
    app, client_as, db_session
):
    staff = client_as("staff")
    survey = _survey(db_session, staff)
    _firms(db_session)
    round_id = _create_round(staff, survey)
    url = f"/bedarfsanalysen/runden/{round_id}/versand"
    assert staff.get(url).status_code == 404  # nothing sent yet
    staff.post(f"/bedarfsanalysen/runden/{round_id}/erinnern")
    waiting = staff.get(url, headers={"HX-Request": "true"})
    assert "data-hx-get" in waiting.get_data(as_text=True)
    assert "HX-Refresh" not in waiting.headers
    assert run_jobs(app) == 1
    done = staff.get(url, headers={"HX-Request": "true"})
    assert done.headers["HX-Refresh"] == "true"
    # Nobody was invited yet, so the reminder mailed nobody.
    assert QueuedMail(db_session).messages == []
