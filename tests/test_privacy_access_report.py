"""Art. 15 that a person can read: one lookup, one subject, German, Berlin time, (a)–(h), JSON."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any

import lxml.html
import pytest
import sqlalchemy as sa
from flask import current_app

from crm.audit.models import AuditEntry
from crm.contacts import models as contact_models
from crm.contacts.import_models import ImportItem, ImportJob
from crm.contacts.service import add_affiliation, save_organisation, save_person
from crm.esf import service as esf
from crm.esf.models import EsfFollowupLink
from crm.events import models as event_models
from crm.events.service import EventData, LeadData, capture_lead, create_event, set_contact
from crm.extensions import db
from crm.followups import models as followup_models
from crm.intake.models import Inquiry
from crm.mail.queue import enqueue
from crm.newsletters import models as newsletter_models
from crm.newsletters.models import Campaign, Delivery
from crm.newsletters.service import (
    MailSettings,
    confirm_subscription,
    confirm_token,
    create_list,
    request_subscription,
)
from crm.participants import models as participant_models
from crm.participants import service as ps
from crm.placements import service as placements
from crm.privacy import service as privacy_service
from crm.surveys.models import Survey, SurveyRecipient, SurveyRound, SurveyVersion
from tests import factories

FIRST, LAST = "Agnieszka", "Kowalczyk-Brandt"
EMAIL = "agnieszka.kowalczyk@example.org"
PERSON_PHONE = "+49 391 5550177"
PARTICIPANT_PHONE = "0391 555 0177"
CONSENT_WORDING = "Ich möchte den Newsletter Haus der Wirtschaft per E-Mail erhalten."
COMPLAINT_TEXT = "Beschwerden richten Sie bitte an die Testaufsicht Elbaue, Postfach 1, 39000."


def _one_human_everywhere(s):
    """One human who is a contact, a newsletter subscriber, a fair lead and a participant."""
    staff = factories.make_user(s, role="staff", display_name="Bettina Standdienst")
    office = factories.make_office(s, name="Geschäftsstelle Burg")
    counsellor = factories.make_user(
        s, role="counsellor", display_name="Carla Beraterin", office=office
    )
    firm = save_organisation(s, {"name": "Elbe Logistik GmbH", "kind": "employer"})
    person = save_person(
        s,
        {
            "salutation": "frau",
            "first_name": FIRST,
            "last_name": LAST,
            "email": EMAIL,
            "phone": PERSON_PHONE,
            "language": "pl",
            "notes": "Spricht Polnisch und Deutsch.",
            "owner_id": staff.id,
            "tags": ["Messe 2026"],
        },
    )
    add_affiliation(s, person, firm, function="Disponentin", since=date(2025, 4, 1))
    crew = contact_models.ContactList(name="Einladungsliste Herbst")
    s.add(crew)
    s.flush()
    s.add(contact_models.ContactListMember(list_id=crew.id, person_id=person.id))
    # Newsletter: web sign-up confirmed in summer (CEST), one campaign sent to her.
    lst = create_list(s, name="Haus der Wirtschaft", slug="hdw", consent_text=CONSENT_WORDING)
    settings = MailSettings.from_config(current_app.config)
    result = request_subscription(
        s,
        lst,
        email=EMAIL,
        first_name=FIRST,
        last_name=LAST,
        ip="192.0.2.77",
        user_agent="Firefox",
        now=datetime(2026, 7, 1, 9, 55, tzinfo=UTC),
    )
    confirm_subscription(
        s,
        settings,
        confirm_token(settings, result.signup),
        ip="192.0.2.77",
        now=datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
    )
    campaign = Campaign(name="Herbst-Newsletter", list_id=lst.id, subject="Neues aus dem Netzwerk")
    s.add(campaign)
    s.flush()
    s.add(
        Delivery(
            campaign_id=campaign.id,
            person_id=person.id,
            email=EMAIL,
            status="sent",
            sent_at=datetime(2026, 10, 2, 8, 0, tzinfo=UTC),
            claimed_by="sender-host-17",
            message_id="<delivery-internal-id@example.org>",
        )
    )
    # A message the office queued to her (the notice of a repeated sign-up).
    notice = EmailMessage()
    notice["From"] = "Netzwerk <crm@example.org>"
    notice["To"] = EMAIL
    notice["Subject"] = "Ihre Anmeldung: Newsletter"
    notice.set_content("Sie sind bereits angemeldet.")
    enqueue(s, notice, kind="confirmation", person_id=person.id)
    # A fair in winter time (CET): invited, and a lead with activity and follow-up.
    fair = create_event(
        s,
        EventData(
            kind="fair",
            title="Jobmesse Magdeburg",
            start_local=datetime(2026, 11, 21, 9),
            end_local=datetime(2026, 11, 21, 16),
        ),
    )
    set_contact(s, fair, person, "attended")
    # Her registration on the fair's public page, linked to her by its address.
    s.add(
        event_models.EventRegistration(
            event_id=fair.id,
            person_id=person.id,
            name=f"{FIRST} {LAST}",
            email=EMAIL,
            email_key=EMAIL.lower(),
            organisation="Elbe Logistik GmbH",
            status="attended",
        )
    )
    capture_lead(
        s,
        fair,
        LeadData(
            first_name=FIRST,
            last_name=LAST,
            email=EMAIL,
            organisation_name="Elbe Logistik GmbH",
            note="Sucht Fahrerinnen mit Führerschein C.",
            followup_due=date(2026, 11, 28),
        ),
        captured_by=staff,
        assignee=staff,
        now=datetime(2026, 11, 21, 13, 30, tzinfo=UTC),
    )
    # An import that filled in her mobile number.
    job = ImportJob(
        uuid="a" * 32,
        filename="Messeliste_Herbst.xlsx",
        file_kind="xlsx",
        status="done",
        created_by_id=staff.id,
    )
    s.add(job)
    s.flush()
    s.add(
        ImportItem(
            job_id=job.id,
            entity_type="person",
            entity_id=person.id,
            action="fill",
            fields={"mobile": "0170 5550177"},
        )
    )
    # The same human in counselling, with every participant place filled.
    partner = factories.make_partner(s, "Anerkennungsstelle Halle e.V.")
    participant = factories.make_participant(
        s,
        office=office,
        counsellor=counsellor,
        first_name=FIRST,
        last_name=LAST,
        email=EMAIL,
        phone=PARTICIPANT_PHONE,
        city="Burg",
        birth_year=1988,
        gender="female",
        country_of_origin="Polen",
        profession="Berufskraftfahrerin",
        recognition_status="in_progress",
        language_level="B2",
        acquisition_channel="job_fair",
        referring_organisation_id=partner.id,
        first_contact_on=date(2026, 3, 2),
    )
    ps.add_session(s, participant, held_on=date(2026, 3, 3), minutes=90, note="Erstgespräch")
    ps.add_contact(
        s,
        participant,
        kind="call",
        happened_at=datetime(2026, 3, 4, 9, 15, tzinfo=UTC),
        duration_minutes=10,
        note="Rückruf wegen Unterlagen",
    )
    ps.add_release(
        s,
        participant,
        organisation=partner,
        granted_on=date(2026, 3, 3),
        scope="Unterlagen zur Anerkennung",
    )
    ps.create_referral(
        s,
        participant,
        organisation=partner,
        referred_on=date(2026, 3, 4),
        direction="to",
        purpose="Anerkennung des Führerscheins",
    )
    items = ps.checklist(s, participant)
    ps.update_support_item(s, items[0], status="in_progress", note="Wohnung in Burg gesucht")
    placements.save_placement(
        s,
        participant,
        organisation=partner,
        kind="internship",
        status="ended",
        starts_on=date(2026, 6, 1),
        ends_on=date(2026, 8, 31),
        note="Praktikum im Lager",
        today=date(2026, 6, 1),
    )
    ps.record_exit(s, participant, exit_on=date(2026, 9, 30), outcome="employment", note="Vertrag")
    esf.save_entry(
        s,
        participant,
        {"labour_status": "unemployed", "third_country": "yes", "disability": "yes"},
        disability_consent_on=date(2026, 2, 1),
    )
    # The needs survey's link to her firm went to her.
    survey = Survey(title="Bedarf", intro_de="", intro_en="", questions=[])
    s.add(survey)
    s.flush()
    version = SurveyVersion(survey_id=survey.id, number=1, title="Bedarf", questions=[])
    s.add(version)
    s.flush()
    survey_round = SurveyRound(
        survey_id=survey.id,
        version_id=version.id,
        name="Bedarfsanalyse 2026",
        closes_on=date(2026, 12, 31),
    )
    s.add(survey_round)
    s.flush()
    s.add(
        SurveyRecipient(
            round_id=survey_round.id,
            organisation_id=firm.id,
            person_id=person.id,
            email=EMAIL,
            token_hash="0" * 64,
        )
    )
    # Her firm names her as the onboarding contact for the people placed there.
    placements.save_firm_support(
        s, firm, training_status="planned", training_on=None, onboarding_person=person
    )
    # Six months after her exit the ESF Plus short survey went to her; no answer yet.
    s.add(
        EsfFollowupLink(
            participant_id=participant.id,
            token_hash="2" * 64,
            sent_at=datetime(2027, 3, 31, 7, 0, tzinfo=UTC),
        )
    )
    # Her inquiry on the public form, converted into the counselling record.
    s.add(
        Inquiry(
            kind="person",
            topic="recognition",
            office_id=office.id,
            name=f"{FIRST} {LAST}",
            email=EMAIL,
            channel="web",
            message="Ich möchte meinen Abschluss anerkennen lassen.",
            status="converted",
            converted_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            participant_id=participant.id,
        )
    )
    # Five years later she is due for erasure (the retention review row).
    privacy_service.mark_due(s, today=date(2031, 10, 1), years=5)
    s.commit()
    return person.id, participant.id, person.token_nonce


def _text(html: str) -> str:
    """The visible text of the page's main element (no tags, no attribute values)."""
    root = lxml.html.fromstring(html)
    main = root.find(".//main")
    return " ".join(" ".join((main if main is not None else root).itertext()).split())


def _report_url(person: int, participant: int, ext: str = "") -> str:
    return f"/datenschutz/auskunft/bericht{ext}?r=person:{person}&r=participant:{participant}"


def _raw_codes() -> set[str]:
    """Column names and stored codes of every model the report reads (from the models)."""
    models = [
        contact_models.Person,
        contact_models.Affiliation,
        contact_models.Activity,
        contact_models.ContactListMember,
        followup_models.FollowUp,
        newsletter_models.Subscription,
        newsletter_models.ConsentEvent,
        newsletter_models.Delivery,
        event_models.EventContact,
        event_models.Lead,
        event_models.EventRegistration,
        participant_models.Participant,
        participant_models.CounsellingSession,
        participant_models.Referral,
        participant_models.ConsentRelease,
        participant_models.SupportItem,
        AuditEntry,
        ImportItem,
    ]
    codes: set[str] = set()
    for model in models:
        codes.add(model.__tablename__)
        codes |= {c.name for c in model.__table__.columns if "_" in c.name}
    for module in (contact_models, event_models, followup_models, newsletter_models):
        for name in dir(module):
            value = getattr(module, name)
            if name.isupper() and isinstance(value, tuple):
                codes |= {v for v in value if isinstance(v, str)}
    for name in (
        "RECOGNITION_STATUSES",
        "GENDERS",
        "ACQUISITION_CHANNELS",
        "EXIT_OUTCOMES",
        "REFERRAL_DIRECTIONS",
        "REFERRAL_STATUSES",
        "SUPPORT_STATUSES",
    ):
        codes |= set(getattr(participant_models, name))
    codes.add("newsletter_consent_ledger")
    # Codes that are also the German word shown for them ("normal" priority).
    return {c for c in codes if len(c) >= 4 and c not in {"normal"}}


@pytest.fixture
def everywhere(db_session, app):
    with app.test_request_context():
        return _one_human_everywhere(db_session)


def test_the_report_of_a_contact_participant_and_subscriber_has_one_entry_per_filled_place(
    client_as, db_session, everywhere
):
    person, participant, _nonce = everywhere
    admin = client_as("admin")
    response = admin.get(_report_url(person, participant))
    assert response.status_code == 200
    root = lxml.html.fromstring(response.get_data(as_text=True))
    counts = {
        el.get("id").removeprefix("data-"): len(el.find_class("report-entry"))
        for el in root.find_class("report-section")
        if el.get("id", "").startswith("data-")
    }
    assert counts["person"] == 1
    assert counts["participant"] == 1
    assert counts["affiliations"] == 1
    assert counts["contact_lists"] == 1
    assert counts["activities"] == 1  # the fair contact
    assert counts["followups"] == 1
    assert counts["imports"] == 1
    assert counts["counselling_sessions"] == 1
    assert counts["participant_contacts"] == 1
    assert counts["referrals"] == 1
    assert counts["consent_releases"] == 1
    assert counts["support_items"] >= 1
    assert counts["newsletter_subscriptions"] == 1
    assert counts["newsletter_consent_records"] == 2  # requested, confirmed
    assert counts["newsletter_deliveries"] == 1
    assert counts["event_contacts"] == 1
    assert counts["event_leads"] == 1
    assert counts["audit_log"] > 5


def test_the_report_is_in_german_with_names_instead_of_numbers_and_no_raw_codes(
    client_as, db_session, everywhere
):
    person, participant, nonce = everywhere
    html = (
        client_as("admin", locale="en").get(_report_url(person, participant)).get_data(as_text=True)
    )
    text = _text(html)
    for expected in (
        "Anrede Frau",
        "Bevorzugte Sprache Polnisch",
        "Zugangsweg Jobmesse",
        "Geschlecht weiblich",
        "Anerkennungsstatus in Bearbeitung",
        "Ergebnis Arbeitsaufnahme",
        "Geschäftsstelle Geschäftsstelle Burg",
        "Carla Beraterin",  # counsellor by name
        "Bettina Standdienst",  # staff by name
        "Jobmesse Magdeburg",  # the event by title
        "Haus der Wirtschaft",  # the list by name
        "Anerkennungsstelle Halle e.V.",  # the partner by name
        "Herbst-Newsletter",  # the campaign by name
        f"Fassung 1: {CONSENT_WORDING}",  # the consent text as it was worded
        "Messeliste_Herbst.xlsx",
        # Whether the uploaded file (with her row) is still kept.
        "Hochgeladene Datei noch in der Datenbank gespeichert",
        "Schlagwörter Messe 2026",
        "Zur Löschung vorgesehen ab 30.09.2031",
    ):
        assert expected in text, expected
    leaked = sorted(
        c for c in _raw_codes() if re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", text)
    )
    assert leaked == []
    for secret in (nonce, "sender-host-17", "delivery-internal-id", "$argon2"):
        assert secret not in html


def test_times_in_the_report_are_berlin_time_in_german_format(client_as, db_session, everywhere):
    person, participant, _nonce = everywhere
    text = _text(client_as("admin").get(_report_url(person, participant)).get_data(as_text=True))
    assert "21.11.2026 14:30" in text  # 13:30 UTC in winter
    assert "01.07.2026 12:00" in text  # 10:00 UTC in summer
    assert "13:30" not in text
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text)


def test_the_art15_section_shows_every_letter_with_the_admins_configured_texts(
    client_as, db_session, everywhere
):
    person, participant, _nonce = everywhere
    admin = client_as("admin")
    form = admin.get("/datenschutz/auskunft/texte")
    assert form.status_code == 200
    assert "Landesbeauftragten für den Datenschutz Sachsen-Anhalt" in form.get_data(as_text=True)
    saved = admin.post(
        "/datenschutz/auskunft/texte", data={"supervisory_authority": COMPLAINT_TEXT}
    )
    assert saved.status_code == 302
    root = lxml.html.fromstring(admin.get(_report_url(person, participant)).get_data(as_text=True))
    section = root.get_element_by_id("art15-information")
    letters = [h.text_content().split(")")[0] for h in section.iter("h3")]
    assert letters == list("abcdefgh")
    text = " ".join(section.text_content().split())
    assert COMPLAINT_TEXT in text
    assert (
        "Anerkennungsstelle Halle e.V." in root.get_element_by_id("info-recipients").text_content()
    )
    assert "5 Jahre" in root.get_element_by_id("info-storage").text_content()
    sources = root.get_element_by_id("info-sources").text_content()
    for source in ("Zugangsweg: Jobmesse", "Importdatei", "Webformular (Double-Opt-in)"):
        assert source in sources, source


def test_the_source_of_a_contact_is_the_web_form_the_fair_or_the_import_that_created_it(
    app, client_as, db_session
):
    with app.test_request_context():
        s = db_session
        staff = factories.make_user(s, role="staff", display_name="Bettina Standdienst")
        lst = create_list(s, name="Haus der Wirtschaft", slug="hdw", consent_text=CONSENT_WORDING)
        # A web sign-up reaches the contacts when it is confirmed.
        settings = MailSettings.from_config(current_app.config)
        signup = request_subscription(
            s, lst, email="neu@example.org", last_name="Neumann", ip="192.0.2.1"
        ).signup
        signed_up = confirm_subscription(
            s, settings, confirm_token(settings, signup), ip="192.0.2.1"
        ).person_id
        fair = create_event(
            s,
            EventData(
                kind="fair",
                title="Jobmesse Stendal",
                start_local=datetime(2026, 5, 5, 9),
                end_local=datetime(2026, 5, 5, 16),
            ),
        )
        met = capture_lead(
            s,
            fair,
            LeadData(first_name="Mia", last_name="Messmann", email="messe@example.org"),
            captured_by=staff,
            assignee=staff,
            now=datetime(2026, 5, 5, 10, tzinfo=UTC),
        ).person_id
        imported = save_person(s, {"last_name": "Importiert"}).id
        job = ImportJob(uuid="b" * 32, filename="Kammerliste.csv", file_kind="csv")
        s.add(job)
        s.flush()
        s.add(ImportItem(job_id=job.id, entity_type="person", entity_id=imported, action="create"))
        s.commit()
    admin = client_as("admin")
    expected = {
        signed_up: "Ihre Anmeldung über das Web-Formular des Newsletters „Haus der Wirtschaft“",
        met: "Kontakt auf der Veranstaltung „Jobmesse Stendal“ am 05.05.2026",
        imported: "Import der Datei „Kammerliste.csv“",
    }
    for person, source in expected.items():
        root = lxml.html.fromstring(
            admin.get(f"/datenschutz/auskunft/bericht?r=person:{person}").get_data(as_text=True)
        )
        assert source in root.get_element_by_id("info-sources").text_content(), source


def test_the_json_parses_and_holds_the_same_content_as_the_page(client_as, db_session, everywhere):
    person, participant, _nonce = everywhere
    admin = client_as("admin")
    response = admin.get(_report_url(person, participant, ".json"))
    assert response.mimetype == "application/json"
    data = json.loads(response.get_data(as_text=True))
    # Fetched second, the page holds one more log entry: the JSON export itself.
    text = _text(admin.get(_report_url(person, participant)).get_data(as_text=True))
    assert data["format"] == "netzwerk-crm/auskunft"
    assert data["subject"]["records"] == [f"participant:{participant}", f"person:{person}"]
    keys = [s["key"] for s in data["sections"]]
    assert {"person", "participant", "newsletter_subscriptions", "audit_log"} <= set(keys)
    assert [i["letter"] for i in data["information"]] == list("abcdefgh")
    for section in data["sections"]:
        for entry in section["entries"]:
            for f in entry["fields"]:
                assert set(f) == {"key", "label", "value"}
                assert " ".join(f["value"].split()) in text, (section["key"], f)
                assert " ".join(f["label"].split()) in text
    person_fields = {f["key"]: f["value"] for f in data["sections"][0]["entries"][0]["fields"]}
    assert person_fields["salutation"] == "Frau"


def test_the_report_is_a_pdf_when_asked_for(client_as, db_session, everywhere):
    pytest.importorskip("weasyprint")
    person, participant, _nonce = everywhere
    response = client_as("admin").get(_report_url(person, participant, ".pdf"))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")


def test_every_export_is_audited_with_who_exported_whom(client_as, db_session, everywhere):
    person, participant, _nonce = everywhere
    admin = client_as("admin")
    for ext in ("", ".json", ".pdf"):
        assert admin.get(_report_url(person, participant, ext)).status_code == 200

    def audited(action: str) -> list[Any]:
        return db_session.execute(
            sa.select(AuditEntry.entity_type, AuditEntry.entity_id, AuditEntry.actor_id).where(
                AuditEntry.action == action
            )
        ).all()

    both = [("person", person, admin.user.id), ("participant", participant, admin.user.id)]
    # The downloads are the information issued; the page on screen is the admin's preview.
    assert sorted(audited("access_export")) == sorted(both * 2)
    assert sorted(audited("access_view")) == sorted(both)


def test_every_table_that_links_to_a_person_has_its_rows_in_the_report(
    client_as, db_session, everywhere
):
    from crm.privacy.access import SECTION_TABLES

    person, participant, _nonce = everywhere
    data = client_as("admin").get(_report_url(person, participant, ".json")).get_json()
    # Follow-ups come in two sections (about the person, about the participant): sum by key.
    entries: dict[str, int] = {}
    for section in data["sections"]:
        entries[section["key"]] = entries.get(section["key"], 0) + len(section["entries"])
    subject = {"person": person, "participant": participant}
    rows = {
        "import_item": db_session.scalar(
            sa.select(sa.func.count())
            .select_from(ImportItem)
            .where(ImportItem.entity_type == "person", ImportItem.entity_id == person)
        )
    }
    for table in db.metadata.sorted_tables:
        links = [
            fk.parent == subject[fk.column.table.name]
            for fk in table.foreign_keys
            if fk.column.table.name in subject and fk.column.name == "id"
        ]
        if links:
            rows[table.name] = db_session.scalar(
                sa.select(sa.func.count()).select_from(table).where(sa.or_(*links))
            )
    assert set(rows) <= set(SECTION_TABLES), "a table links to people but is not in the report"
    assert all(rows.values()), f"the fixture leaves a place empty: {rows}"
    for table, n in rows.items():
        if table in ("person_tag", "retention_review"):
            assert entries[SECTION_TABLES[table]] >= 1, table  # shown inside that record
        else:
            assert entries[SECTION_TABLES[table]] == n, table


@pytest.mark.parametrize(
    "query", [f"{FIRST} {LAST}", "kowalczyk", EMAIL.upper(), PERSON_PHONE, "0391/5550177"]
)
def test_the_lookup_by_name_email_or_phone_finds_the_records_of_every_domain(
    client_as, db_session, everywhere, query
):
    person, participant, _nonce = everywhere
    other = save_person(db_session, {"first_name": "Olaf", "last_name": "Anders"}).id
    db_session.commit()
    response = client_as("admin").get("/datenschutz/auskunft", query_string={"q": query})
    assert response.status_code == 200
    root = lxml.html.fromstring(response.get_data(as_text=True))
    rows = {r.get("id"): r.get("data-group") for r in root.iter("tr") if r.get("id")}
    assert f"candidate-person-{person}" in rows
    assert f"candidate-participant-{participant}" in rows
    assert f"candidate-person-{other}" not in rows
    # Same e-mail and same name + phone: offered as one group for the admin to tick.
    assert rows[f"candidate-person-{person}"] == rows[f"candidate-participant-{participant}"]


def test_the_lookup_finds_a_contact_by_an_address_only_their_consent_records_still_hold(
    client_as, db_session, everywhere
):
    person, _participant, _nonce = everywhere
    db_session.get(contact_models.Person, person).email = "a.kowalczyk@neu.example.org"
    db_session.commit()
    response = client_as("admin").get("/datenschutz/auskunft", query_string={"q": EMAIL})
    root = lxml.html.fromstring(response.get_data(as_text=True))
    assert root.get_element_by_id(f"candidate-person-{person}") is not None


def test_the_cli_lists_matches_and_prints_the_report_as_german_text_audited(
    app, db_session, everywhere
):
    person, participant, _nonce = everywhere
    runner = app.test_cli_runner()
    found = runner.invoke(args=["crm", "access-report", "kowalczyk"])
    assert found.exit_code == 0, found.output
    assert f"person:{person}" in found.output
    assert f"participant:{participant}" in found.output
    args = ["crm", "access-report", "--record", f"person:{person}"]
    result = runner.invoke(args=[*args, "--record", f"participant:{participant}"])
    assert result.exit_code == 0, result.output
    assert "Zugangsweg: Jobmesse" in result.output
    assert "f) Beschwerderecht bei einer Aufsichtsbehörde" in result.output
    assert "21.11.2026 14:30" in result.output
    audited = db_session.scalars(
        sa.select(AuditEntry.actor_label).where(AuditEntry.action == "access_export")
    ).all()
    assert audited == ["cli", "cli"]


def test_the_datenschutz_page_leads_to_the_lookup_without_record_numbers(client_as, db_session):
    admin = client_as("admin")
    root = lxml.html.fromstring(admin.get("/verwaltung").get_data(as_text=True))
    privacy = [
        a.get("href") for a in root.iter("a") if a.get("href", "").startswith("/datenschutz")
    ]
    page = lxml.html.fromstring(admin.get(privacy[0]).get_data(as_text=True))
    form = page.get_element_by_id("lookup-form")
    assert form.get("action") == "/datenschutz/auskunft"
    assert [i.get("name") for i in form.iter("input")] == ["q"]
    assert (
        page.get_element_by_id("notice-settings-link").get("href") == "/datenschutz/auskunft/texte"
    )


@pytest.mark.parametrize("role", ["readonly", "counsellor", "staff", "lead"])
def test_only_admins_reach_the_access_report_and_its_texts(client_as, db_session, everywhere, role):
    person, participant, _nonce = everywhere
    c = client_as(role)
    for url in (
        "/datenschutz/auskunft?q=kowalczyk",
        _report_url(person, participant),
        _report_url(person, participant, ".json"),
        _report_url(person, participant, ".pdf"),
        "/datenschutz/auskunft/texte",
    ):
        assert c.get(url).status_code == 403, url
    assert c.post("/datenschutz/auskunft/texte", data={"rights": "x"}).status_code == 403
    assert not db_session.scalar(
        sa.select(sa.func.count()).where(AuditEntry.action.in_(["access_export", "access_view"]))
    )


def test_the_record_page_with_the_way_to_erasure_shows_the_readable_report(
    client_as, db_session, everywhere
):
    _person, participant, _nonce = everywhere
    html = client_as("admin").get(f"/datenschutz/teilnehmende/{participant}/auskunft")
    text = _text(html.get_data(as_text=True))
    assert "Zugangsweg Jobmesse" in text
    assert "Informationen nach Art. 15 Abs. 1 DSGVO" in text
    assert "acquisition_channel" not in text
    assert "job_fair" not in text
    assert 'id="erase-preview"' in html.get_data(as_text=True)


@pytest.mark.parametrize(
    "args", ["?r=", "?r=person:abc", "?r=nothing:1", "?r=person:99999999", "?r=person:1%00"]
)
def test_a_report_for_no_existing_record_is_not_found(client_as, db_session, args):
    # A NUL anywhere in a query is refused app-wide with 400 before the view runs.
    expected = 400 if "%00" in args else 404
    assert client_as("admin").get(f"/datenschutz/auskunft/bericht{args}").status_code == expected


def test_the_report_shows_the_esf_plus_data_with_the_disability_consent(
    client_as, db_session, everywhere
):
    person, participant, _nonce = everywhere
    data = client_as("admin").get(_report_url(person, participant, ".json")).get_json()
    (section,) = [s for s in data["sections"] if s["key"] == "esf"]
    fields = {f["key"]: f["value"] for f in section["entries"][0]["fields"]}
    assert fields["disability_consent_on"] == "01.02.2026"
    assert fields["labour_status"]
    assert "disability" in fields


def test_the_report_shows_when_the_esf_short_survey_was_sent_to_her(
    client_as, db_session, everywhere
):
    person, participant, _nonce = everywhere
    data = client_as("admin").get(_report_url(person, participant, ".json")).get_json()
    (section,) = [s for s in data["sections"] if s["key"] == "esf_followup_links"]
    (entry,) = section["entries"]
    fields = {f["key"]: f["value"] for f in entry["fields"]}
    assert fields == {"sent_at": "31.03.2027 09:00"}


def test_showing_the_report_without_ticking_a_record_leads_back_with_a_hint(client_as, db_session):
    """The button under the matches, pressed with nothing ticked, gave the 404 page."""
    factories.make_person(db_session, first_name="Jürgen", last_name="Größmann")
    db_session.commit()
    admin = client_as("admin")
    lookup = admin.get("/datenschutz/auskunft?q=Größmann").get_data(as_text=True)
    assert '<input type="hidden" name="q" value="Größmann">' in lookup
    response = admin.get("/datenschutz/auskunft/bericht?q=Größmann")
    assert response.status_code == 302
    assert response.headers["Location"] == "/datenschutz/auskunft?q=Gr%C3%B6%C3%9Fmann"
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Bitte kreuzen Sie mindestens einen Datensatz an." in page
    assert "Jürgen Größmann" in page


def test_an_imported_link_to_an_organisation_names_the_import_as_its_source(client_as, db_session):
    """The Art. 15 report said „Eingabe durch Mitarbeitende“ for a workplace that came
    from an import file, while the contact itself correctly named the file."""
    from tests.test_contacts_import import csv_bytes, start, upload_job

    staff = client_as("staff")
    data = csv_bytes(
        "Firma;Vorname;Nachname;Funktion", ["Bäckerei Schäfer;Jürgen;Größmann;Inhaber"]
    )
    job = upload_job(staff, db_session, "kammerliste.csv", data)
    start(staff, db_session, job)
    person = db_session.scalar(
        sa.select(contact_models.Person).where(contact_models.Person.last_name == "Größmann")
    )
    report = client_as("admin").get(f"/datenschutz/auskunft/bericht.json?r=person:{person.id}")
    sections = {s["key"]: s for s in report.get_json()["sections"]}
    (workplace,) = sections["affiliations"]["entries"]
    assert workplace["title"] == "Bäckerei Schäfer"
    assert workplace["source"].startswith("Import der Datei „kammerliste.csv“")
