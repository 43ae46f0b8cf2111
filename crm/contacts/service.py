"""Contact rules: saving with search text, duplicates, merge, activities and last contact."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from crm import signals
from crm.audit.service import record, record_row_changes
from crm.contacts.countries import DEFAULT_COUNTRY, country_name, phone_e164
from crm.contacts.models import (
    Activity,
    Affiliation,
    ContactListMember,
    DistinctPair,
    Organisation,
    Person,
    QualificationNeed,
    Tag,
    organisation_tag,
    person_tag,
)
from crm.contacts.normalize import (
    fold,
    fold_plain,
    normalize_email,
    organisation_key,
    person_key,
    search_terms,
)
from crm.contacts.search import estimated_rows, matching_ids, sqlite_hit_count
from crm.contacts.vcard import CardOrganisation, person_vcard
from crm.database import db_int, ids_in, utcnow
from crm.security import has_permission

ORG_FIELDS = (
    "name",
    "kind",
    "sector",
    "size_class",
    "region",
    "street",
    "postcode",
    "city",
    "country",
    "phone",
    "email",
    "website",
    "notes",
    "owner_id",
)
PERSON_FIELDS = (
    "salutation",
    "title",
    "first_name",
    "last_name",
    "email",
    "email_alt",
    "phone",
    "mobile",
    "country",
    "language",
    "notes",
    "owner_id",
)


# --- search text ------------------------------------------------------------------------------


_WORD = re.compile(r"[a-z0-9]+")


@functools.lru_cache(maxsize=65536)
def _part_words(part: str) -> str:
    words = _WORD.findall(fold(part))
    if part.isascii():
        return " ".join(words)
    # A word with an umlaut is written twice, spelled out and with the plain vowel
    # ("schaefer schafer"): the query is folded one way only, so "Schäfer" and "Schaefer"
    # find the first, "Schafer" (a passport's Latin line, a keyboard without umlauts) the
    # second, and prefixes of either as you type. A row holding both is still one hit.
    plain = _WORD.findall(fold_plain(part))
    if len(plain) != len(words):
        # Not expected (both foldings only replace letters by letters); never lose a word.
        return " ".join(words + [w for w in plain if w not in words])
    out: list[str] = []
    for word, other in zip(words, plain, strict=True):
        out.append(word)
        if other != word:
            out.append(other)
    return " ".join(out)


def _words(parts: Iterable[str | None]) -> str:
    # Plain folded words only: SQLite's and PostgreSQL's tokenizers then split alike (the
    # PostgreSQL parser would keep "a.yilmaz@example.org" as one token). Folded part by
    # part, each cached: an import repeats the same firm, town and first names.
    return " ".join(w for w in map(_part_words, filter(None, parts)) if w)


class OrganisationPlace(Protocol):
    """What a person's search text reads of an organisation (a row, or the importer's values)."""

    @property
    def name(self) -> str: ...
    @property
    def city(self) -> str: ...


class OrganisationWords(OrganisationPlace, Protocol):
    """What an organisation's search text reads (a row, or the importer's values)."""

    @property
    def postcode(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def sector(self) -> str: ...


class PersonWords(Protocol):
    """What a person's search text reads (a row, or the importer's values)."""

    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def email_alt(self) -> str: ...


def organisation_search_text(org: OrganisationWords) -> str:
    """Folded words that find an organisation: name, place, postcode, e-mail, region."""
    return _words((org.name, org.city, org.postcode, org.email, org.region, org.sector))


def person_search_text(person: PersonWords, organisations: Iterable[OrganisationPlace] = ()) -> str:
    """Folded words that find a person: names, e-mails, and their organisations' names/places."""
    parts = [person.first_name, person.last_name, person.email, person.email_alt]
    for org in organisations:
        parts += [org.name, org.city]
    return _words(parts)


def refresh_person(session: Session, person: Person) -> None:
    """Recompute a person's derived columns (name key, search text)."""
    person.name_key = person_key(person.first_name, person.last_name)
    country = person.country or DEFAULT_COUNTRY
    person.phone_e164 = phone_e164(person.phone, country) or ""
    person.mobile_e164 = phone_e164(person.mobile, country) or ""
    orgs = [a.organisation for a in person.affiliations if a.organisation is not None]
    person.search_text = person_search_text(person, orgs)


def refresh_organisation(session: Session, org: Organisation, *, people: bool = True) -> None:
    """Recompute an organisation's derived columns, and its people's search text."""
    org.name_key = organisation_key(org.name)
    org.phone_e164 = phone_e164(org.phone, org.country or DEFAULT_COUNTRY) or ""
    org.search_text = organisation_search_text(org)
    if people and org.id is not None:
        for aff in session.scalars(
            sa.select(Affiliation)
            .where(Affiliation.organisation_id == org.id)
            .options(selectinload(Affiliation.person).selectinload(Person.affiliations))
        ):
            refresh_person(session, aff.person)


# --- tags -------------------------------------------------------------------------------------


def get_or_create_tags(session: Session, names: Iterable[str]) -> list[Tag]:
    """Tags by name (trimmed, case kept), created where missing."""
    wanted = {n.strip()[:80] for n in names if n and n.strip()}
    if not wanted:
        return []
    existing = {t.name: t for t in session.scalars(sa.select(Tag).where(Tag.name.in_(wanted)))}
    for name in wanted - existing.keys():
        existing[name] = Tag(name=name)
        session.add(existing[name])
    return sorted(existing.values(), key=lambda t: t.name.lower())


def parse_tags(text: str | None) -> list[str]:
    """'Haus der Wirtschaft, Messe' → ['Haus der Wirtschaft', 'Messe']."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


# --- saving -----------------------------------------------------------------------------------


def _assign(obj: Any, fields: Sequence[str], data: dict[str, Any]) -> None:
    for name in fields:
        if name in data:
            value = data[name]
            if isinstance(value, str):
                value = value.strip()
            setattr(obj, name, value)


def save_organisation(
    session: Session, data: dict[str, Any], org: Organisation | None = None
) -> Organisation:
    """Create or update an organisation from plain data (`tags` as a list of names)."""
    org = org or Organisation()
    if "email" in data:
        data = {**data, "email": normalize_email(data["email"]) or ""}
    _assign(org, ORG_FIELDS, data)
    if "tags" in data:
        org.tags = get_or_create_tags(session, data["tags"])
    session.add(org)
    refresh_organisation(session, org)
    session.flush()
    return org


def save_person(session: Session, data: dict[str, Any], person: Person | None = None) -> Person:
    """Create or update a person from plain data (`tags` as a list of names)."""
    person = person or Person()
    data = dict(data)
    for key in ("email", "email_alt"):
        if key in data:
            data[key] = normalize_email(data[key]) or ""
    _assign(person, PERSON_FIELDS, data)
    if "tags" in data:
        person.tags = get_or_create_tags(session, data["tags"])
    session.add(person)
    refresh_person(session, person)
    session.flush()
    return person


def add_affiliation(
    session: Session,
    person: Person,
    org: Organisation,
    *,
    function: str = "",
    since=None,
    until=None,
) -> Affiliation:
    """Link a person to an organisation; their search text learns the organisation's name."""
    aff = Affiliation(
        person=person, organisation=org, function=function.strip(), since=since, until=until
    )
    session.add(aff)
    if aff not in person.affiliations:
        person.affiliations.append(aff)
    refresh_person(session, person)
    session.flush()
    return aff


def remove_affiliation(session: Session, aff: Affiliation) -> None:
    person = aff.person
    person.affiliations.remove(aff)
    session.delete(aff)
    refresh_person(session, person)
    session.flush()


def add_need(session: Session, org: Organisation, **data: Any) -> QualificationNeed:
    need = QualificationNeed(organisation=org, **data)
    session.add(need)
    session.flush()
    return need


# --- duplicates -------------------------------------------------------------------------------


@dataclass
class DuplicateHit:
    record: Any
    reasons: list[str] = field(default_factory=list)


def find_person_duplicates(
    session: Session,
    *,
    first_name: str = "",
    last_name: str = "",
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    country: str = DEFAULT_COUNTRY,
    organisation_id: int | None = None,
    exclude_id: int | None = None,
) -> list[DuplicateHit]:
    """People that look like the given data: same e-mail, same phone, or same name at the firm.

    Phones are compared in E.164 (read with `country` as the default region), so
    "0391 540-2398" finds "+49 391 5402398"; a number matches a phone or a mobile.
    """
    hits: dict[int, DuplicateHit] = {}
    numbers = sorted({n for n in (phone_e164(p, country) for p in phones) if n})
    if numbers:
        stmt = sa.select(Person).where(
            sa.or_(Person.phone_e164.in_(numbers), Person.mobile_e164.in_(numbers))
        )
        for p in session.scalars(stmt.limit(20)):
            hits.setdefault(p.id, DuplicateHit(p)).reasons.append("phone")
    addresses = [e for e in (normalize_email(x) for x in emails) if e]
    if addresses:
        stmt = sa.select(Person).where(
            sa.or_(Person.email.in_(addresses), Person.email_alt.in_(addresses))
        )
        for p in session.scalars(stmt):
            hits.setdefault(p.id, DuplicateHit(p)).reasons.append("email")
    key = person_key(first_name, last_name)
    if key and organisation_id:
        stmt = (
            sa.select(Person)
            .join(Affiliation, Affiliation.person_id == Person.id)
            .where(Person.name_key == key, Affiliation.organisation_id == organisation_id)
        )
        for p in session.scalars(stmt):
            hits.setdefault(p.id, DuplicateHit(p)).reasons.append("name_at_organisation")
    hits.pop(exclude_id, None)  # type: ignore[arg-type]
    return list(hits.values())


def find_organisation_duplicates(
    session: Session,
    *,
    name: str,
    postcode: str = "",
    email: str = "",
    phone: str = "",
    country: str = DEFAULT_COUNTRY,
    exclude_id: int | None = None,
) -> list[DuplicateHit]:
    """Organisations with the same normalised name and postcode, the same e-mail or phone."""
    hits: dict[int, DuplicateHit] = {}
    key = organisation_key(name)
    if key:
        stmt = sa.select(Organisation).where(Organisation.name_key == key)
        if postcode:
            stmt = stmt.where(Organisation.postcode == postcode.strip())
        for o in session.scalars(stmt.limit(20)):
            hits.setdefault(o.id, DuplicateHit(o)).reasons.append("name_and_postcode")
    address = normalize_email(email)
    if address:
        for o in session.scalars(sa.select(Organisation).where(Organisation.email == address)):
            hits.setdefault(o.id, DuplicateHit(o)).reasons.append("email")
    number = phone_e164(phone, country)
    if number:
        stmt = sa.select(Organisation).where(Organisation.phone_e164 == number)
        for o in session.scalars(stmt.limit(20)):
            hits.setdefault(o.id, DuplicateHit(o)).reasons.append("phone")
    hits.pop(exclude_id, None)  # type: ignore[arg-type]
    return list(hits.values())


@dataclass
class DuplicatePair:
    """Two records that look like one, and why (reason keys as in DuplicateHit)."""

    first: Any
    second: Any
    reasons: list[str] = field(default_factory=list)


# Pairs shown on the duplicates page at most: staff work through them a page at a time.
DUPLICATE_PAIR_LIMIT = 100


# An e-mail address or number shared by more records than this is a firm's switchboard or
# shared mailbox ("info@…"), not one person entered twice: its records are not paired.
SHARED_CONTACT_LIMIT = 3


def _id_groups(session: Session, rows: Any, limit: int, most: int | None = None) -> list[list[int]]:
    """Ids sharing a key, one list per key, for `rows` (a select or union of (id, key));
    with `most`, keys shared by more ids than that are left out."""
    sub = rows.subquery()
    shared = sa.func.count(sa.distinct(sub.c.id))
    keys = (
        sa.select(sub.c.key)
        .group_by(sub.c.key)
        .having(shared > 1 if most is None else shared.between(2, most))
        .order_by(sub.c.key)
        .limit(limit)
    )
    groups: dict[Any, set[int]] = {}
    for record_id, key in session.execute(
        sa.select(sub.c.id, sub.c.key).where(sub.c.key.in_(keys.scalar_subquery()))
    ):
        groups.setdefault(key, set()).add(record_id)
    return [sorted(ids) for ids in groups.values()]


def _keyed(id_col: Any, key: Any, *where: Any) -> sa.Select[Any]:
    return sa.select(id_col.label("id"), key.label("key")).where(key != "", *where)


def find_duplicate_pairs(
    session: Session, kind: str, *, limit: int = DUPLICATE_PAIR_LIMIT
) -> list[DuplicatePair]:
    """Pairs of people (kind "person") or organisations that look like one record, by the same
    rules as the warning on the form: same e-mail, same phone, same name at the same
    organisation (people) or same name and postcode (organisations). A group of three gives
    the pairs of its first record with each other one."""
    model: Any
    if kind == "person":
        model = Person
        rules = {
            "email": sa.union_all(
                _keyed(Person.id, Person.email), _keyed(Person.id, Person.email_alt)
            ),
            "phone": sa.union_all(
                _keyed(Person.id, Person.phone_e164), _keyed(Person.id, Person.mobile_e164)
            ),
            # Same name at the same organisation: the key joins both.
            "name_at_organisation": _keyed(
                Person.id,
                sa.cast(Affiliation.organisation_id, sa.String) + ":" + Person.name_key,
                Affiliation.person_id == Person.id,
                Person.name_key != "",
            ),
        }
    else:
        model = Organisation
        rules = {
            "name_and_postcode": _keyed(
                Organisation.id,
                Organisation.name_key + ":" + Organisation.postcode,
                Organisation.name_key != "",
            ),
            "email": _keyed(Organisation.id, Organisation.email),
            "phone": _keyed(Organisation.id, Organisation.phone_e164),
        }
    found: dict[tuple[int, int], list[str]] = {}
    for reason, rows in rules.items():
        most = SHARED_CONTACT_LIMIT if reason in ("email", "phone") else None
        for group in _id_groups(session, rows, limit, most):
            # Every pair of a small group (one may be marked different, two others not);
            # a large one pairs its first record with each other.
            combos = (
                itertools.combinations(group, 2)
                if len(group) <= 4
                else ((group[0], other) for other in group[1:])
            )
            for pair in combos:
                reasons = found.setdefault(pair, [])
                if reason not in reasons:
                    reasons.append(reason)
    ids = {i for pair in found for i in pair}
    if ids:
        marked = session.execute(
            sa.select(DistinctPair.first_id, DistinctPair.second_id).where(
                DistinctPair.kind == kind, DistinctPair.first_id.in_(ids)
            )
        )
        for pair in marked:
            found.pop(tuple(pair), None)  # type: ignore[arg-type]
        ids = {i for pair in found for i in pair}
    records = (
        {r.id: r for r in session.scalars(sa.select(model).where(model.id.in_(ids)))} if ids else {}
    )
    pairs = [
        DuplicatePair(records[a], records[b], reasons)
        for (a, b), reasons in found.items()
        if a in records and b in records
    ]
    pairs.sort(key=lambda p: (p.first.sort_name or "", p.first.id, p.second.id))
    return pairs[:limit]


def mark_distinct(session: Session, kind: str, a: int, b: int, *, user: Any) -> bool:
    """Record that two records are different (the duplicates page stops offering them);
    False if either does not exist or they are one record. Marking twice is harmless."""
    model: Any = Person if kind == "person" else Organisation
    first, second = sorted((a, b))
    if (
        first == second
        or session.scalar(sa.select(sa.func.count()).where(model.id.in_((first, second)))) != 2
    ):
        return False
    exists = session.scalar(
        sa.select(DistinctPair.id).where(
            DistinctPair.kind == kind,
            DistinctPair.first_id == first,
            DistinctPair.second_id == second,
        )
    )
    if exists is None:
        session.add(
            DistinctPair(
                kind=kind,
                first_id=first,
                second_id=second,
                marked_by_id=getattr(user, "id", None),
                marked_at=utcnow(),
            )
        )
        session.flush()
    return True


def forget_distinct_pairs(session: Session, kind: str, record_id: int) -> None:
    """Drop the marks of a record that is merged away, deleted or erased."""
    session.execute(
        sa.delete(DistinctPair).where(
            DistinctPair.kind == kind,
            sa.or_(DistinctPair.first_id == record_id, DistinctPair.second_id == record_id),
        )
    )


# --- merge ------------------------------------------------------------------------------------


def _fill_empty(keep: Any, drop: Any, fields: Sequence[str]) -> list[str]:
    filled = []
    for name in fields:
        if not getattr(keep, name) and getattr(drop, name):
            setattr(keep, name, getattr(drop, name))
            filled.append(name)
    return filled


def merge_people(session: Session, keep: Person, drop: Person, *, user: Any) -> Person:
    """Merge `drop` into `keep`: activities, affiliations, tags, list memberships, empty fields.

    Raises MergeRefusedError if the merge touches data `user` has no rights to.
    """
    if keep.id == drop.id:
        raise ValueError("cannot merge a person with itself")
    _refuse_unless_allowed(session, "person", keep.id, drop.id, user)
    filled = _fill_empty(keep, drop, PERSON_FIELDS)
    if drop.email and drop.email != keep.email and not keep.email_alt:
        keep.email_alt = drop.email
    session.execute(
        sa.update(Activity).where(Activity.person_id == drop.id).values(person_id=keep.id)
    )
    known_orgs = {a.organisation_id for a in keep.affiliations}
    for aff in list(drop.affiliations):
        if aff.organisation_id in known_orgs:
            continue
        aff.person = keep  # back_populates moves it between the two lists
    keep.tags = sorted({*keep.tags, *drop.tags}, key=lambda t: t.name.lower())
    kept_lists = sa.select(ContactListMember.list_id).where(ContactListMember.person_id == keep.id)
    session.execute(
        sa.update(ContactListMember)
        .where(ContactListMember.person_id == drop.id, ContactListMember.list_id.not_in(kept_lists))
        .values(person_id=keep.id)
    )
    _merge_other_domains(session, "person", keep.id, drop.id, f"Person #{drop.id} → #{keep.id}")
    keep.last_contact_at = _latest(keep.last_contact_at, drop.last_contact_at)
    drop_id = drop.id
    forget_distinct_pairs(session, "person", drop_id)
    session.delete(drop)
    session.flush()
    refresh_person(session, keep)
    record(
        session,
        "merge",
        entity_type="person",
        entity_id=keep.id,
        summary=f"Person #{drop_id} → #{keep.id}",
        changes={"merged_id": drop_id, "fields": filled},
    )
    session.flush()
    return keep


def merge_organisations(
    session: Session, keep: Organisation, drop: Organisation, *, user: Any
) -> Organisation:
    """Merge `drop` into `keep`: activities, people, needs, tags, empty fields.

    Raises MergeRefusedError if the merge touches data `user` has no rights to.
    """
    if keep.id == drop.id:
        raise ValueError("cannot merge an organisation with itself")
    _refuse_unless_allowed(session, "organisation", keep.id, drop.id, user)
    filled = _fill_empty(keep, drop, ORG_FIELDS)
    session.execute(
        sa.update(Activity)
        .where(Activity.organisation_id == drop.id)
        .values(organisation_id=keep.id)
    )
    session.execute(
        sa.update(QualificationNeed)
        .where(QualificationNeed.organisation_id == drop.id)
        .values(organisation_id=keep.id)
    )
    known_people = {a.person_id for a in keep.affiliations}
    for aff in list(drop.affiliations):
        if aff.person_id in known_people:
            continue
        aff.organisation = keep  # back_populates moves it between the two lists
    keep.tags = sorted({*keep.tags, *drop.tags}, key=lambda t: t.name.lower())
    _merge_other_domains(
        session, "organisation", keep.id, drop.id, f"Organisation #{drop.id} → #{keep.id}"
    )
    keep.last_contact_at = _latest(keep.last_contact_at, drop.last_contact_at)
    drop_id = drop.id
    forget_distinct_pairs(session, "organisation", drop_id)
    session.expire(drop, ["needs"])
    session.delete(drop)
    session.flush()
    refresh_organisation(session, keep)
    record(
        session,
        "merge",
        entity_type="organisation",
        entity_id=keep.id,
        summary=f"Organisation #{drop_id} → #{keep.id}",
        changes={"merged_id": drop_id, "fields": filled},
    )
    session.flush()
    return keep


# Audit action of each row another domain changed during a merge (one entry per row and field).
MERGE_MOVE_ACTION = "merge_move"


# Audit action of each row of another domain that deleting a contact removes or unlinks.
DELETE_CASCADE_ACTION = "delete_cascade"


def delete_blockers(
    session: Session, entity_type: str, record_id: int, user: Any
) -> list[signals.MergeImpact]:
    """What deleting the record would touch in other domains that `user` has no rights to."""
    impacts = signals.collect(
        signals.delete_impact.send(entity_type, session=session, record_id=record_id)
    )
    return [
        i
        for i in impacts
        if isinstance(i, signals.MergeImpact) and not has_permission(user, i.permission)
    ]


class DeleteRefusedError(ValueError):
    """The deletion would touch data of another domain that the user may not change."""

    def __init__(self, impacts: list[signals.MergeImpact]) -> None:
        super().__init__("; ".join(str(i.message) for i in impacts))
        self.impacts = impacts


class MergeRefusedError(ValueError):
    """The merge would touch data of another domain that the user may not change."""

    def __init__(self, impacts: list[signals.MergeImpact]) -> None:
        super().__init__("; ".join(str(i.message) for i in impacts))
        self.impacts = impacts


def merge_impacts(
    session: Session, entity_type: str, keep_id: int, drop_id: int
) -> list[signals.MergeImpact]:
    """What merging `drop_id` into `keep_id` would touch in other domains."""
    impacts = signals.collect(
        signals.merge_impact.send(entity_type, session=session, keep_id=keep_id, drop_id=drop_id)
    )
    return [i for i in impacts if isinstance(i, signals.MergeImpact)]


def merge_blockers(
    session: Session, entity_type: str, keep_id: int, drop_id: int, user: Any
) -> list[signals.MergeImpact]:
    """The impacts of a merge that `user` lacks the permission for (empty: may merge)."""
    return [
        i
        for i in merge_impacts(session, entity_type, keep_id, drop_id)
        if not has_permission(user, i.permission)
    ]


def _refuse_unless_allowed(
    session: Session, entity_type: str, keep_id: int, drop_id: int, user: Any
) -> None:
    blockers = merge_blockers(session, entity_type, keep_id, drop_id, user)
    if blockers:
        raise MergeRefusedError(blockers)


def _merge_other_domains(
    session: Session, entity_type: str, keep_id: int, drop_id: int, summary: str
) -> None:
    """Let other domains move their references; audit every row they changed."""
    changes = signals.collect(
        signals.merging.send(entity_type, session=session, keep_id=keep_id, drop_id=drop_id)
    )
    record_row_changes(
        session,
        MERGE_MOVE_ACTION,
        [c for c in changes if isinstance(c, signals.RowChange)],
        summary=summary,
    )


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((x for x in (a, b) if x is not None), default=None)


# --- activities and last contact -----------------------------------------------------------------


def log_activity(
    session: Session,
    *,
    kind: str,
    occurred_at: datetime | None = None,
    user_id: int | None = None,
    subject: str = "",
    text: str = "",
    duration_minutes: int | None = None,
    person: Person | None = None,
    organisation: Organisation | None = None,
    followup_id: int | None = None,
) -> Activity:
    """Record an activity and move "last contact" of the person and organisation(s) forward.

    `followup_id` names the follow-up whose completion the activity records: its subject and
    text are then shown only to those who may see the follow-up (`followups.service`).
    """
    when = occurred_at or utcnow()
    activity = Activity(
        kind=kind,
        occurred_at=when,
        user_id=user_id,
        subject=subject.strip(),
        text=text,
        duration_minutes=duration_minutes,
        person=person,
        organisation=organisation,
        followup_id=followup_id,
    )
    session.add(activity)
    session.flush()
    _touch_last_contact(session, activity)
    return activity


def _touch_last_contact(session: Session, activity: Activity) -> None:
    when = activity.occurred_at
    if activity.person_id:
        session.execute(
            sa.update(Person)
            .where(
                Person.id == activity.person_id,
                sa.or_(Person.last_contact_at.is_(None), Person.last_contact_at < when),
            )
            .values(last_contact_at=when)
        )
    org_ids = _organisation_ids_of(session, activity)
    if org_ids:
        session.execute(
            sa.update(Organisation)
            .where(
                Organisation.id.in_(org_ids),
                sa.or_(Organisation.last_contact_at.is_(None), Organisation.last_contact_at < when),
            )
            .values(last_contact_at=when)
        )
    session.expire_all()


def _organisation_ids_of(session: Session, activity: Activity) -> set[int]:
    ids = {activity.organisation_id} if activity.organisation_id else set()
    if activity.person_id:
        ids |= set(
            session.scalars(
                sa.select(Affiliation.organisation_id).where(
                    Affiliation.person_id == activity.person_id
                )
            )
        )
    return ids


def delete_activity(session: Session, activity: Activity) -> None:
    """Delete an activity and recompute "last contact" where it mattered."""
    org_ids = _organisation_ids_of(session, activity)
    person_id = activity.person_id
    session.delete(activity)
    session.flush()
    if person_id:
        recompute_person_last_contact(session, person_id)
    for org_id in org_ids:
        recompute_organisation_last_contact(session, org_id)


def recompute_person_last_contact(session: Session, person_id: int) -> None:
    latest = session.scalar(
        sa.select(sa.func.max(Activity.occurred_at)).where(Activity.person_id == person_id)
    )
    session.execute(sa.update(Person).where(Person.id == person_id).values(last_contact_at=latest))


def recompute_organisation_last_contact(session: Session, org_id: int) -> None:
    people = sa.select(Affiliation.person_id).where(Affiliation.organisation_id == org_id)
    latest = session.scalar(
        sa.select(sa.func.max(Activity.occurred_at)).where(
            sa.or_(Activity.organisation_id == org_id, Activity.person_id.in_(people))
        )
    )
    session.execute(
        sa.update(Organisation).where(Organisation.id == org_id).values(last_contact_at=latest)
    )


# Above this many people an organisation's timeline is one UNION over all their activities
# (SQLite allows 500 terms in a compound SELECT; _newest_per_subject has one per person).
TIMELINE_PEOPLE_ARMS = 200


def organisation_timeline(
    session: Session,
    org_id: int,
    *,
    page: int = 1,
    per_page: int = 25,
    person_ids: Sequence[int] | None = None,
) -> tuple[list[Activity], int]:
    """The organisation's own activities and those with its people, newest first.

    `person_ids` are the organisation's people if the caller has them already.
    """
    if person_ids is None:
        person_ids = session.scalars(
            sa.select(Affiliation.person_id).where(Affiliation.organisation_id == org_id)
        ).all()
    people = sorted(set(person_ids))
    own = Activity.organisation_id == org_id
    # One array parameter on PostgreSQL: the same SQL whatever the number of people.
    with_people = ids_in(Activity.person_id, people, session.get_bind().dialect.name)
    # Own + with its people − both: three index range counts. Counting the UNION made SQLite
    # build and count a temporary B-tree of every entry (5 ms for 7,000).
    total = (
        session.scalar(
            sa.select(
                _count_where(own) + _count_where(with_people) - _count_where(own, with_people)
            )
        )
        or 0
    )
    offset = (max(page, 1) - 1) * per_page
    if len(people) <= TIMELINE_PEOPLE_ARMS:
        page_ids = list(
            session.scalars(
                _newest_per_subject(len(people)),
                {
                    "org": org_id,
                    "keep": offset + per_page,
                    "limit": per_page,
                    "offset": offset,
                    **{f"p{i}": p for i, p in enumerate(people)},
                },
            )
        )
    else:
        both = sa.union(_id_time(own), _id_time(with_people)).subquery()
        page_ids = list(
            session.scalars(
                sa.select(both.c.id)
                .order_by(both.c.occurred_at.desc(), both.c.id.desc())
                .limit(per_page)
                .offset(offset)
            )
        )
    if not page_ids:
        return [], total
    stmt = (
        sa.select(Activity)
        .where(Activity.id.in_(page_ids))
        # Many-to-one: joined into the one query (selectin loading took two more).
        .options(joinedload(Activity.user), joinedload(Activity.person))
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
    )
    return list(session.scalars(stmt)), total


def _count_where(*clauses: Any) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).select_from(Activity).where(*clauses).scalar_subquery()


def _id_time(clause: Any) -> sa.Select:
    return sa.select(Activity.id, Activity.occurred_at).where(clause)


_NEWEST_ARM = (
    "SELECT id, occurred_at FROM (SELECT id, occurred_at FROM activity WHERE {column} = :{param}"
    " ORDER BY occurred_at DESC, id DESC LIMIT :keep) AS {param}_newest"
)


@functools.lru_cache(maxsize=TIMELINE_PEOPLE_ARMS + 1)
def _newest_per_subject(people: int) -> sa.TextClause:
    """Page ids of an organisation's timeline from the newest `:keep` entries per subject.

    Each subject (the organisation, each person) is read backwards off its own
    (…, occurred_at, id) index, then the few hundred candidates are merged and cut: a firm
    with 7,000 entries and 60 people reads 61 short index ranges instead of sorting 7,000
    rows (bench/README.md). Plain SQL, cached per number of people: building the same
    statement from 61 SQLAlchemy subqueries cost more (12 ms) than running it.
    """
    arms = [_NEWEST_ARM.format(column="organisation_id", param="org")]
    arms += [_NEWEST_ARM.format(column="person_id", param=f"p{i}") for i in range(people)]
    return sa.text(
        " UNION ".join(arms) + " ORDER BY occurred_at DESC, id DESC LIMIT :limit OFFSET :offset"
    )


def person_timeline(
    session: Session, person_id: int, *, page: int = 1, per_page: int = 25
) -> tuple[list[Activity], int]:
    """A person's activities, newest first."""
    base = sa.select(Activity).where(Activity.person_id == person_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0
    stmt = (
        base.options(joinedload(Activity.user), joinedload(Activity.organisation))
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    return list(session.scalars(stmt)), total


# --- lists ------------------------------------------------------------------------------------


@dataclass
class ListFilters:
    q: str = ""
    kind: str = ""
    country: str = ""
    region: str = ""
    tag: str = ""
    owner_id: int | None = None
    no_contact_days: int | None = None
    sort: str = "name"
    direction: str = "asc"

    def search_only(self) -> bool:
        """True when the search words are the only filter."""
        return not (
            self.kind
            or self.country
            or self.region
            or self.tag
            or self.owner_id
            or self.no_contact_days
        )


ORG_SORTS = {
    # German dictionary order (crm.collation), served by ix_organisation_sort_name.
    "name": Organisation.sort_name,
    "city": Organisation.city,
    "kind": Organisation.kind,
    "last_contact": Organisation.last_contact_at,
    "created": Organisation.created_at,
}
PERSON_SORTS = {
    # "last first" in German dictionary order (crm.collation), served by ix_person_sort_name.
    "name": Person.sort_name,
    "first_name": Person.first_name,
    "email": Person.email,
    "last_contact": Person.last_contact_at,
    "created": Person.created_at,
}


def _no_contact_clause(column: Any, days: int | None, now: datetime) -> Any:
    if not days:
        return None
    return sa.or_(column.is_(None), column < now - timedelta(days=days))


def organisation_query(
    session: Session,
    f: ListFilters,
    *,
    now: datetime | None = None,
    walk_order: bool = False,
    per_row: bool = False,
) -> sa.Select:
    """The filtered, sorted organisation list (without paging)."""
    dialect = session.get_bind().dialect.name
    stmt = sa.select(Organisation)
    clause = matching_ids(Organisation, f.q, dialect, walk_order=walk_order, per_row=per_row)
    if clause is not None:
        stmt = stmt.where(clause)
    if f.kind:
        stmt = stmt.where(Organisation.kind == f.kind)
    if f.country:
        stmt = stmt.where(Organisation.country == f.country)
    if f.region:
        stmt = stmt.where(Organisation.region == f.region)
    if f.owner_id:
        stmt = stmt.where(Organisation.owner_id == f.owner_id)
    if f.tag:
        stmt = stmt.where(
            Organisation.id.in_(
                sa.select(organisation_tag.c.organisation_id)
                .join(Tag, Tag.id == organisation_tag.c.tag_id)
                .where(Tag.name == f.tag)
            )
        )
    no_contact = _no_contact_clause(
        Organisation.last_contact_at, f.no_contact_days, now or utcnow()
    )
    if no_contact is not None:
        stmt = stmt.where(no_contact)
    return stmt.order_by(*_order(ORG_SORTS, f, Organisation.id))


def person_query(
    session: Session,
    f: ListFilters,
    *,
    now: datetime | None = None,
    walk_order: bool = False,
    per_row: bool = False,
) -> sa.Select:
    """The filtered, sorted person list (without paging)."""
    dialect = session.get_bind().dialect.name
    stmt = sa.select(Person)
    clause = matching_ids(Person, f.q, dialect, walk_order=walk_order, per_row=per_row)
    if clause is not None:
        stmt = stmt.where(clause)
    if f.owner_id:
        stmt = stmt.where(Person.owner_id == f.owner_id)
    if f.country:
        stmt = stmt.where(Person.country == f.country)
    if f.tag:
        stmt = stmt.where(
            Person.id.in_(
                sa.select(person_tag.c.person_id)
                .join(Tag, Tag.id == person_tag.c.tag_id)
                .where(Tag.name == f.tag)
            )
        )
    if f.kind or f.region:
        orgs = sa.select(Affiliation.person_id).join(Organisation)
        if f.kind:
            orgs = orgs.where(Organisation.kind == f.kind)
        if f.region:
            orgs = orgs.where(Organisation.region == f.region)
        stmt = stmt.where(Person.id.in_(orgs))
    no_contact = _no_contact_clause(Person.last_contact_at, f.no_contact_days, now or utcnow())
    if no_contact is not None:
        stmt = stmt.where(no_contact)
    return stmt.order_by(*_order(PERSON_SORTS, f, Person.id))


def _order(sorts: dict[str, Any], f: ListFilters, tiebreak: Any) -> list[Any]:
    chosen = sorts.get(f.sort, next(iter(sorts.values())))
    columns = chosen if isinstance(chosen, tuple) else (chosen,)
    if f.direction == "desc":
        return [*(c.desc().nulls_last() for c in columns), tiebreak.desc()]
    if f.sort == "last_contact":
        return [*(c.asc().nulls_first() for c in columns), tiebreak]
    return [*(c.asc() for c in columns), tiebreak]


def list_page(
    session: Session,
    model: type[Organisation] | type[Person],
    f: ListFilters,
    *,
    page: int,
    per_page: int,
    options: Sequence[Any] = (),
    count_limit: int | None = None,
    now: datetime | None = None,
) -> tuple[list[Any], int]:
    """One page of the organisation or person list and its total, as the list pages show it.

    With `count_limit` the total is exact up to that number; above it the total is a lower
    bound greater than `count_limit` that is also greater than the rows up to the end of this
    page when a further row exists, so "is there a next page" stays answerable past the cap.
    On SQLite a search's count is taken from the FTS index alone when nothing else filters.
    A search with more hits than `count_limit`, sorted by name, walks the name index
    (search.matching_ids, _name_window; on SQLite first row by row when the hits lie
    densely, _dense_page); one with fewer sorts its hits. On PostgreSQL a one-word search
    is planned by the planner's estimate of its hits first: a broad word is not counted
    (_broad_page), a rare one is sorted and counted in one statement (_sorted_page_counted).
    """
    query = organisation_query if model is Organisation else person_query
    stmt = query(session, f, now=now)
    sqlite = session.get_bind().dialect.name == "sqlite"
    offset = (max(page, 1) - 1) * per_page
    # PostgreSQL: the name window was walked in vain already (a broad word whose hits cluster).
    window_tried = False
    # PostgreSQL, one word: the planner's estimate of the hits chooses the plan (no count for
    # a broad word; one statement for page and total for a rare one).
    if (
        not sqlite
        and count_limit is not None
        and f.sort == "name"
        and f.search_only()
        and _one_word(f.q)
    ):
        hits: sa.Select[Any] = stmt.order_by(None).with_only_columns(
            sa.literal_column("1"), maintain_column_froms=True
        )
        estimate = estimated_rows(session, hits)
        if estimate >= BROAD_FACTOR * count_limit and offset + per_page < NAME_WINDOW:
            broad = _broad_page(session, model, f, stmt, offset, per_page, options, count_limit)
            if broad is not None:
                return broad
            window_tried = True
        if window_tried or estimate <= FEW_FACTOR * count_limit:
            # Few hits, or a broad word clustered past the window: sort the hits and count
            # them in the same statement, one pass over the GIN index instead of two.
            found = _sorted_page_counted(session, model, f, stmt, offset, per_page, options)
            if found is not None:
                return found
    total = None
    # The highest id among the counted hits (SQLite): how densely the hits lie.
    last_hit_id = None
    if sqlite and count_limit is not None and f.search_only():
        counted = sqlite_hit_count(session, model, f.q, limit=count_limit)
        if counted is not None:
            total, last_hit_id = counted
    if total is None:
        total = count_of(session, stmt, limit=count_limit, search=bool(f.q.strip()))
    capped = count_limit is not None and total > count_limit
    # Past the counted rows only one more row tells whether a next page exists.
    peek = 1 if capped and offset + per_page >= total else 0
    wanted = per_page + peek
    if f.q.strip() and count_limit is not None:
        # The capped hit count chooses the plan. Many hits in name order: walk the name index
        # (on PostgreSQL within a window); few (or the window too short): sort the hits.
        if capped and f.sort == "name" and sqlite:
            rows = None
            if last_hit_id is not None and last_hit_id <= total * DENSE_WINDOW // (2 * per_page):
                # Hits dense enough in id order to fill a page within half the DENSE_WINDOW
                # names, if they lie in name order as in id order (if not: one bounded walk
                # in vain).
                rows = _dense_page(session, model, f, offset, wanted, options, now)
            if rows is None:
                # The walk reads only the name index, testing each entry against the set of
                # hits: cheap per row, so no window is needed.
                walk = query(session, f, now=now, walk_order=True)
                rows = list(session.scalars(walk.options(*options).limit(wanted).offset(offset)))
        elif capped and f.sort == "name" and not window_tried:
            window = _name_window(
                (ORG_SORTS if model is Organisation else PERSON_SORTS)["name"],
                f.direction == "desc",
            )
            paged = stmt.where(window).options(*options).limit(wanted).offset(offset)
            rows = list(session.scalars(paged))
            if len(rows) < wanted:
                rows = _sorted_page(session, model, f, stmt, offset, wanted, options)
        elif capped and f.sort != "name":
            # Sorted by another column: the database's own plan.
            rows = list(session.scalars(stmt.options(*options).limit(wanted).offset(offset)))
        else:
            rows = _sorted_page(session, model, f, stmt, offset, wanted, options)
    else:
        rows = list(session.scalars(stmt.options(*options).limit(wanted).offset(offset)))
    if peek:
        total = max(total, offset + len(rows))
    return rows[:per_page], total


# A one-word search the planner expects to have this many times the count limit's hits is
# "broad". The estimate comes from the search column's statistics and was within 10 % of the
# true count for the bench's words (bench/README.md); the margin keeps it from calling a word
# broad that has fewer hits than the limit, whose page would then say "more than 1,000".
BROAD_FACTOR = 3
# One it expects to match at most this many times the limit is sorted at once: walking the
# name order would read more rows than there are hits (mue, weiß, yılmaz: ~1,100 people at
# scale 1.0, all under one letter). Between the two, the capped count chooses as before.
FEW_FACTOR = 1.5


def _one_word(q: str) -> bool:
    """True for a search of exactly one word.

    The planner multiplies the shares of several words as if they were independent, which
    can overstate a pair that rarely occurs together: only one word's estimate is trusted.
    """
    return len(search_terms(q)) == 1


def _broad_page(
    session: Session,
    model: type[Organisation] | type[Person],
    f: ListFilters,
    stmt: sa.Select,
    offset: int,
    per_page: int,
    options: Sequence[Any],
    count_limit: int,
) -> tuple[list[Any], int] | None:
    """A page of a broad search on PostgreSQL, found without counting its hits.

    Any use of the GIN index, a capped count included, builds a bitmap of every hit first,
    so a broad word's count grew with the table.
    A word the planner expects to match over BROAD_FACTOR times the count limit skips the
    count: its page is looked for in the name window, and the total shown is "more than"
    the limit. Returns the rows and that total; None when the page (and one row past it)
    is not in the window: then the caller sorts the hits, so the rows are the true page.
    """
    window = _name_window(
        (ORG_SORTS if model is Organisation else PERSON_SORTS)["name"], f.direction == "desc"
    )
    paged = stmt.where(window).options(*options).limit(per_page + 1).offset(offset)
    rows = list(session.scalars(paged))
    if len(rows) <= per_page:
        return None
    return rows[:per_page], max(count_limit + 1, offset + len(rows))


def _sorted_page_counted(
    session: Session,
    model: type[Organisation] | type[Person],
    f: ListFilters,
    stmt: sa.Select,
    offset: int,
    per_page: int,
    options: Sequence[Any],
) -> tuple[list[Any], int] | None:
    """A one-word search's page and its exact total on PostgreSQL, from sorting all hits.

    For a word the planner expects to match at most FEW_FACTOR times the count limit (or a
    broad one clustered past the name window): the hits are fetched through the GIN
    index once, numbered and counted (_sorted_hits); the capped count before it read the
    index a second time. None for a page past the last hit (its total is then unknown).
    """
    sorts = ORG_SORTS if model is Organisation else PERSON_SORTS
    page = _sorted_hits(model, stmt, _order(sorts, f, model.id), offset, per_page, counted=True)
    found = session.execute(page.options(*options)).all()
    if not found and offset:
        return None
    return [row[0] for row in found], (found[0][1] if found else 0)


# SQLite: a search with many hits first looks for its page among this many names.
DENSE_WINDOW = 500


def _dense_page(
    session: Session,
    model: type[Organisation] | type[Person],
    f: ListFilters,
    offset: int,
    wanted: int,
    options: Sequence[Any],
    now: datetime | None,
) -> list[Any] | None:
    """On SQLite, the page of a search with many hits from the first DENSE_WINDOW names.

    The walk of the name index against the set of FTS hits first builds that set, which
    costs in proportion to the hits. A word found in every third row ("magdeburg", "ha") has
    its first page within the first 100 names, so those rows are tested one by one on their
    own search_text without the set. Only the full page (with the row past it, when one is
    wanted) counts: otherwise None and the caller walks as before, so the rows are the true
    page whatever the word; at most DENSE_WINDOW rows are read in vain (clustered words such
    as "bäckerei", rare pages far back).
    """
    if offset + wanted > DENSE_WINDOW:
        return None
    query = organisation_query if model is Organisation else person_query
    stmt = query(session, f, now=now, per_row=True)
    window = _name_window(
        (ORG_SORTS if model is Organisation else PERSON_SORTS)["name"],
        f.direction == "desc",
        size=DENSE_WINDOW,
    )
    rows = list(session.scalars(stmt.where(window).options(*options).limit(wanted).offset(offset)))
    return rows if len(rows) == wanted else None


def _sorted_page(
    session: Session,
    model: type[Organisation] | type[Person],
    f: ListFilters,
    stmt: sa.Select,
    offset: int,
    limit: int,
    options: Sequence[Any],
) -> list[Any]:
    """Rows offset..offset+limit of a search, found by sorting all its hits.

    SQLite does that by itself for `id IN (FTS hits)`; PostgreSQL is told (_sorted_hits).
    """
    if session.get_bind().dialect.name != "sqlite":
        sorts = ORG_SORTS if model is Organisation else PERSON_SORTS
        page = _sorted_hits(model, stmt, _order(sorts, f, model.id), offset, limit)
        return list(session.scalars(page.options(*options)))
    return list(session.scalars(stmt.options(*options).limit(limit).offset(offset)))


# A search with many hits looks for its page among this many rows in name order first.
NAME_WINDOW = 3000


def _name_window(
    column: Any, descending: bool, *, size: int | None = None
) -> sa.ColumnElement[bool]:
    """Rows among the first `size` in name order (ties at the edge included).

    Walking the name index and testing each row is quick for words whose hits are spread over
    the alphabet, but a word with many hits that cluster (every "Bäckerei …" under B) walks
    most of the table first. Bounded by the `size`-th name, the walk stops there; a page
    found inside the window is the true page, as the window is a prefix of the order.
    """
    edge = (
        sa.select(column)
        .order_by(column.desc() if descending else column)
        .offset((size or NAME_WINDOW) - 1)
        .limit(1)
        .scalar_subquery()
    )
    return column >= edge if descending else column <= edge


def _sorted_hits(
    model: type[Organisation] | type[Person],
    stmt: sa.Select,
    order: list[Any],
    offset: int,
    limit: int,
    *,
    counted: bool = False,
) -> sa.Select:
    """`stmt`'s rows offset..offset+limit, found by sorting all its (few) search hits.

    `counted`: each row comes with the number of all hits (model, total).

    For a search with few hits (at most the count limit) on PostgreSQL, and for one with
    many whose page is not within the name window (_name_window). Left to itself the
    planner walks the name index and tests each row against the search, expecting hits spread
    evenly over the alphabet; but hits cluster ("Weiß" late, "Bäckerei …" at B), and the walk
    then reads thousands of rows before it has a page. Numbering the hits in a materialised
    CTE, which is planned on its own and without the page's LIMIT, makes it fetch the hits
    through the GIN index and sort only them.
    """
    hits = (
        stmt.order_by(None)
        .with_only_columns(
            model.id.label("hit_id"),
            sa.func.row_number().over(order_by=order).label("position"),
            *([sa.func.count().over().label("total")] if counted else []),
        )
        .cte("hits")
        .prefix_with("MATERIALIZED")
    )
    page = (
        sa.select(hits.c.hit_id, hits.c.position, *([hits.c.total] if counted else []))
        .order_by(hits.c.position)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    columns = (model, page.c.total) if counted else (model,)
    return sa.select(*columns).join(page, model.id == page.c.hit_id).order_by(page.c.position)


# --- pages: eager loading, lookups, deletes, export rows ---------------------------------------

# What the list pages show: loaded in one query per relationship, whatever the page size.
# Many-to-one relationships are joined into the query that loads their parents.
ORG_LIST_OPTIONS = (joinedload(Organisation.owner), selectinload(Organisation.tags))
PERSON_LIST_OPTIONS = (
    joinedload(Person.owner),
    selectinload(Person.tags),
    selectinload(Person.affiliations).joinedload(Affiliation.organisation),
)


def get_organisation(session: Session, org_id: int) -> Organisation | None:
    """One organisation with what its page shows: owner, tags, people, needs."""
    return session.scalar(
        sa.select(Organisation)
        .where(Organisation.id == org_id)
        .options(
            selectinload(Organisation.owner),
            selectinload(Organisation.tags),
            selectinload(Organisation.affiliations).selectinload(Affiliation.person),
            selectinload(Organisation.needs),
        )
    )


@dataclass(frozen=True)
class PersonRow:
    """A person as an organisation's page lists them (a row, not an ORM object)."""

    person_id: int
    title: str
    first_name: str
    last_name: str
    function: str
    since: Any
    until: Any

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.title, self.first_name, self.last_name) if p)


def organisation_page(session: Session, org_id: int) -> tuple[Organisation, list[PersonRow]] | None:
    """An organisation with owner, tags and needs, and its people by name, for its page.

    The people come as plain rows in one query: building 60 affiliation and 60 person
    objects for a big employer's page cost 1.5 ms more than the rows (bench/README.md).
    """
    org = session.scalar(
        sa.select(Organisation)
        .where(Organisation.id == org_id)
        .options(
            selectinload(Organisation.owner),
            selectinload(Organisation.tags),
            selectinload(Organisation.needs),
        )
    )
    if org is None:
        return None
    rows = session.execute(
        sa.select(
            Affiliation.person_id,
            Person.title,
            Person.first_name,
            Person.last_name,
            Affiliation.function,
            Affiliation.since,
            Affiliation.until,
        )
        .join(Person, Person.id == Affiliation.person_id)
        .where(Affiliation.organisation_id == org_id)
        .order_by(Person.sort_name, Person.id)
    )
    return org, [PersonRow(*row) for row in rows]


def get_person(session: Session, person_id: int) -> Person | None:
    """One person with what their page shows: owner, tags, affiliations and organisations."""
    return session.scalar(
        sa.select(Person).where(Person.id == person_id).options(*PERSON_LIST_OPTIONS)
    )


def works_at(session: Session, person_id: int, organisation_id: int) -> bool:
    """True if the person is linked to the organisation (any affiliation, as its page lists)."""
    return bool(
        session.scalar(
            sa.select(
                sa.exists().where(
                    Affiliation.person_id == person_id,
                    Affiliation.organisation_id == organisation_id,
                )
            )
        )
    )


def people_at_organisation(
    session: Session, organisation_id: int, text: str, *, limit: int = 20
) -> list[Person]:
    """The organisation's people matching a number or every word of `text` (by name order).

    For pickers limited to one firm. The firm's own people are few, so they are read through
    the affiliation index and matched by word prefix in their folded search text, not through
    the whole table's search index (where "a" would match most of 100,000 people).
    """
    text = (text or "").strip()
    at_org = sa.select(Affiliation.person_id).where(Affiliation.organisation_id == organisation_id)
    stmt = sa.select(Person).where(Person.id.in_(at_org))
    number = text.lstrip("#")
    if number.isdigit():
        record_id = db_int(number)
        if record_id is None:
            return []
        return list(session.scalars(stmt.where(Person.id == record_id)))
    terms = search_terms(text)
    if not terms:
        return []
    # search_text is folded words separated by single spaces: " term" is a word's prefix.
    words = sa.literal(" ") + Person.search_text
    for term in terms:
        stmt = stmt.where(words.contains(" " + term, autoescape=True))
    return list(session.scalars(stmt.order_by(Person.sort_name, Person.id).limit(limit)))


def find_records(session: Session, model: Any, text: str, *, limit: int = 20) -> list[Any]:
    """Records of `model` by number ("123", "#123") or by search words, for pickers."""
    text = (text or "").strip()
    number = text.lstrip("#")
    if number.isdigit():
        # A number beyond the database's integer range (or in other digits) is no record.
        record_id = db_int(number)
        found = session.get(model, record_id) if record_id is not None else None
        return [found] if found is not None else []
    query = organisation_query if model is Organisation else person_query
    return list(session.scalars(query(session, ListFilters(q=text)).limit(limit)))


def resolve_organisation(session: Session, text: str) -> tuple[Organisation | None, int]:
    """The organisation meant by a number or a name typed into a form, and how many matched.

    An exact (normalised) name wins over a word search; more than one match means the user
    has to be more precise, so None is returned with the number of candidates.
    """
    text = (text or "").strip()
    if not text:
        return None, 0
    number = text.lstrip("#")
    if number.isdigit():
        org_id = db_int(number)
        org = session.get(Organisation, org_id) if org_id is not None else None
        return org, int(org is not None)
    exact = list(
        session.scalars(
            sa.select(Organisation).where(Organisation.name_key == organisation_key(text)).limit(2)
        )
    )
    candidates = exact or find_records(session, Organisation, text, limit=2)
    return (candidates[0], 1) if len(candidates) == 1 else (None, len(candidates))


def picked_organisation(
    session: Session, id_value: Any, text: str | None
) -> tuple[Organisation | None, int]:
    """The organisation a record picker means: its chosen id, else what its text resolves to.

    The chosen id counts while the text still shows that organisation's name (or is empty):
    without JavaScript a user can only change the text, and then the text is what they mean.
    Returns the organisation (or None) and how many matched, like resolve_organisation.
    """
    text = (text or "").strip()
    org_id = db_int(id_value) if id_value not in (None, "") else None
    picked = session.get(Organisation, org_id) if org_id is not None and org_id > 0 else None
    if picked is not None and (not text or " ".join(text.split()) == " ".join(picked.name.split())):
        return picked, 1
    return resolve_organisation(session, text)


def delete_organisation(session: Session, org: Organisation, *, user: Any) -> None:
    """Delete an organisation (its needs and affiliations go with it); people stay.

    Raises DeleteRefusedError if other domains' data that `user` has no rights to name it.
    """
    blockers = delete_blockers(session, "organisation", org.id, user)
    if blockers:
        raise DeleteRefusedError(blockers)
    org_id = org.id
    changes = signals.collect(
        signals.deleting.send("organisation", session=session, record_id=org_id)
    )
    record_row_changes(
        session,
        DELETE_CASCADE_ACTION,
        [c for c in changes if isinstance(c, signals.RowChange)],
        summary=f"Organisation #{org_id}",
    )
    forget_distinct_pairs(session, "organisation", org_id)
    # Without autoflush: loading the next person's affiliations would flush the removal of
    # the previous one, and the organisation's cascade would then delete that row a second time.
    with session.no_autoflush:
        people = [a.person for a in org.affiliations]
        for aff in list(org.affiliations):
            aff.person.affiliations.remove(aff)
    session.delete(org)
    session.flush()
    for person in people:
        refresh_person(session, person)
    session.flush()


def delete_person(session: Session, person: Person) -> None:
    """Delete a person; their organisations' "last contact" is recomputed without them.

    Activities that also belong to an organisation stay in its history, without the person.
    """
    org_ids = {a.organisation_id for a in person.affiliations}
    session.execute(
        sa.update(Activity)
        .where(Activity.person_id == person.id, Activity.organisation_id.is_not(None))
        .values(person_id=None)
    )
    forget_distinct_pairs(session, "person", person.id)
    session.delete(person)
    session.flush()
    for org_id in org_ids:
        recompute_organisation_last_contact(session, org_id)
    session.flush()


def delete_need(session: Session, need: QualificationNeed) -> None:
    """Delete a qualification need."""
    org = need.organisation
    if need in org.needs:
        org.needs.remove(need)
    session.delete(need)
    session.flush()


def _distinct_values(session: Session, column: sa.Column) -> list[str]:
    # A loose index scan (jump to the next larger value) instead of DISTINCT over every
    # organisation: a handful of index probes at 50,000 organisations (bench finding 4).
    first = sa.select(sa.func.min(column).label("value")).where(column > "")
    walk = first.cte(f"{column.name}_values", recursive=True)
    following = sa.select(
        sa.select(sa.func.min(column)).where(column > walk.c.value).scalar_subquery()
    ).where(walk.c.value.is_not(None))
    walk = walk.union_all(following)
    return list(session.scalars(sa.select(walk.c.value).where(walk.c.value.is_not(None))))


def distinct_regions(session: Session) -> list[str]:
    """The regions in use, for the list filter."""
    return _distinct_values(session, Organisation.__table__.c.region)


def distinct_countries(session: Session) -> list[str]:
    """The countries of organisations (ISO codes), for the list filter."""
    return _distinct_values(session, Organisation.__table__.c.country)


def tag_names(session: Session) -> list[str]:
    """All tag names, for the list filter."""
    return list(session.scalars(sa.select(Tag.name).order_by(Tag.name)))


def count_of(
    session: Session, stmt: sa.Select, *, limit: int | None = None, search: bool = True
) -> int:
    """How many rows a list query returns; with `limit`, counting stops at limit + 1.

    `search`: the query has search words (PostgreSQL then plans the hits on their own).
    """
    # Only a constant per row: with a LIMIT the subquery is not flattened and would fetch
    # every column of the rows it counts.
    inner: sa.Select[Any] = stmt.order_by(None).with_only_columns(
        sa.literal_column("1"), maintain_column_froms=True
    )
    if limit is None:
        return session.scalar(sa.select(sa.func.count()).select_from(inner.subquery())) or 0
    # A search for "ha" matches 16,000 people: nobody pages through them, and counting them
    # all was a third of the page's time (bench/README.md).
    if search and session.get_bind().dialect.name == "postgresql":
        # Planned without the LIMIT (a materialised CTE is read lazily): with it PostgreSQL
        # expected 1,001 hits early in a sequential scan, and words whose people sort late
        # ("weiß", "yılmaz") scanned 40,000 rows (20 ms instead of 4).
        hits = inner.cte("hits").prefix_with("MATERIALIZED")
        capped: sa.Select[Any] = (
            sa.select(sa.literal_column("1")).select_from(hits).limit(limit + 1)
        )
    else:
        # A list without search words: the rows in any order, the first limit + 1 of them
        # (a materialised CTE would copy each counted row once more).
        capped = inner.limit(limit + 1)
    return session.scalar(sa.select(sa.func.count()).select_from(capped.subquery())) or 0


ORG_EXPORT_FIELDS = (
    "id",
    "name",
    "kind",
    "sector",
    "size_class",
    "region",
    "street",
    "postcode",
    "city",
    "country",
    "phone",
    "email",
    "website",
    "tags",
    "owner",
    "last_contact_at",
    "notes",
)
PERSON_EXPORT_FIELDS = (
    "id",
    "salutation",
    "title",
    "first_name",
    "last_name",
    "email",
    "email_alt",
    "phone",
    "mobile",
    "country",
    "language",
    "organisations",
    "tags",
    "owner",
    "last_contact_at",
    "notes",
)
_EXPORT_BATCH = 500


def _batched(session: Session, stmt: sa.Select, options: Sequence[Any]) -> Iterable[Any]:
    # Batches keep eager loading per batch (yield_per and selectinload of collections do not
    # mix) and memory flat: the identity map holds unmodified rows only weakly.
    offset = 0
    while True:
        rows = session.scalars(stmt.options(*options).limit(_EXPORT_BATCH).offset(offset)).all()
        yield from rows
        if len(rows) < _EXPORT_BATCH:
            return
        offset += _EXPORT_BATCH


def organisation_rows(session: Session, stmt: sa.Select) -> Iterable[list[Any]]:
    """Export rows (ORG_EXPORT_FIELDS) of an organisation list query."""
    for o in _batched(session, stmt, ORG_LIST_OPTIONS):
        yield [
            o.id,
            o.name,
            o.kind,
            o.sector,
            o.size_class,
            o.region,
            o.street,
            o.postcode,
            o.city,
            o.country,
            o.phone,
            o.email,
            o.website,
            ", ".join(t.name for t in o.tags),
            o.owner.display_name if o.owner else "",
            o.last_contact_at,
            o.notes,
        ]


def person_rows(session: Session, stmt: sa.Select) -> Iterable[list[Any]]:
    """Export rows (PERSON_EXPORT_FIELDS) of a person list query."""
    for p in _batched(session, stmt, PERSON_LIST_OPTIONS):
        yield [
            p.id,
            p.salutation,
            p.title,
            p.first_name,
            p.last_name,
            p.email,
            p.email_alt,
            p.phone,
            p.mobile,
            p.country,
            p.language,
            ", ".join(
                a.organisation.name + (f" ({a.function})" if a.function else "")
                for a in p.affiliations
            ),
            ", ".join(t.name for t in p.tags),
            p.owner.display_name if p.owner else "",
            p.last_contact_at,
            p.notes,
        ]


# --- vCard ---------------------------------------------------------------------------------------


def current_affiliations(person: Person, today: date) -> list[Affiliation]:
    """The person's affiliations that hold on `today`; if none does, the one that ended last."""
    # In the order they were recorded, so the first (the card's main organisation) is stable.
    current = sorted(
        (
            a
            for a in person.affiliations
            if (a.since is None or a.since <= today) and (a.until is None or a.until >= today)
        ),
        key=lambda a: a.id,
    )
    ended = [a for a in person.affiliations if a.until is not None and a.until < today]
    if current or not ended:
        return current
    # Someone who has left everywhere is still best reached through their last employer.
    return [max(ended, key=lambda a: (a.until, a.id))]


def person_card(person: Person, *, today: date) -> str:
    """The person as a vCard with every current organisation and the notes."""
    return person_vcard(
        salutation=person.salutation.title(),
        title=person.title,
        first_name=person.first_name,
        last_name=person.last_name,
        emails=[person.email, person.email_alt],
        phones=[("work", person.phone), ("mobile", person.mobile)],
        organisations=[
            CardOrganisation(
                name=a.organisation.name,
                function=a.function,
                street=a.organisation.street,
                postcode=a.organisation.postcode,
                city=a.organisation.city,
                country=country_name(a.organisation.country),
            )
            for a in current_affiliations(person, today)
        ],
        note=person.notes,
    )


def person_cards(session: Session, stmt: sa.Select, *, today: date) -> Iterable[str]:
    """One vCard per person of a person list query, in batches (bulk export)."""
    for person in _batched(session, stmt, PERSON_LIST_OPTIONS):
        yield person_card(person, today=today)
