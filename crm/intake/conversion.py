"""Converting an inquiry: into a participant (a person seeking counselling), into a contact
person at an organisation with a qualification need (a firm), or by linking it to an existing
record (a duplicate).

Each conversion locks the inquiry's row and checks it is still open in the same transaction,
so two tabs (or two counsellors) converting the same inquiry create one record, and the second
gets a clear message. A write on another domain checks that domain's permission here, not only
in the view. The inquiry's message and consent (text, version, time) go with it as an entry
of the record's contact log or timeline, so the consent stays provable on the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from crm.audit.service import record
from crm.contacts import service as contacts
from crm.contacts.countries import phone_e164
from crm.contacts.models import Affiliation, Organisation, Person
from crm.contacts.normalize import normalize_email, person_key
from crm.intake.models import OPEN_STATUSES, Inquiry
from crm.intake.service import IntakeError, can_see
from crm.intake.texts import CHANNEL_LABELS, LANGUAGE_LABELS, TOPIC_LABELS
from crm.participants import service as participants
from crm.participants.models import Participant
from crm.security import has_permission

BERLIN = ZoneInfo("Europe/Berlin")
# What each side of a conversion needs on its own domain.
PARTICIPANT_PERMISSION = "participants.edit"
PERSON_PERMISSION = "contacts.edit"
# How an inquiry's channel maps to a participant's acquisition channel.
ACQUISITION_CHANNELS = {
    "web": "website_hotline",
    "hotline": "website_hotline",
    "email": "website_hotline",
    "other": "other",
}
# Languages a contact person can prefer (crm.contacts.forms.LANGUAGE_LABELS has more).
PERSON_LANGUAGES = {"de": "de", "en": "en"}
MAX_DUPLICATES = 10


class ConversionRefusedError(IntakeError):
    """The user may not write the record a conversion would create or change."""


# --- prefilling ---------------------------------------------------------------------------------


def split_name(name: str) -> tuple[str, str]:
    """First and last name from one typed name: "Kovalenko, Olena" and "Olena Kovalenko" both
    give ("Olena", "Kovalenko"); a single word is the last name."""
    name = " ".join((name or "").split())
    if "," in name:
        last, _sep, first = name.partition(",")
        return first.strip(), last.strip()
    first, _sep, last = name.rpartition(" ")
    return first.strip(), last.strip()


def acquisition_channel(inquiry: Inquiry) -> str:
    """The participant's acquisition channel for the inquiry's channel."""
    return ACQUISITION_CHANNELS.get(inquiry.channel, "other")


def received_at(inquiry: Inquiry) -> datetime:
    """When the inquiry came in: the moment its consent was given (the same transaction)."""
    return inquiry.consented_at or inquiry.created_at


def participant_prefill(inquiry: Inquiry, today: date) -> dict[str, Any]:
    """Participant fields taken from the inquiry (the form shows them for checking)."""
    first, last = split_name(inquiry.name)
    return {
        "first_name": first,
        "last_name": last,
        "email": inquiry.email,
        "phone": inquiry.phone,
        "office_id": inquiry.office_id,
        "counsellor_id": inquiry.assigned_to_id,
        "acquisition_channel": acquisition_channel(inquiry),
        # The inquiry is the first contact.
        "first_contact_on": received_at(inquiry).astimezone(BERLIN).date()
        if received_at(inquiry)
        else today,
    }


def person_prefill(inquiry: Inquiry) -> dict[str, Any]:
    """Contact person fields taken from a firm's inquiry."""
    first, last = split_name(inquiry.name)
    return {
        "first_name": first,
        "last_name": last,
        "email": inquiry.email,
        "phone": inquiry.phone,
        "language": PERSON_LANGUAGES.get(inquiry.preferred_language, "de"),
        "need_note": inquiry.message,
    }


def inquiry_note(inquiry: Inquiry) -> str:
    """The text that goes to the record: the inquiry, its message and its consent.

    German like the rest of the stored notes (it is data, not UI), whatever the user's locale.
    """
    with force_locale("de"):
        when = received_at(inquiry).astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")
        consented = (
            inquiry.consented_at.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")
            if inquiry.consented_at
            else "–"
        )
        lines = [
            _(
                "From inquiry #%(id)s of %(when)s (%(channel)s), topic: %(topic)s, "
                "preferred language: %(language)s.",
                id=inquiry.id,
                when=when,
                channel=CHANNEL_LABELS[inquiry.channel],
                topic=TOPIC_LABELS[inquiry.topic],
                language=LANGUAGE_LABELS[inquiry.preferred_language],
            )
        ]
        if inquiry.organisation_name:
            lines.append(_("Firm: %(name)s", name=inquiry.organisation_name))
        if inquiry.message:
            lines += ["", _("Message:"), inquiry.message]
        lines += [
            "",
            _(
                "Consent given on %(when)s, version %(version)s:",
                when=consented,
                version=inquiry.consent_version or "–",
            ),
            inquiry.consent_text or "–",
        ]
    return "\n".join(lines)


# --- the one guard every conversion passes --------------------------------------------------------


def lock_open(session: Session, user: Any, inquiry_id: int) -> Inquiry:
    """The inquiry, locked for this transaction and read afresh, if it is still open.

    Two tabs converting the same inquiry: the second waits for the first's commit here (on
    PostgreSQL the row lock, on SQLite the write lock of the request), then sees it converted.
    """
    session.flush()
    inquiry = session.scalars(
        sa.select(Inquiry)
        .where(Inquiry.id == inquiry_id)
        .with_for_update(of=Inquiry)
        .execution_options(populate_existing=True)
    ).first()
    if inquiry is None or not can_see(user, inquiry):
        raise IntakeError(_("This inquiry does not exist or is not yours to work on."))
    if inquiry.status == "converted":
        raise IntakeError(_("This inquiry has already been converted."))
    if inquiry.status not in OPEN_STATUSES:
        raise IntakeError(_("This inquiry is already finished."))
    return inquiry


def _require(user: Any, permission: str) -> None:
    if not has_permission(user, "intake.edit") or not has_permission(user, permission):
        raise ConversionRefusedError(_("You are not allowed to create or change this record."))


def _mark_converted(
    session: Session,
    inquiry: Inquiry,
    now: datetime,
    *,
    participant: Participant | None = None,
    person: Person | None = None,
    how: str,
) -> None:
    inquiry.status = "converted"
    inquiry.converted_at = now
    if inquiry.first_contact_at is None:
        inquiry.first_contact_at = now
    if participant is not None:
        inquiry.participant_id = participant.id
    if person is not None:
        inquiry.person_id = person.id
    # Labels only, never names: the audit log outlives an erasure.
    target = participant.audit_label() if participant is not None else ""
    if person is not None:
        target = person.audit_label()
    record(
        session,
        "convert",
        entity_type="inquiry",
        entity_id=inquiry.id,
        summary=f"{inquiry.audit_label()} → {target} ({how})",
    )
    session.flush()


# --- 1. a person seeking counselling → a participant ----------------------------------------------


def convert_to_participant(
    session: Session, inquiry_id: int, data: dict[str, Any], *, user: Any, now: datetime
) -> Participant:
    """Create the participant from the checked form values; the inquiry points to it.

    The office and counsellor must be ones the user may choose (participants' own scope).
    """
    _require(user, PARTICIPANT_PERMISSION)
    inquiry = lock_open(session, user, inquiry_id)
    offices = participants.office_ids_for(user)
    if offices is not None and data.get("office_id") not in offices:
        raise ConversionRefusedError(_("You are not allowed to create or change this record."))
    participant = participants.save_participant(session, data)
    participants.add_contact(
        session,
        participant,
        kind="other",
        happened_at=received_at(inquiry),
        note=inquiry_note(inquiry),
        user=user,
    )
    _mark_converted(session, inquiry, now, participant=participant, how="neu")
    return participant


# --- 2. a firm with a skills need → a contact person at an organisation ---------------------------


@dataclass
class FirmConversion:
    """The checked values of the firm conversion form."""

    first_name: str
    last_name: str
    email: str = ""
    phone: str = ""
    language: str = "de"
    function: str = ""
    # An existing organisation, else a new one of this name.
    organisation_id: int | None = None
    new_organisation_name: str = ""
    occupation: str = ""
    count: int = 1
    need_note: str = ""


def convert_to_person(
    session: Session, inquiry_id: int, values: FirmConversion, *, user: Any, now: datetime
) -> Person:
    """Create the contact person at the chosen (or a new) organisation, record the skills
    need on the organisation, and point the inquiry to the person."""
    _require(user, PERSON_PERMISSION)
    inquiry = lock_open(session, user, inquiry_id)
    org = session.get(Organisation, values.organisation_id) if values.organisation_id else None
    if org is None:
        name = values.new_organisation_name.strip()
        if not name:
            raise IntakeError(_("Please choose an organisation or give the name of a new one."))
        org = contacts.save_organisation(
            session, {"name": name, "kind": "employer", "owner_id": inquiry.assigned_to_id}
        )
    person = contacts.save_person(
        session,
        {
            "first_name": values.first_name,
            "last_name": values.last_name,
            "email": values.email,
            "phone": values.phone,
            "language": values.language,
            "owner_id": inquiry.assigned_to_id,
        },
    )
    contacts.add_affiliation(session, person, org, function=values.function)
    if values.occupation.strip():
        contacts.add_need(
            session,
            org,
            occupation=values.occupation.strip(),
            count=values.count,
            surveyed_on=now.astimezone(BERLIN).date(),
            note=values.need_note.strip(),
        )
    contacts.log_activity(
        session,
        kind="note",
        occurred_at=received_at(inquiry),
        user_id=user.id,
        subject=_inquiry_subject(inquiry),
        text=inquiry_note(inquiry),
        person=person,
        organisation=org,
    )
    _mark_converted(session, inquiry, now, person=person, how="neu")
    return person


def _inquiry_subject(inquiry: Inquiry) -> str:
    with force_locale("de"):
        return _("Inquiry #%(id)s", id=inquiry.id)


# --- 3. a duplicate: link to an existing record ---------------------------------------------------


@dataclass
class Duplicates:
    """Records that may be the inquirer: participants (only for users who may see them) and
    contact persons, each with why it matched."""

    participants: list[tuple[Participant, list[str]]]
    people: list[tuple[Person, list[str]]]


def _digits(text: str) -> str:
    return "".join(c for c in text or "" if c.isdigit())


def _digits_sql(column: Any) -> Any:
    """The column without the usual separators, to compare phone numbers by their end."""
    expr = column
    for char in (" ", "-", "/", "(", ")", ".", "+"):
        expr = sa.func.replace(expr, char, "")
    return expr


def duplicates(session: Session, user: Any, inquiry: Inquiry) -> Duplicates:
    """Same e-mail, same phone or the same name among participants and contact persons."""
    first, last = split_name(inquiry.name)
    email = normalize_email(inquiry.email) or ""
    found_participants: list[tuple[Participant, list[str]]] = []
    if has_permission(user, "participants.view"):
        name_key = participants.folded_name(first, last)
        conditions = [participants.has_folded_name(Participant.name_key, name_key)] if last else []
        if email:
            conditions.append(sa.func.lower(Participant.email) == email)
        # The last eight digits: "0391 540 2398" and "+49 391 5402398" end the same.
        digits = _digits(inquiry.phone)[-8:]
        if len(digits) >= 6:
            conditions.append(
                sa.and_(
                    Participant.phone != "",
                    _digits_sql(Participant.phone).endswith(digits, autoescape=True),
                )
            )
        rows = (
            session.scalars(
                participants.visible_participants(user)
                .where(sa.or_(*conditions))
                .order_by(Participant.id)
                .limit(MAX_DUPLICATES)
            ).all()
            if conditions
            else []
        )
        for p in rows:
            reasons = []
            if email and (p.email or "").lower() == email:
                reasons.append("email")
            if len(digits) >= 6 and _digits(p.phone).endswith(digits):
                reasons.append("phone")
            if last and (p.name_key == name_key or p.name_key.startswith(f"{name_key}|")):
                reasons.append("name")
            if reasons:
                found_participants.append((p, reasons))
    hits = {
        h.record.id: (h.record, list(h.reasons))
        for h in contacts.find_person_duplicates(
            session,
            emails=[inquiry.email],
            phones=[inquiry.phone] if phone_e164(inquiry.phone, "DE") else [],
        )
    }
    key = person_key(first, last)
    if key and last:
        for person in session.scalars(
            sa.select(Person)
            .where(Person.name_key == key)
            .order_by(Person.id)
            .limit(MAX_DUPLICATES)
        ):
            hits.setdefault(person.id, (person, []))[1].append("name")
    people = sorted(hits.values(), key=lambda hit: hit[0].id)[:MAX_DUPLICATES]
    return Duplicates(found_participants[:MAX_DUPLICATES], people)


def link_to_participant(
    session: Session, inquiry_id: int, participant_id: int, *, user: Any, now: datetime
) -> Participant:
    """The inquirer is already a participant: nothing is created; the inquiry goes to her
    contact log and points to her."""
    _require(user, PARTICIPANT_PERMISSION)
    inquiry = lock_open(session, user, inquiry_id)
    participant = participants.get_participant(session, user, participant_id)
    if participant is None:
        raise ConversionRefusedError(_("You are not allowed to create or change this record."))
    participants.add_contact(
        session,
        participant,
        kind="other",
        happened_at=received_at(inquiry),
        note=inquiry_note(inquiry),
        user=user,
    )
    _mark_converted(session, inquiry, now, participant=participant, how="verknüpft")
    return participant


def link_to_person(
    session: Session, inquiry_id: int, person_id: int, *, user: Any, now: datetime
) -> Person:
    """The inquirer is already a contact person: the inquiry goes to their timeline."""
    _require(user, PERSON_PERMISSION)
    inquiry = lock_open(session, user, inquiry_id)
    person = session.get(Person, person_id)
    if person is None:
        raise IntakeError(_("This record does not exist any more."))
    contacts.log_activity(
        session,
        kind="note",
        occurred_at=received_at(inquiry),
        user_id=user.id,
        subject=_inquiry_subject(inquiry),
        text=inquiry_note(inquiry),
        person=person,
    )
    _mark_converted(session, inquiry, now, person=person, how="verknüpft")
    return person


# --- the record's side: "from inquiry #N" ---------------------------------------------------------


def inquiries_of(
    session: Session, user: Any, *, participant_id: int | None = None, person_id: int | None = None
) -> list[Inquiry]:
    """The inquiries converted into (or linked to) the record that `user` may see."""
    if not has_permission(user, "intake.view"):
        return []
    if participant_id is not None:
        condition = Inquiry.participant_id == participant_id
    elif person_id is not None:
        condition = Inquiry.person_id == person_id
    else:
        return []
    rows = session.scalars(sa.select(Inquiry).where(condition).order_by(Inquiry.id)).all()
    return [i for i in rows if can_see(user, i)]


def organisation_of(session: Session, person_id: int) -> Organisation | None:
    """The organisation a converted firm inquiry's person works at (the first one)."""
    return session.scalar(
        sa.select(Organisation)
        .join(Affiliation, Affiliation.organisation_id == Organisation.id)
        .where(Affiliation.person_id == person_id)
        .order_by(Affiliation.id)
        .limit(1)
    )
