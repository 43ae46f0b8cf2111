"""Art. 15 that a person can read, and the same content as JSON (Art. 20).

One lookup by name, e-mail or phone across every domain that holds people; the admin ticks
the records that are the same human and gets ONE report: every place that holds data about
them, with the labels the UI uses, values in German, times in Europe/Berlin, names instead of
numbers, and the Art. 15(1)(a)–(h) information in the office's own words.

Domains take part through two blinker signals, so a new domain (inquiries) connects its own
receivers instead of being added to a list here:
- `lookup_subjects` — sent with the session and `query`; each receiver returns Candidates.
- `access_sections` — sent with the session, `refs` (the ticked records) and `config`; each
  receiver returns ReportSections for the records of its kinds.
- `storage_periods` — sent with the session and `config`; each receiver returns (category,
  text) pairs for the storage-period part of the report (the retention rules connect here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from blinker import Namespace
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, joinedload, selectinload

from crm import substring
from crm.accounts.models import User
from crm.audit.models import AuditEntry
from crm.contacts.countries import country_name
from crm.contacts.import_models import ImportItem, ImportJob
from crm.contacts.models import (
    Activity,
    Affiliation,
    ContactList,
    ContactListMember,
    Person,
)
from crm.contacts.normalize import normalize_email, person_key, search_terms
from crm.database import utcnow
from crm.events.models import Event, EventContact, EventRegistration, Lead
from crm.followups.models import FollowUp
from crm.intake.models import Inquiry
from crm.intake.texts import REPORT_FIELDS as INQUIRY_FIELDS
from crm.newsletters.models import ConsentEvent, Delivery, Subscription
from crm.newsletters.rendering import TemplateProblem, render_subject
from crm.participants.models import (
    ConsentRelease,
    CounsellingSession,
    Participant,
    ParticipantContact,
    Referral,
    SupportItem,
)
from crm.privacy import labels as L
from crm.privacy import retention
from crm.privacy.notice import notice_texts

_signals = Namespace()
lookup_subjects = _signals.signal("privacy-lookup-subjects")
access_sections = _signals.signal("privacy-access-sections")
storage_periods = _signals.signal("privacy-storage-periods")

MAX_CANDIDATES = 50
# Which purpose text of the notice belongs to which data category.
CATEGORY_PURPOSES = {
    "contacts": "purpose_contacts",
    "participants": "purpose_participants",
    "newsletter": "purpose_newsletter",
    "events": "purpose_events",
    "inquiries": "purpose_inquiries",
}
CATEGORY_TITLES = {
    "contacts": _l("Contact data"),
    "participants": _l("Counselling"),
    "newsletter": _l("Newsletter"),
    "events": _l("Events and fairs"),
    "inquiries": _l("Inquiries"),
    "log": _l("Log of changes and disclosures"),
}


# --- records and candidates ---------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class RecordRef:
    """One record that names the person: ("person", 12), ("participant", 3) …"""

    kind: str
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> RecordRef | None:
        """'person:12' → RecordRef; None for anything else."""
        kind, _sep, number = (text or "").partition(":")
        if not re.fullmatch(r"[a-z_]{1,30}", kind) or not number.isdigit() or len(number) > 12:
            return None
        return cls(kind, int(number))


@dataclass
class Candidate:
    """A record the lookup found, as the admin sees it in the list of matches."""

    ref: RecordRef
    name: str
    kind_label: str
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    # The numbers as stored (phones holds their digits for matching).
    phone_texts: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    name_key: str = ""
    # Set by group_candidates: records that are probably the same human share a number.
    group: int = 0
    reasons: set[str] = field(default_factory=set)


def phone_key(value: str | None) -> str:
    """The digits of a phone number without country code or trunk zero ("391 5550123")."""
    digits = re.sub(r"\D", "", value or "")
    if (value or "").strip().startswith("+49"):
        digits = digits[2:]
    elif digits.startswith("0049"):
        digits = digits[4:]
    return digits.lstrip("0")


def _phone_digits_sql(column: Any) -> Any:
    expr = column
    for char in (" ", "-", "/", "(", ")", ".", "+"):
        expr = sa.func.replace(expr, char, "")
    return expr


def classify_query(query: str) -> tuple[str, str]:
    """("email", address) / ("phone", digits) / ("name", folded words) for a lookup query."""
    query = (query or "").strip()[:200]
    if "@" in query:
        return "email", normalize_email(query) or ""
    if re.fullmatch(r"[\d\s+()/.-]{6,}", query) and len(re.sub(r"\D", "", query)) >= 6:
        return "phone", phone_key(query)
    return "name", " ".join(search_terms(query))


def find_candidates(session: Session, query: str) -> list[Candidate]:
    """Every record in every domain that matches the query, grouped into probable humans."""
    kind, value = classify_query(query)
    if not value:
        return []
    found: dict[RecordRef, Candidate] = {}
    for _receiver, result in lookup_subjects.send(session, kind=kind, value=value):
        for candidate in result or []:
            found.setdefault(candidate.ref, candidate)
    return group_candidates(list(found.values()))


def group_candidates(candidates: list[Candidate]) -> list[Candidate]:
    """Give records with the same e-mail or the same name and phone the same group number."""
    parent = list(range(len(candidates)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[tuple[str, str], int] = {}
    for i, cand in enumerate(candidates):
        keys = [("email", e) for e in cand.emails if e]
        keys += [("name_phone", f"{cand.name_key}#{p}") for p in cand.phones if p and cand.name_key]
        for key in keys:
            if key in seen:
                j = root(seen[key])
                if root(i) != j:
                    parent[root(i)] = j
                    candidates[i].reasons.add(key[0])
                    candidates[j].reasons.add(key[0])
            else:
                seen[key] = i
    groups: dict[int, int] = {}
    for i, cand in enumerate(candidates):
        cand.group = groups.setdefault(root(i), len(groups) + 1)
    return sorted(candidates, key=lambda c: (c.group, c.ref))


def _person_lookup(session: Session, *, kind: str, value: str) -> list[Candidate]:
    stmt = sa.select(Person)
    if kind == "email":
        stmt = stmt.where(
            sa.or_(sa.func.lower(Person.email) == value, sa.func.lower(Person.email_alt) == value)
        )
    elif kind == "phone":
        stmt = stmt.where(
            sa.or_(
                _phone_digits_sql(Person.phone).endswith(value, autoescape=True),
                _phone_digits_sql(Person.mobile).endswith(value, autoescape=True),
            )
        )
    else:
        for term in value.split():
            stmt = stmt.where(Person.name_key.contains(term, autoescape=True))
    return _person_candidates(session, stmt)


def _person_candidates(session: Session, stmt: sa.Select) -> list[Candidate]:
    people = session.scalars(
        stmt.options(selectinload(Person.affiliations).joinedload(Affiliation.organisation))
        .order_by(Person.sort_name, Person.id)
        .limit(MAX_CANDIDATES)
    ).all()
    ids = [p.id for p in people]
    subscribers = set(
        session.scalars(sa.select(Subscription.person_id).where(Subscription.person_id.in_(ids)))
    )
    leads = set(session.scalars(sa.select(Lead.person_id).where(Lead.person_id.in_(ids))))
    result = []
    for p in people:
        details = [", ".join(a.organisation.name for a in p.affiliations)]
        if p.id in subscribers:
            details.append(_("Newsletter subscriber"))
        if p.id in leads:
            details.append(_("Fair contact"))
        result.append(
            Candidate(
                ref=RecordRef("person", p.id),
                name=p.full_name,
                kind_label=_("Contact person"),
                emails=[e for e in (normalize_email(p.email), normalize_email(p.email_alt)) if e],
                phones=[k for k in (phone_key(p.phone), phone_key(p.mobile)) if k],
                phone_texts=[t for t in (p.phone, p.mobile) if t],
                details=[d for d in details if d],
                name_key=person_key(p.first_name, p.last_name),
            )
        )
    return result


def _subscriber_lookup(session: Session, *, kind: str, value: str) -> list[Candidate]:
    """Contacts whose consent records or mailings hold the address (also a former one)."""
    if kind != "email":
        return []
    ids = sa.union(
        sa.select(ConsentEvent.person_id).where(sa.func.lower(ConsentEvent.email) == value),
        sa.select(Delivery.person_id).where(sa.func.lower(Delivery.email) == value),
    ).subquery()
    return _person_candidates(session, sa.select(Person).where(Person.id.in_(sa.select(ids))))


def _participant_lookup(session: Session, *, kind: str, value: str) -> list[Candidate]:
    stmt = sa.select(Participant).where(Participant.erased_at.is_(None))
    if kind == "email":
        stmt = stmt.where(sa.func.lower(Participant.email) == value)
    elif kind == "phone":
        stmt = stmt.where(_phone_digits_sql(Participant.phone).endswith(value, autoescape=True))
    elif value.split():
        stmt = stmt.where(
            substring.contains_all(
                substring.PARTICIPANT_NAME, Participant.name_key, Participant.id, value.split()
            )
        )
    people = session.scalars(
        stmt.options(joinedload(Participant.office))
        .order_by(Participant.sort_name, Participant.id)
        .limit(MAX_CANDIDATES)
    )
    return [
        Candidate(
            ref=RecordRef("participant", p.id),
            name=p.full_name,
            kind_label=_("Participant"),
            emails=[e for e in (normalize_email(p.email),) if e],
            phones=[k for k in (phone_key(p.phone),) if k],
            phone_texts=[t for t in (p.phone,) if t],
            # Labelled dates: a former participant is told apart by her exit.
            details=[
                d
                for d in (
                    p.office.name,
                    _("First contact on %(date)s", date=L.fmt_date(p.first_contact_on))
                    if p.first_contact_on
                    else "",
                    _("Exit on %(date)s", date=L.fmt_date(p.exit_on)) if p.exit_on else "",
                )
                if d
            ],
            name_key=person_key(p.first_name, p.last_name),
        )
        for p in people
    ]


# --- the report ---------------------------------------------------------------------------------


@dataclass
class ReportField:
    """One filled place: a stable key, the UI's label and the value as a person reads it."""

    key: str
    label: str
    value: str


@dataclass
class ReportEntry:
    """One stored record (a session, a subscription …) with its filled fields and source."""

    title: str
    fields: list[ReportField]
    source: str = ""
    # (entity type, id) of the row, so its audit entries are found; not shown.
    audit_key: tuple[str, int] | None = None


@dataclass
class ReportSection:
    """The records of one kind, e.g. all counselling sessions."""

    key: str
    title: str
    category: str
    entries: list[ReportEntry]
    note: str = ""


@dataclass
class Information:
    """One part of the Art. 15(1) section: letter, title and paragraphs."""

    key: str
    letter: str
    title: str
    paragraphs: list[str]


@dataclass
class AccessReport:
    """Everything stored about one human, readable, plus the Art. 15(1)(a)–(h) information."""

    generated_at: datetime
    records: list[RecordRef]
    names: list[str]
    sections: list[ReportSection]
    controller: str
    information: list[Information]

    @property
    def generated_at_text(self) -> str:
        return L.fmt_datetime(self.generated_at)

    def as_json(self) -> dict[str, Any]:
        """The same content as the HTML, with stable keys (Art. 20)."""
        return {
            "format": "netzwerk-crm/auskunft",
            "version": 1,
            "generated_at": self.generated_at.isoformat(),
            "generated_at_local": self.generated_at_text,
            "subject": {"names": self.names, "records": [str(r) for r in self.records]},
            "controller": self.controller,
            "sections": [
                {
                    "key": s.key,
                    "title": s.title,
                    "category": s.category,
                    "entries": [
                        {
                            "title": e.title,
                            "source": e.source,
                            "fields": [
                                {"key": f.key, "label": f.label, "value": f.value} for f in e.fields
                            ],
                        }
                        for e in s.entries
                    ],
                }
                for s in self.sections
            ],
            "information": [
                {"key": i.key, "letter": i.letter, "title": i.title, "paragraphs": i.paragraphs}
                for i in self.information
            ],
        }


def _fields(labels: Mapping[str, Any], values: Iterable[tuple[str, Any]]) -> list[ReportField]:
    """ReportFields for the filled values only (empty places are not data about anyone)."""
    out = []
    for key, value in values:
        text = L.fmt_value(value).strip() if not isinstance(value, str) else value.strip()
        if text:
            out.append(ReportField(key, str(labels[key]), text))
    return out


def _actor(session: Session, actor_id: int | None, label: str) -> str:
    """Who acted, as a person reads it: a staff member's name, a public page, the system."""
    if actor_id is not None:
        user = session.get(User, actor_id)
        return user.display_name if user is not None else _("a former staff member")
    if label == "anonymous":
        return _("a public page (for example your sign-up)")
    return _("the system (automatic)")


def _staff(user: Any) -> str:
    return user.display_name if user is not None else ""


def _at_staff(user: Any) -> str:
    name = _staff(user)
    return _("Entered by staff (%(name)s)", name=name) if name else _("Entered by staff")


# Sections per domain (receivers of access_sections) ------------------------------------------


def _ids(refs: Iterable[RecordRef], kind: str) -> list[int]:
    return sorted({r.id for r in refs if r.kind == kind})


def _logged_together(
    session: Session, first: tuple[str, int], second: tuple[str, int], window: timedelta
) -> bool:
    """True if the log recorded the creation of both rows within `window` (one capture)."""
    times = []
    for entity_type, entity_id in (first, second):
        at = session.scalar(
            sa.select(sa.func.min(AuditEntry.at)).where(
                AuditEntry.entity_type == entity_type,
                AuditEntry.entity_id == entity_id,
                AuditEntry.action == "create",
            )
        )
        if at is None:
            return False
        times.append(at)
    return abs(times[0] - times[1]) <= window


def _person_source(session: Session, person: Person) -> str:
    """Where a contact record came from: import file, fair lead, web form, or staff entry."""
    imported = session.execute(
        sa.select(ImportJob.filename, ImportJob.finished_at, ImportJob.created_at)
        .join(ImportItem, ImportItem.job_id == ImportJob.id)
        .where(
            ImportItem.entity_type == "person",
            ImportItem.entity_id == person.id,
            ImportItem.action == "create",
        )
        .limit(1)
    ).first()
    if imported:
        when = imported.finished_at or imported.created_at
        return _(
            "Import of the file “%(file)s” on %(date)s",
            file=imported.filename,
            date=L.fmt_date(when),
        )
    window = timedelta(minutes=5)
    created = person.created_at
    lead = session.scalars(
        sa.select(Lead).where(Lead.person_id == person.id).order_by(Lead.created_at).limit(1)
    ).first()
    if lead is not None and (
        abs(lead.created_at - created) <= window
        or _logged_together(session, ("person", person.id), ("lead", lead.id), window)
    ):
        event = session.get(Event, lead.event_id)
        return _(
            "Contact made at the event “%(title)s” on %(date)s",
            title=event.title if event else "",
            date=L.fmt_date(event.starts_at if event else lead.created_at),
        )
    signup = session.scalars(
        sa.select(ConsentEvent)
        .where(
            ConsentEvent.person_id == person.id,
            ConsentEvent.channel == "web_form",
        )
        .order_by(ConsentEvent.at)
        .limit(1)
    ).first()
    if signup is not None and abs(signup.at - created) <= window:
        return _(
            "Your sign-up in the web form of the newsletter “%(list)s”",
            list=signup.newsletter_list.name,
        )
    creator = session.execute(
        sa.select(AuditEntry.actor_id, AuditEntry.actor_label)
        .where(
            AuditEntry.entity_type == "person",
            AuditEntry.entity_id == person.id,
            AuditEntry.action == "create",
        )
        .limit(1)
    ).first()
    if creator is None or creator.actor_id is None:
        return _("Entered by staff")
    return _("Entered by staff (%(name)s)", name=_actor(session, *creator))


def contact_sections(session: Session, *, refs: list[RecordRef], **_kw: Any) -> list[ReportSection]:
    """Contacts: the person record, where they work, lists, activities, follow-ups, imports."""
    ids = _ids(refs, "person")
    if not ids:
        return []
    people = session.scalars(sa.select(Person).where(Person.id.in_(ids)).order_by(Person.id))
    persons = []
    for p in people:
        persons.append(
            ReportEntry(
                title=p.full_name,
                source=_person_source(session, p),
                audit_key=("person", p.id),
                fields=_fields(
                    L.PERSON,
                    [
                        (
                            "salutation",
                            L.choice(L.SALUTATIONS, p.salutation) if p.salutation else "",
                        ),
                        ("title", p.title),
                        ("first_name", p.first_name),
                        ("last_name", p.last_name),
                        ("email", p.email),
                        ("email_alt", p.email_alt),
                        ("phone", p.phone),
                        ("mobile", p.mobile),
                        ("country", country_name(p.country)),
                        ("language", L.choice(L.LANGUAGES, p.language)),
                        ("tags", ", ".join(t.name for t in p.tags)),
                        ("notes", p.notes),
                        ("owner_id", _staff(p.owner)),
                        ("last_contact_at", p.last_contact_at),
                        ("created_at", p.created_at),
                        ("updated_at", p.updated_at),
                    ],
                ),
            )
        )
    affiliations = session.scalars(
        sa.select(Affiliation).where(Affiliation.person_id.in_(ids)).order_by(Affiliation.id)
    ).all()
    # An import creates the link to the organisation too; the report must not say staff did.
    # Links of people the import created are not listed as import items (they go with the
    # person on undo): they are the ones written in the same run, at the person's creation.
    imported_affiliations: dict[int, str] = {}
    for row in session.execute(
        sa.select(
            ImportItem.entity_type,
            ImportItem.entity_id,
            ImportJob.filename,
            ImportJob.finished_at,
            ImportJob.created_at,
        )
        .join(ImportJob, ImportItem.job_id == ImportJob.id)
        .where(
            ImportItem.action == "create",
            sa.or_(
                sa.and_(
                    ImportItem.entity_type == "affiliation",
                    ImportItem.entity_id.in_([a.id for a in affiliations]),
                ),
                sa.and_(ImportItem.entity_type == "person", ImportItem.entity_id.in_(ids)),
            ),
        )
    ):
        source = _(
            "Import of the file “%(file)s” on %(date)s",
            file=row.filename,
            date=L.fmt_date(row.finished_at or row.created_at),
        )
        for a in affiliations:
            if (row.entity_type == "affiliation" and a.id == row.entity_id) or (
                row.entity_type == "person"
                and a.person_id == row.entity_id
                and a.created_at == a.person.created_at
            ):
                imported_affiliations[a.id] = source
    lists = session.execute(
        sa.select(ContactList.name, ContactListMember.added_at)
        .join(ContactListMember, ContactListMember.list_id == ContactList.id)
        .where(ContactListMember.person_id.in_(ids))
        .order_by(ContactList.name)
    ).all()
    activities = session.scalars(
        sa.select(Activity)
        .where(Activity.person_id.in_(ids))
        .order_by(Activity.occurred_at, Activity.id)
    ).all()
    followups = session.scalars(
        sa.select(FollowUp).where(FollowUp.person_id.in_(ids)).order_by(FollowUp.due_at)
    ).all()
    imports = session.execute(
        sa.select(
            ImportJob.filename,
            ImportJob.created_at,
            ImportItem.action,
            ImportItem.fields,
            ImportJob.file_removed_at,
        )
        .join(ImportItem, ImportItem.job_id == ImportJob.id)
        .where(ImportItem.entity_type == "person", ImportItem.entity_id.in_(ids))
        .order_by(ImportJob.created_at)
    ).all()
    return [
        ReportSection("person", _("Contact details"), "contacts", persons),
        ReportSection(
            "affiliations",
            _("Organisations you work at"),
            "contacts",
            [
                ReportEntry(
                    title=a.organisation.name,
                    source=imported_affiliations.get(a.id) or _("Entered by staff"),
                    audit_key=("affiliation", a.id),
                    fields=_fields(
                        L.AFFILIATION,
                        [
                            ("organisation", a.organisation.name),
                            ("function", a.function),
                            ("since", a.since),
                            ("until", a.until),
                        ],
                    ),
                )
                for a in affiliations
            ],
        ),
        ReportSection(
            "contact_lists",
            _("Contact lists"),
            "contacts",
            [
                ReportEntry(
                    title=name,
                    source=_("Entered by staff"),
                    fields=_fields(L.LIST_MEMBER, [("list", name), ("added_at", added)]),
                )
                for name, added in lists
            ],
        ),
        ReportSection(
            "activities",
            _("Conversations, calls and notes"),
            "contacts",
            [
                ReportEntry(
                    title=f"{L.choice(L.ACTIVITY_KINDS, a.kind)}, {L.fmt_datetime(a.occurred_at)}",
                    source=_at_staff(a.user),
                    audit_key=("activity", a.id),
                    fields=_fields(
                        L.ACTIVITY,
                        [
                            ("kind", L.choice(L.ACTIVITY_KINDS, a.kind)),
                            ("occurred_at", a.occurred_at),
                            ("duration_minutes", a.duration_minutes),
                            ("user_id", _staff(a.user)),
                            ("organisation", a.organisation.name if a.organisation else ""),
                            ("subject", a.subject),
                            ("text", a.text),
                        ],
                    ),
                )
                for a in activities
            ],
        ),
        _followup_section(followups, "contacts"),
        ReportSection(
            "imports",
            _("Imports"),
            "contacts",
            [
                ReportEntry(
                    title=filename,
                    source=_("Import file"),
                    fields=_fields(
                        L.IMPORT,
                        [
                            ("filename", filename),
                            ("at", at),
                            ("action", L.choice(L.IMPORT_ACTIONS, action)),
                            ("fields", L.field_names(L.PERSON, sorted(fields or []))),
                            (
                                "file",
                                L.choice(L.IMPORT_FILE_STATES, "removed" if removed else "kept"),
                            ),
                        ],
                    ),
                )
                for filename, at, action, fields, removed in imports
            ],
        ),
    ]


def _followup_section(followups: Any, domain: str) -> ReportSection:
    """The follow-ups about a person or participant (subject, due date, who, outcome)."""
    return ReportSection(
        "followups",
        _("Follow-ups about you"),
        domain,
        [
            ReportEntry(
                title=f.subject,
                source=_at_staff(f.created_by),
                audit_key=("followup", f.id),
                fields=_fields(
                    L.FOLLOWUP,
                    [
                        ("subject", f.subject),
                        ("due_at", f.due_at if f.has_time else L.fmt_date(f.due_at)),
                        ("assignee_id", _staff(f.assignee)),
                        ("priority", L.choice(L.FOLLOWUP_PRIORITIES, f.priority)),
                        ("status", L.choice(L.FOLLOWUP_STATUSES, f.status)),
                        ("note", f.note),
                        ("outcome", f.outcome),
                        ("done_at", f.done_at),
                        ("done_by_id", _staff(f.done_by)),
                        ("organisation", f.organisation.name if f.organisation else ""),
                        ("event", f.event.title if f.event is not None else ""),
                        ("created_by_id", _staff(f.created_by)),
                    ],
                ),
            )
            for f in followups
        ],
    )


def participant_sections(
    session: Session, *, refs: list[RecordRef], **_kw: Any
) -> list[ReportSection]:
    """Counselling: the participant record, sessions, referrals, releases, checklist."""
    ids = _ids(refs, "participant")
    if not ids:
        return []
    people = session.scalars(
        sa.select(Participant)
        .where(Participant.id.in_(ids), Participant.erased_at.is_(None))
        .order_by(Participant.id)
    ).all()
    ids = [p.id for p in people]
    records = []
    for p in people:
        channel = L.choice(L.CHANNELS, p.acquisition_channel)
        source = _at_staff(p.counsellor) + "; " + _("way to us: %(channel)s", channel=channel)
        if p.referring_organisation is not None:
            source += "; " + _("referred by %(org)s", org=p.referring_organisation.name)
        records.append(
            ReportEntry(
                title=p.full_name,
                source=source,
                audit_key=("participant", p.id),
                fields=_fields(
                    L.PARTICIPANT,
                    [
                        ("first_name", p.first_name),
                        ("last_name", p.last_name),
                        ("email", p.email),
                        ("phone", p.phone),
                        ("city", p.city),
                        ("birth_year", str(p.birth_year) if p.birth_year else ""),
                        ("gender", L.choice(L.GENDERS, p.gender) if p.gender else ""),
                        ("country_of_origin", p.country_of_origin),
                        ("profession", p.profession),
                        ("profession_learned_in", p.profession_learned_in),
                        ("recognition_status", L.choice(L.RECOGNITION, p.recognition_status)),
                        ("recognising_body", p.recognising_body),
                        ("language_level", p.language_level),
                        ("target_field", p.target_field),
                        ("office_id", p.office.name),
                        ("counsellor_id", _staff(p.counsellor)),
                        ("acquisition_channel", channel),
                        (
                            "referring_organisation",
                            p.referring_organisation.name if p.referring_organisation else "",
                        ),
                        ("first_contact_on", p.first_contact_on),
                        ("first_session_on", p.first_session_on),
                        ("total_minutes", str(p.total_minutes) if p.total_minutes else ""),
                        ("entry_on", p.entry_on),
                        ("exit_on", p.exit_on),
                        (
                            "exit_outcome",
                            L.choice(L.OUTCOMES, p.exit_outcome) if p.exit_outcome else "",
                        ),
                        ("exit_note", p.exit_note),
                        ("next_contact_on", p.next_contact_on),
                        ("transfer_on", p.transfer_on),
                        ("transfer_note", p.transfer_note),
                        ("notes", p.notes),
                        ("pseudonym", p.pseudonym),
                        ("erase_after", p.erase_after),
                        ("created_at", p.created_at),
                        ("updated_at", p.updated_at),
                    ],
                ),
            )
        )
    sessions = session.scalars(
        sa.select(CounsellingSession)
        .where(CounsellingSession.participant_id.in_(ids))
        .order_by(CounsellingSession.held_on, CounsellingSession.id)
    ).all()
    contacts = session.scalars(
        sa.select(ParticipantContact)
        .where(ParticipantContact.participant_id.in_(ids))
        .order_by(ParticipantContact.happened_at, ParticipantContact.id)
    ).all()
    referrals = session.scalars(
        sa.select(Referral).where(Referral.participant_id.in_(ids)).order_by(Referral.referred_on)
    ).all()
    releases = session.scalars(
        sa.select(ConsentRelease)
        .where(ConsentRelease.participant_id.in_(ids))
        .order_by(ConsentRelease.granted_on)
    ).all()
    items = session.scalars(
        sa.select(SupportItem).where(SupportItem.participant_id.in_(ids)).order_by(SupportItem.id)
    ).all()
    followups = session.scalars(
        sa.select(FollowUp).where(FollowUp.participant_id.in_(ids)).order_by(FollowUp.due_at)
    ).all()
    return [
        ReportSection("participant", _("Counselling record"), "participants", records),
        ReportSection(
            "counselling_sessions",
            _("Counselling sessions"),
            "participants",
            [
                ReportEntry(
                    title=L.fmt_date(s.held_on),
                    source=_at_staff(s.counsellor),
                    audit_key=("counselling_session", s.id),
                    fields=_fields(
                        L.SESSION,
                        [
                            ("held_on", s.held_on),
                            ("minutes", str(s.minutes)),
                            ("counsellor_id", _staff(s.counsellor)),
                            ("note", s.note),
                        ],
                    ),
                )
                for s in sessions
            ],
        ),
        ReportSection(
            "participant_contacts",
            _("Logged contacts (calls, e-mails, meetings)"),
            "participants",
            [
                ReportEntry(
                    title=f"{L.choice(L.CONTACT_KINDS, c.kind)}, {L.fmt_datetime(c.happened_at)}",
                    source=_at_staff(c.user),
                    audit_key=("participant_contact", c.id),
                    fields=_fields(
                        L.CONTACT,
                        [
                            ("kind", L.choice(L.CONTACT_KINDS, c.kind)),
                            ("happened_at", c.happened_at),
                            (
                                "duration_minutes",
                                str(c.duration_minutes) if c.duration_minutes else "",
                            ),
                            ("user_id", _staff(c.user)),
                            ("note", c.note),
                        ],
                    ),
                )
                for c in contacts
            ],
        ),
        ReportSection(
            "referrals",
            _("Referrals"),
            "participants",
            [
                ReportEntry(
                    title=f"{r.organisation.name}, {L.fmt_date(r.referred_on)}",
                    source=_("Entered by staff"),
                    audit_key=("referral", r.id),
                    fields=_fields(
                        L.REFERRAL,
                        [
                            ("organisation", r.organisation.name),
                            ("referred_on", r.referred_on),
                            ("direction", L.choice(L.DIRECTIONS, r.direction)),
                            ("purpose", r.purpose),
                            ("status", L.choice(L.REFERRAL_STATUSES, r.status)),
                            ("note", r.note),
                        ],
                    ),
                )
                for r in referrals
            ],
        ),
        ReportSection(
            "consent_releases",
            _("Releases from confidentiality"),
            "participants",
            [
                ReportEntry(
                    title=r.organisation.name,
                    source=_("Your declaration, recorded by staff"),
                    audit_key=("consent_release", r.id),
                    fields=_fields(
                        L.RELEASE,
                        [
                            ("organisation", r.organisation.name),
                            ("granted_on", r.granted_on),
                            ("scope", r.scope),
                            ("expires_on", r.expires_on),
                            ("revoked_on", r.revoked_on),
                        ],
                    ),
                )
                for r in releases
            ],
        ),
        ReportSection(
            "support_items",
            _("Support checklist"),
            "participants",
            [
                ReportEntry(
                    title=L.choice(L.SUPPORT_TYPES, i.type.key) if i.type.key else i.type.name,
                    source=_("Entered by staff"),
                    audit_key=("support_item", i.id),
                    fields=_fields(
                        L.SUPPORT_ITEM,
                        [
                            (
                                "type",
                                L.choice(L.SUPPORT_TYPES, i.type.key)
                                if i.type.key
                                else i.type.name,
                            ),
                            ("status", L.choice(L.SUPPORT_STATUSES, i.status)),
                            ("due_on", i.due_on),
                            ("note", i.note),
                            ("done_on", i.done_on),
                        ],
                    ),
                )
                for i in items
            ],
        ),
        _followup_section(followups, "participants"),
    ]


def _consent_wording(text: Any) -> str:
    if text is None:
        return ""
    return _("Version %(version)s: %(text)s", version=text.version, text=text.text)


def newsletter_sections(
    session: Session, *, refs: list[RecordRef], **_kw: Any
) -> list[ReportSection]:
    """Newsletter: subscriptions with the consent wording, the consent ledger, mailings."""
    ids = _ids(refs, "person")
    if not ids:
        return []
    subs = session.scalars(
        sa.select(Subscription).where(Subscription.person_id.in_(ids)).order_by(Subscription.id)
    ).all()
    ledger = session.scalars(
        sa.select(ConsentEvent)
        .where(ConsentEvent.person_id.in_(ids))
        .order_by(ConsentEvent.at, ConsentEvent.id)
    ).all()
    deliveries = session.scalars(
        sa.select(Delivery).where(Delivery.person_id.in_(ids)).order_by(Delivery.id)
    ).all()
    from crm.newsletters.models import Campaign, Signup

    # A sign-up still waiting for its confirmation names nobody by id, only by address.
    addresses = {
        a.lower()
        for row in session.execute(
            sa.select(Person.email, Person.email_alt).where(Person.id.in_(ids))
        )
        for a in row
        if a
    }
    signups = (
        session.scalars(
            sa.select(Signup)
            .where(Signup.email.in_(addresses), Signup.confirmed_at.is_(None))
            .order_by(Signup.id)
        ).all()
        if addresses
        else []
    )

    campaign_ids = {e.campaign_id for e in ledger if e.campaign_id}
    campaign_ids |= {d.campaign_id for d in deliveries}
    campaigns = {
        c.id: c for c in session.scalars(sa.select(Campaign).where(Campaign.id.in_(campaign_ids)))
    }

    def campaign_name(cid: int | None) -> str:
        c = campaigns.get(cid) if cid else None
        if c is None:
            return ""
        if not c.subject:
            return c.name
        # The subject as it reached her, not its template ("{{ liste }}: Neues im Juni").
        try:
            subject = render_subject(c.subject, list_name=c.newsletter_list.name)
        except TemplateProblem:
            subject = c.subject
        return f"{c.name} ({subject})"

    return [
        ReportSection(
            "newsletter_subscriptions",
            _("Newsletter subscriptions"),
            "newsletter",
            [
                ReportEntry(
                    title=s.newsletter_list.name,
                    source=L.choice(L.CONSENT_METHODS, s.source),
                    audit_key=("newsletter_subscription", s.id),
                    fields=_fields(
                        L.SUBSCRIPTION,
                        [
                            ("list_id", s.newsletter_list.name),
                            ("status", L.choice(L.SUBSCRIPTION_STATUSES, s.status)),
                            ("source", L.choice(L.CONSENT_METHODS, s.source)),
                            ("consent_text", _consent_wording(s.consent_text)),
                            ("requested_at", s.requested_at),
                            ("confirmed_at", s.confirmed_at),
                            ("unsubscribed_at", s.unsubscribed_at),
                            ("bounced_at", s.bounced_at),
                        ],
                    ),
                )
                for s in subs
            ],
        ),
        ReportSection(
            "newsletter_signups",
            _("Newsletter sign-ups waiting for your confirmation"),
            "newsletter",
            [
                ReportEntry(
                    title=g.newsletter_list.name,
                    source=_("Web form"),
                    fields=_fields(
                        L.SIGNUP,
                        [
                            ("list_id", g.newsletter_list.name),
                            ("email", g.email),
                            ("name", f"{g.first_name} {g.last_name}".strip()),
                            ("consent_text", _consent_wording(g.consent_text)),
                            ("requested_at", g.requested_at),
                            ("ip", g.ip),
                            ("user_agent", g.user_agent),
                        ],
                    ),
                )
                for g in signups
            ],
        ),
        ReportSection(
            "newsletter_consent_records",
            _("Record of your consent"),
            "newsletter",
            [
                ReportEntry(
                    title=f"{L.choice(L.CONSENT_ACTIONS, e.action)}, {L.fmt_datetime(e.at)}",
                    source=L.choice(L.CONSENT_CHANNELS, e.channel),
                    fields=_fields(
                        L.CONSENT_EVENT,
                        [
                            ("at", e.at),
                            ("list_id", e.newsletter_list.name),
                            ("action", L.choice(L.CONSENT_ACTIONS, e.action)),
                            ("channel", L.choice(L.CONSENT_CHANNELS, e.channel)),
                            ("consent_text", _consent_wording(e.consent_text)),
                            ("email", e.email),
                            ("ip", e.ip),
                            ("user_agent", e.user_agent),
                            ("actor_id", _staff(e.actor)),
                            ("note", e.note),
                            ("campaign_id", campaign_name(e.campaign_id)),
                        ],
                    ),
                )
                for e in ledger
            ],
        ),
        ReportSection(
            "newsletter_deliveries",
            _("Newsletters sent to you"),
            "newsletter",
            [
                ReportEntry(
                    title=campaign_name(d.campaign_id),
                    source=_("Your newsletter subscription"),
                    fields=_fields(
                        L.DELIVERY,
                        [
                            ("campaign_id", campaign_name(d.campaign_id)),
                            ("email", d.email),
                            ("status", L.choice(L.DELIVERY_STATUSES, d.status)),
                            ("sent_at", d.sent_at),
                        ],
                    ),
                )
                for d in deliveries
            ],
        ),
    ]


def _event_title(event: Event | None) -> str:
    if event is None:
        return ""
    return f"{event.title} ({L.choice(L.EVENT_KINDS, event.kind)}, {L.fmt_date(event.starts_at)})"


def event_sections(session: Session, *, refs: list[RecordRef], **_kw: Any) -> list[ReportSection]:
    """Events: invitations and attendance, contacts made at fairs."""
    ids = _ids(refs, "person")
    if not ids:
        return []
    contacts = session.execute(
        sa.select(EventContact, Event)
        .join(Event, Event.id == EventContact.event_id)
        .where(EventContact.person_id.in_(ids))
        .order_by(Event.starts_at)
    ).all()
    leads = session.scalars(
        sa.select(Lead).where(Lead.person_id.in_(ids)).order_by(Lead.created_at)
    ).all()
    return [
        ReportSection(
            "event_contacts",
            _("Events you were invited to or attended"),
            "events",
            [
                ReportEntry(
                    title=_event_title(event),
                    source=_("Entered by staff"),
                    audit_key=("event_contact", c.id),
                    fields=_fields(
                        L.EVENT_CONTACT,
                        [
                            ("event_id", _event_title(event)),
                            ("status", L.choice(L.CONTACT_STATUSES, c.status)),
                        ],
                    ),
                )
                for c, event in contacts
            ],
        ),
        ReportSection(
            "event_leads",
            _("Contacts made at fairs"),
            "events",
            [
                ReportEntry(
                    title=_event_title(session.get(Event, lead.event_id)),
                    source=_at_staff(lead.captured_by),
                    audit_key=("lead", lead.id),
                    fields=_fields(
                        L.LEAD,
                        [
                            ("event_id", _event_title(session.get(Event, lead.event_id))),
                            ("organisation", lead.organisation.name if lead.organisation else ""),
                            ("note", lead.note),
                            ("captured_by_id", _staff(lead.captured_by)),
                            ("created_at", lead.created_at),
                            ("followup_id", lead.followup.subject if lead.followup else ""),
                        ],
                    ),
                )
                for lead in leads
            ],
        ),
    ]


# Changed fields in the log are named with the same labels as the records.
_AUDIT_FIELDS: dict[str, Mapping[str, Any]] = {
    "person": L.PERSON,
    "affiliation": L.AFFILIATION,
    "activity": L.ACTIVITY,
    "followup": L.FOLLOWUP,
    "participant": L.PARTICIPANT,
    "inquiry": INQUIRY_FIELDS,
    "counselling_session": L.SESSION,
    "participant_contact": L.CONTACT,
    "referral": L.REFERRAL,
    "consent_release": L.RELEASE,
    "support_item": L.SUPPORT_ITEM,
    "newsletter_subscription": L.SUBSCRIPTION,
    "event_contact": L.EVENT_CONTACT,
    "event_registration": L.EVENT_REGISTRATION,
    "lead": L.LEAD,
}


def audit_section(session: Session, keys: list[tuple[str, int]]) -> ReportSection:
    """The log entries about any of the records (changes, exports, views)."""
    by_type: dict[str, set[int]] = {}
    for kind, ident in keys:
        by_type.setdefault(kind, set()).add(ident)
    clauses = [
        sa.and_(AuditEntry.entity_type == kind, AuditEntry.entity_id.in_(sorted(ids)))
        for kind, ids in by_type.items()
    ]
    entries: Sequence[AuditEntry] = []
    if clauses:
        entries = session.scalars(
            sa.select(AuditEntry).where(sa.or_(*clauses)).order_by(AuditEntry.at, AuditEntry.id)
        ).all()
    rows = []
    for e in entries:
        record_kind = L.choice(L.RECORD_KINDS, e.entity_type)
        changed = (e.changes or {}).get("fields") if isinstance(e.changes, dict) else None
        rows.append(
            ReportEntry(
                title=f"{L.fmt_datetime(e.at)}: {L.choice(L.AUDIT_ACTIONS, e.action)}",
                fields=_fields(
                    L.AUDIT,
                    [
                        ("at", e.at),
                        ("action", L.choice(L.AUDIT_ACTIONS, e.action)),
                        ("actor_label", _actor(session, e.actor_id, e.actor_label)),
                        ("record", record_kind),
                        ("fields", L.field_names(_AUDIT_FIELDS.get(e.entity_type, {}), changed)),
                    ],
                ),
            )
        )
    return ReportSection(
        "audit_log",
        _("Log of changes and disclosures"),
        "log",
        rows,
        note=_("Who recorded, changed or disclosed your data and when (without the values)."),
    )


# Storage periods (receivers of storage_periods) -----------------------------------------------


def configured_storage_periods(
    session: Session, *, config: Mapping[str, Any], **_kw: Any
) -> list[tuple[str, str]]:
    """The storage periods the settings that exist today define."""
    return [
        (
            "participants",
            _(
                "Counselling records: %(years)s years after the end of the counselling, then "
                "erased after review; anonymous counts for the funder remain.",
                years=config.get("CRM_RETENTION_YEARS_AFTER_EXIT", 5),
            ),
        ),
        (
            "newsletter",
            _(
                "Newsletter: until you unsubscribe; the proof of your consent is kept as long "
                "as claims can be raised against us. An unconfirmed sign-up expires after "
                "%(hours)s hours.",
                hours=config.get("CRM_NEWSLETTER_CONFIRM_HOURS", 48),
            ),
        ),
        (
            "contacts",
            _(
                "Uploaded import files: %(days)s days after the upload.",
                days=config.get("CRM_IMPORT_KEEP_DAYS", 30),
            ),
        ),
    ]


# --- assembling the report ----------------------------------------------------------------------

# Every table that links to a person or participant, and the section that shows its rows
# (tests/test_privacy_access_report.py fails when a new linked table is missing here).
SECTION_TABLES = {
    "person": "person",
    "participant": "participant",
    "affiliation": "affiliations",
    "contact_list_member": "contact_lists",
    "activity": "activities",
    "followup": "followups",
    "import_item": "imports",
    "counselling_session": "counselling_sessions",
    "participant_contact": "participant_contacts",
    "referral": "referrals",
    "consent_release": "consent_releases",
    "support_item": "support_items",
    "placement": "placements",
    "firm_support": "onboarding_contacts",
    "esf_record": "esf",
    "esf_followup_link": "esf_followup_links",
    "newsletter_subscription": "newsletter_subscriptions",
    "consent_event": "newsletter_consent_records",
    "newsletter_delivery": "newsletter_deliveries",
    "event_contact": "event_contacts",
    "lead": "event_leads",
    "event_registration": "event_registrations",
    "inquiry": "inquiries",
    "mail_outbox": "mail_outbox",
    "survey_recipient": "survey_recipients",
    # Shown inside the entries of another section: tags and the erasure date.
    "person_tag": "person",
    "retention_review": "participant",
}

SECTION_ORDER = (
    "person",
    "participant",
    "inquiries",
    "affiliations",
    "contact_lists",
    "activities",
    "followups",
    "imports",
    "counselling_sessions",
    "participant_contacts",
    "referrals",
    "consent_releases",
    "support_items",
    "placements",
    "esf",
    "esf_followup_links",
    "newsletter_subscriptions",
    "newsletter_consent_records",
    "newsletter_deliveries",
    "mail_outbox",
    "event_contacts",
    "event_leads",
    "event_registrations",
    "survey_recipients",
    "onboarding_contacts",
)


def existing_refs(session: Session, refs: Iterable[RecordRef]) -> list[RecordRef]:
    """The refs that name a record that exists (erased participants do not)."""
    out = []
    for ref in sorted(set(refs)):
        if ref.kind == "person" and session.get(Person, ref.id) is not None:
            out.append(ref)
        elif ref.kind == "participant":
            p = session.get(Participant, ref.id)
            if p is not None and p.erased_at is None:
                out.append(ref)
        elif (
            ref.kind == "inquiry"
            and session.get(Inquiry, ref.id) is not None
            or (
                ref.kind == "event_registration"
                and session.get(EventRegistration, ref.id) is not None
            )
        ):
            out.append(ref)
    return out


def _recipients(session: Session, refs: list[RecordRef], texts: dict[str, str]) -> list[str]:
    paragraphs = [texts["recipients"]]
    ids = _ids(refs, "participant")
    if ids:
        releases = session.scalars(
            sa.select(ConsentRelease)
            .where(ConsentRelease.participant_id.in_(ids))
            .order_by(ConsentRelease.granted_on)
        ).all()
        for r in releases:
            until = r.revoked_on or r.expires_on
            paragraphs.append(
                _(
                    "Partner organisation %(org)s, based on your release of %(granted)s"
                    "%(until)s: %(scope)s",
                    org=r.organisation.name,
                    granted=L.fmt_date(r.granted_on),
                    until=_(" (until %(date)s)", date=L.fmt_date(until)) if until else "",
                    scope=r.scope,
                )
            )
        sent = session.scalars(
            sa.select(Referral).where(Referral.participant_id.in_(ids), Referral.direction == "to")
        ).all()
        for r in sent:
            paragraphs.append(
                _(
                    "Referral to %(org)s on %(date)s",
                    org=r.organisation.name,
                    date=L.fmt_date(r.referred_on),
                )
            )
    paragraphs.append(texts["mail_provider"])
    return paragraphs


def build_report(
    session: Session,
    refs: Iterable[RecordRef],
    *,
    config: Mapping[str, Any],
    now: datetime | None = None,
) -> AccessReport:
    """The readable Art. 15 report of the records the admin confirmed as one human."""
    refs = existing_refs(session, refs)
    sections: list[ReportSection] = []
    for _receiver, result in access_sections.send(session, refs=refs, config=config):
        sections.extend(result or [])
    position = {key: i for i, key in enumerate(SECTION_ORDER)}
    sections.sort(key=lambda s: position.get(s.key, len(position)))
    audit_keys = [(r.kind, r.id) for r in refs]
    audit_keys += [e.audit_key for s in sections for e in s.entries if e.audit_key]
    sections = [s for s in sections if s.entries]
    sections.append(audit_section(session, audit_keys))

    texts = notice_texts(session)
    categories = []
    for s in sections:
        if s.category not in categories:
            categories.append(s.category)
    purposes = [
        f"{CATEGORY_TITLES[c]}: {texts[CATEGORY_PURPOSES[c]]}"
        for c in categories
        if c in CATEGORY_PURPOSES
    ]
    periods: list[str] = []
    for _receiver, result in storage_periods.send(session, config=config):
        for category, text in result or []:
            if category in categories:
                periods.append(text)
    for p in session.scalars(
        sa.select(Participant).where(Participant.id.in_(_ids(refs, "participant")))
    ):
        if p.erase_after:
            periods.append(
                _(
                    "Your counselling record is due for erasure from %(date)s.",
                    date=L.fmt_date(p.erase_after),
                )
            )
    periods.append(texts["storage_note"])
    sources = []
    for s in sections:
        if s.key in ("person", "participant"):
            sources += [f"{s.title} – {e.title}: {e.source}" for e in s.entries if e.source]
            continue
        distinct = list(dict.fromkeys(e.source for e in s.entries if e.source))
        if distinct:
            sources.append(f"{s.title}: {'; '.join(distinct)}")
    information = [
        Information("purposes", "a", _("Purposes of the processing"), purposes),
        Information(
            "categories",
            "b",
            _("Categories of personal data"),
            [f"{s.title} ({len(s.entries)})" for s in sections],
        ),
        Information("recipients", "c", _("Recipients"), _recipients(session, refs, texts)),
        Information("storage", "d", _("Storage period"), periods),
        Information("rights", "e", _("Your rights"), [texts["rights"]]),
        Information(
            "complaint",
            "f",
            _("Right to lodge a complaint with a supervisory authority"),
            [texts["supervisory_authority"]],
        ),
        Information("sources", "g", _("Source of the data"), sources),
        Information(
            "automated_decisions",
            "h",
            _("Automated decision-making"),
            [texts["automated_decisions"]],
        ),
    ]
    names = []
    for s in sections:
        if s.key in ("person", "participant"):
            names += [e.title for e in s.entries if e.title not in names]
    return AccessReport(
        generated_at=now or utcnow(),
        records=refs,
        names=names,
        sections=sections,
        controller=texts["controller"],
        information=information,
    )


def connect_signals() -> None:
    """Connect the receivers of the domains that exist today (called once by create_app)."""
    lookup_subjects.connect(_person_lookup)
    lookup_subjects.connect(_participant_lookup)
    lookup_subjects.connect(_subscriber_lookup)
    for receiver in (contact_sections, participant_sections, newsletter_sections, event_sections):
        access_sections.connect(receiver)
    storage_periods.connect(configured_storage_periods)
    storage_periods.connect(retention.storage_periods)


def as_text(report: AccessReport) -> str:
    """The report as plain text (for the CLI, a letter or a closing note)."""
    lines = [
        _("Information about your personal data"),
        _("Pursuant to Art. 15 of the General Data Protection Regulation (GDPR)"),
        f"{_('For')}: {', '.join(report.names)}",
        f"{_('As of')}: {report.generated_at_text}",
        f"{_('Controller')}: {report.controller}",
        "",
        _("Information under Art. 15(1) GDPR"),
    ]
    for info in report.information:
        lines.append(f"{info.letter}) {info.title}")
        lines += [f"   - {p}" for p in info.paragraphs]
    lines += ["", _("The data we store about you")]
    for section in report.sections:
        lines += ["", f"== {section.title} ({len(section.entries)})"]
        for entry in section.entries:
            lines.append(f"-- {entry.title}")
            lines += [f"   {f.label}: {f.value}" for f in entry.fields]
            if entry.source:
                lines.append(f"   {_('Source')}: {entry.source}")
    return "\n".join(lines) + "\n"
