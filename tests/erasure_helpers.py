"""One person in every place that can hold her data, next to other people sharing some of it.

"Paula Doppel-Probe" is a contact person at a firm whose main number she gave as her own,
a newsletter subscriber with consent records and a delivery, invited to and met at a fair,
imported from a file, mailed through the file outbox, and a participant in counselling.
Beside her: an active participant with her phone number and a note naming her, another
person whose consent records carry her e-mail address, and unlinked notes mentioning her.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from crm.audit.service import record
from crm.contacts import importer
from crm.contacts.models import (
    Activity,
    ContactList,
    ContactListMember,
    Organisation,
    Person,
    Tag,
    person_tag,
)
from crm.database import utcnow
from crm.esf.models import EsfFollowupLink
from crm.events.models import Event, EventContact, EventRegistration, Lead
from crm.followups.models import FollowUp
from crm.intake.models import Inquiry
from crm.mail.message import RawMessage
from crm.mail.queue import enqueue
from crm.mail.transports import FileTransport
from crm.newsletters.models import (
    Campaign,
    ConsentEvent,
    Delivery,
    NewsletterList,
    Subscription,
)
from crm.participants import service as ps
from crm.placements.models import FirmSupport, Placement
from crm.privacy.models import RetentionReview
from crm.surveys.models import Survey, SurveyRecipient, SurveyRound, SurveyVersion
from tests import factories
from tests.dashboard_helpers import entered_on, office_and_counsellor

FIRST, LAST = "Paula", "Doppel-Probe"
FULL = f"{FIRST} {LAST}"
EMAIL = "paula.doppel-probe@example.org"
FIRM_PHONE = "+49 391 4440000"
MOBILE = "0151 7770001"
IP = "192.0.2.77"
# A word that appears only in her own rows (never in records of others).
SECRET = "Quittenbaumchen"


@dataclass
class Everything:
    """Her ids in each role and the other people's records next to her."""

    person_id: int
    participant_id: int
    org_id: int
    other_participant_id: int
    other_person_id: int
    import_job_id: int
    her_eml: Path
    other_eml: Path
    extra: dict[str, Any] = field(default_factory=dict)


def _write_eml(directory: Path, to: str, subject: str, body: str) -> Path:
    msg = EmailMessage()
    msg["From"] = "crm@example.org"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}-{to}@crm.example.org>"
    msg.set_content(body)
    before = set(directory.glob("*.eml")) if directory.exists() else set()
    FileTransport(directory).send_raw(RawMessage.from_message(msg))
    (path,) = set(directory.glob("*.eml")) - before
    return path


def _import_her(s: Any, user_id: int) -> tuple[int, int]:
    """An import whose file holds her row and another; returns (job id, her person id)."""
    data = (
        "Firma;Vorname;Nachname;E-Mail\n"
        f"Elbe Stahl GmbH;{FIRST};{LAST};{EMAIL}\n"
        "Elbe Stahl GmbH;Bertram;Unbeteiligt;bertram.unbeteiligt@example.org\n"
    ).encode()
    job = importer.create_job(
        s,
        data=data,
        filename="messekontakte.csv",
        user_id=user_id,
        max_bytes=10**6,
    )
    report = importer.run_import(s, job)
    job.status, job.counts, job.report = "done", report.counts, report.to_json()
    s.flush()
    pid = s.scalar(sa.select(Person.id).where(Person.email == EMAIL))
    return job.id, pid


def _queue(s: Any, to: str, body: str, person_id: int | None = None) -> Any:
    msg = EmailMessage()
    msg["From"] = "Netzwerk <crm@example.org>"
    msg["To"] = to
    msg["Subject"] = "Ihre Anmeldung"
    msg.set_content(body)
    return enqueue(s, msg, kind="confirmation", person_id=person_id)


def fill_every_place(s: Any) -> Everything:
    """Create her in every place, and the people next to her (flushed, not committed)."""
    staff = factories.make_user(s, role="staff")
    job_id, pid = _import_her(s, staff.id)
    person = s.get(Person, pid)
    person.phone, person.mobile = FIRM_PHONE, MOBILE
    person.notes = f"{SECRET}: bevorzugt Anrufe am Vormittag"
    org = s.scalar(sa.select(Organisation).where(Organisation.name == "Elbe Stahl GmbH"))
    org.phone, org.notes = FIRM_PHONE, "Zentrale, Empfang fragt nach dem Anliegen"
    tag = Tag(name=f"Messe-{SECRET[:4]}")
    clist = ContactList(name="Einladungsliste Herbst")
    s.add_all([tag, clist])
    s.flush()
    s.execute(sa.insert(person_tag).values(person_id=pid, tag_id=tag.id))
    s.add(ContactListMember(list_id=clist.id, person_id=pid))
    # The needs survey's link to her firm went to her address.
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
            organisation_id=org.id,
            person_id=pid,
            email=EMAIL,
            token_hash="1" * 64,
        )
    )

    at_firm = Activity(
        kind="call",
        subject="Telefonat Ausbildung",
        text=f"{FULL} ruft zurück, Durchwahl über {FIRM_PHONE}",
        person_id=pid,
        organisation_id=org.id,
        user_id=staff.id,
    )
    alone = Activity(kind="note", subject="Notiz", text=f"{SECRET} privat", person_id=pid)
    followup = FollowUp(
        subject=f"{FULL} zurückrufen",
        note=f"Mail an {EMAIL}",
        due_at=datetime(2026, 12, 10, 8, tzinfo=UTC),
        assignee_id=staff.id,
        person_id=pid,
    )
    s.add_all([at_firm, alone, followup])
    s.flush()

    fair = Event(
        kind="fair",
        title="Jobmesse Magdeburg",
        starts_at=datetime(2026, 11, 5, 8, tzinfo=UTC),
        ends_at=datetime(2026, 11, 5, 15, tzinfo=UTC),
    )
    s.add(fair)
    s.flush()
    s.add(EventContact(event_id=fair.id, person_id=pid, status="attended"))
    # She registered on the fair's public page with her address, so it was linked to her.
    s.add(
        EventRegistration(
            event_id=fair.id,
            person_id=pid,
            name=FULL,
            email=EMAIL,
            email_key=EMAIL,
            dietary=f"{SECRET}: vegetarisch",
            status="attended",
        )
    )
    s.add(
        Lead(
            event_id=fair.id,
            person_id=pid,
            organisation_id=org.id,
            followup_id=followup.id,
            captured_by_id=staff.id,
            note=f"{SECRET}: sucht Azubis",
        )
    )

    nl = NewsletterList(name="Newsletter Arbeitgeber", slug="arbeitgeber-erasure")
    s.add(nl)
    s.flush()
    sub = Subscription(
        list_id=nl.id,
        person_id=pid,
        status="confirmed",
        source="web_form",
        requested_at=utcnow(),
        confirmed_at=utcnow(),
    )
    # Another person subscribed with her (shared) address before correcting it.
    other = Person(first_name="Otto", last_name="Anders", name_key="anders otto")
    other.email = "otto.anders@example.org"
    other.notes = f"Kollege von {FULL}"
    s.add_all([sub, other])
    s.flush()
    other_sub = Subscription(
        list_id=nl.id,
        person_id=other.id,
        status="confirmed",
        source="web_form",
        requested_at=utcnow(),
        confirmed_at=utcnow(),
    )
    s.add(other_sub)
    s.flush()
    for who, subscription, address, ip in (
        (pid, sub, EMAIL, IP),
        (other.id, other_sub, EMAIL, "198.51.100.5"),
    ):
        s.add(
            ConsentEvent(
                subscription_id=subscription.id,
                list_id=nl.id,
                person_id=who,
                action="confirmed",
                channel="web_form",
                email=address,
                ip=ip,
                user_agent="Firefox",
            )
        )
    campaign = Campaign(name="Dezember", list_id=nl.id, subject="Neues", body_text="Hallo")
    s.add(campaign)
    s.flush()
    sent = {"status": "sent", "sent_at": utcnow(), "message_id": "<x@crm.example.org>"}
    s.add(Delivery(campaign_id=campaign.id, person_id=pid, email=EMAIL, **sent))
    s.add(Delivery(campaign_id=campaign.id, person_id=other.id, email=other.email, **sent))

    outbox = Path(current_app.config["CRM_MAIL_OUTBOX_DIR"])
    her_eml = _write_eml(outbox, EMAIL, "Ihre Anmeldung", f"Hallo {FULL}, {SECRET}")
    other_eml = _write_eml(outbox, other.email, "Ihre Anmeldung", "Hallo Herr Anders")
    # The mail outbox: a queued message to her by id, a sent one by address only, and one
    # to somebody else.
    _queue(s, EMAIL, f"Hallo {FULL}, {SECRET}", person_id=pid)
    sent_to_her = _queue(s, EMAIL.upper(), "Bitte bestätigen Sie Ihre Anmeldung")
    sent_to_her.status, sent_to_her.sent_at = "sent", utcnow()
    _queue(s, other.email, "Hallo Herr Anders", person_id=other.id)

    # She is also a participant in counselling.
    office, counsellor = office_and_counsellor(s)
    p = entered_on(
        s,
        date(2026, 3, 10),
        office=office,
        counsellor=counsellor,
        first_name=FIRST,
        last_name=LAST,
        email=EMAIL,
        phone=FIRM_PHONE,
        notes=f"{SECRET}, kam über die Messe",
        language_level="B1",
        first_contact_on=date(2026, 3, 1),
    )
    ps.add_session(s, p, held_on=date(2026, 3, 12), minutes=45, note=f"{SECRET} Gespräch")
    ps.add_contact(
        s,
        p,
        kind="email",
        happened_at=datetime(2026, 3, 13, 10, 0, tzinfo=UTC),
        note=f"{SECRET} schickt Zeugnisse",
    )
    ps.add_release(s, p, organisation=org, granted_on=date(2026, 3, 1), scope=SECRET)
    ps.create_referral(
        s, p, organisation=org, referred_on=date(2026, 3, 2), direction="to", purpose=SECRET
    )
    items = ps.checklist(s, p)
    ps.update_support_item(s, items[0], status="in_progress", note=f"{SECRET}: Mietvertrag")
    ps.record_exit(s, p, exit_on=date(2026, 6, 1), outcome="employment", note=SECRET)
    s.add(RetentionReview(participant_id=p.id, due_on=date(2031, 6, 1), status="pending"))
    record(s, "note", entity_type="participant", entity_id=p.id, summary=f"Anruf {FULL}")
    case_followup = FollowUp(
        subject="Anerkennungsbescheid nachfragen",
        note="Termin beim Amt",
        due_at=datetime(2026, 12, 11, 8, tzinfo=UTC),
        assignee_id=counsellor.id,
        participant_id=p.id,
    )
    s.add(case_followup)
    # She came through the public inquiry form twice: once taken over as a contact person,
    # once as a participant; and she was placed with the firm.
    for linked in ({"person_id": pid}, {"participant_id": p.id}):
        s.add(
            Inquiry(
                kind="person",
                topic="recognition",
                name=FULL,
                email=EMAIL,
                channel="web",
                message=f"{SECRET}: Anerkennung meines Abschlusses",
                status="converted",
                converted_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
                **linked,
            )
        )
    s.add(
        Placement(
            participant_id=p.id,
            organisation_id=org.id,
            kind="job",
            status="active",
            starts_on=date(2026, 6, 1),
            note=f"{SECRET}: Vertrag als Fachkraft",
        )
    )
    # Her firm's checklist names her as onboarding contact (and, from before people could be
    # picked, in its free text too).
    firm_support = FirmSupport(
        organisation_id=org.id,
        onboarding_person_id=pid,
        onboarding_contact=f"{FULL}, Personalabteilung",
        training_status="held",
        training_on=date(2026, 5, 4),
    )
    s.add(firm_support)
    # Six months after her exit she answered the ESF Plus short survey.
    s.add(
        EsfFollowupLink(
            participant_id=p.id,
            token_hash="1" * 64,
            sent_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
            answered_at=datetime(2026, 12, 2, 18, tzinfo=UTC),
            employed="yes",
            improved="yes",
        )
    )

    # An active participant sharing her phone, naming her in the notes (not linked).
    sister = entered_on(
        s,
        date(2026, 4, 1),
        office=office,
        counsellor=counsellor,
        first_name="Paulina",
        last_name="Doppel",
        email="paulina.doppel@example.org",
        phone=FIRM_PHONE,
        notes=f"Schwester von {FULL}, gleiche Telefonnummer",
        first_contact_on=date(2026, 3, 20),
    )
    s.flush()
    return Everything(
        person_id=pid,
        participant_id=p.id,
        org_id=org.id,
        other_participant_id=sister.id,
        other_person_id=other.id,
        import_job_id=job_id,
        her_eml=her_eml,
        other_eml=other_eml,
        extra={
            "at_firm": at_firm.id,
            "alone": alone.id,
            "followup": followup.id,
            "case_followup": case_followup.id,
            "firm_support": firm_support.id,
        },
    )
