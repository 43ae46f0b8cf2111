"""Audiences: who a campaign may reach, as one SELECT over people.

A saved filter is a small JSON spec, never SQL:

    {"org_kinds": ["association"], "tags": ["Haus der Wirtschaft"], "regions": ["Magdeburg"]}

Keys combine with AND, the values of one key with OR. `org_kinds` and `regions` match the
organisations a person currently works at (affiliation without an end date in the past);
`tags` match a tag of the person or of such an organisation. An empty spec means everybody.
Whatever the audience, only confirmed subscribers of its list with an e-mail address remain.

The organisation part of the spec (`organisation_condition`) also chooses organisations
directly, with `sectors` and `size_classes` besides (a survey round's recipients).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.contacts.models import (
    SIZE_CLASSES,
    Affiliation,
    ContactListMember,
    Organisation,
    Person,
    Tag,
    organisation_tag,
    person_tag,
)
from crm.newsletters.models import Audience, Subscription

FILTER_KEYS = ("org_kinds", "tags", "regions")
ORGANISATION_FILTER_KEYS = ("org_kinds", "sectors", "regions", "size_classes")
MAX_VALUES = 50
MAX_VALUE_LENGTH = 120


class FilterSpecError(ValueError):
    """The filter spec is not of the allowed shape; the message is German."""


def clean_filter_spec(
    raw: Any, *, keys: tuple[str, ...] = FILTER_KEYS, kinds: Collection[str] | None = None
) -> dict[str, list[str]]:
    """Return a normalised spec (known keys, lists of distinct non-empty strings) or raise.

    `keys` are the keys allowed (ORGANISATION_FILTER_KEYS for a filter over organisations).
    `kinds`: the organisation kinds that exist (admins add their own); a form's input is
    checked against them. A stored spec is read without them: a kind removed since then
    simply matches no one."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FilterSpecError("Der Filter muss ein Objekt sein.")
    unknown = set(raw) - set(keys)
    if unknown:
        raise FilterSpecError("Unbekannte Filterfelder: " + ", ".join(sorted(map(str, unknown))))
    spec: dict[str, list[str]] = {}
    for key in keys:
        values = raw.get(key) or []
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise FilterSpecError(f"„{key}“ muss eine Liste von Texten sein.")
        cleaned = list(dict.fromkeys(v.strip() for v in values if v.strip()))
        if len(cleaned) > MAX_VALUES or any(len(v) > MAX_VALUE_LENGTH for v in cleaned):
            raise FilterSpecError(f"„{key}“ hat zu viele oder zu lange Werte.")
        if key == "org_kinds" and kinds is not None and set(cleaned) - set(kinds):
            raise FilterSpecError("Unbekannte Organisationsart.")
        if key == "size_classes" and set(cleaned) - set(SIZE_CLASSES):
            raise FilterSpecError("Unbekannte Größenklasse.")
        if cleaned:
            spec[key] = cleaned
    return spec


def _current_affiliation(today: date) -> sa.ColumnElement[bool]:
    return sa.and_(
        Affiliation.person_id == Person.id,
        sa.or_(Affiliation.until.is_(None), Affiliation.until >= today),
    )


def organisation_conditions(spec: dict[str, list[str]]) -> list[Any]:
    """The conditions over Organisation of a cleaned spec's organisation keys (AND)."""
    columns = {
        "org_kinds": Organisation.kind,
        "sectors": Organisation.sector,
        "regions": Organisation.region,
        "size_classes": Organisation.size_class,
    }
    return [column.in_(spec[key]) for key, column in columns.items() if spec.get(key)]


def filter_condition(spec: dict[str, list[str]], *, today: date | None = None) -> Any:
    """The WHERE condition over Person for a cleaned spec (EXISTS subqueries, no duplicates)."""
    today = today or date.today()
    conditions: list[Any] = []
    org_conditions = organisation_conditions(spec)
    if org_conditions:
        conditions.append(
            sa.exists()
            .where(_current_affiliation(today))
            .where(Organisation.id == Affiliation.organisation_id, *org_conditions)
        )
    if spec.get("tags"):
        tag_ids = sa.select(Tag.id).where(Tag.name.in_(spec["tags"])).scalar_subquery()
        person_tagged = sa.exists().where(
            person_tag.c.person_id == Person.id, person_tag.c.tag_id.in_(tag_ids)
        )
        org_tagged = (
            sa.exists()
            .where(_current_affiliation(today))
            .where(
                organisation_tag.c.organisation_id == Affiliation.organisation_id,
                organisation_tag.c.tag_id.in_(tag_ids),
            )
        )
        conditions.append(sa.or_(person_tagged, org_tagged))
    return sa.and_(sa.true(), *conditions)


def _audience_condition(
    kind: str, contact_list_id: int | None, spec: dict[str, Any], today: date | None
) -> Any:
    if kind == "static":
        return sa.exists().where(
            ContactListMember.list_id == contact_list_id, ContactListMember.person_id == Person.id
        )
    if kind == "filter":
        return filter_condition(clean_filter_spec(spec), today=today)
    return sa.true()


def recipients_select(
    list_id: int,
    kind: str = "subscribers",
    *,
    contact_list_id: int | None = None,
    filter_spec: dict[str, Any] | None = None,
    today: date | None = None,
) -> sa.Select:
    """Person id and e-mail of everybody an audience of this shape reaches, by person id."""
    return (
        sa.select(Person.id.label("person_id"), Person.email.label("email"))
        .join(
            Subscription,
            sa.and_(
                Subscription.person_id == Person.id,
                Subscription.list_id == list_id,
                # A literal so a planner can use the (list_id, status, person_id) index.
                Subscription.status == sa.literal_column("'confirmed'"),
            ),
        )
        .where(Person.email != "")
        .where(_audience_condition(kind, contact_list_id, filter_spec or {}, today))
        .order_by(Person.id)
    )


def audience_recipients(session: Session, audience: Audience, *, today: date | None = None):
    """SELECT (person_id, email) of the audience's recipients, ordered by person id.

    Already excluded: people without confirmed consent for the audience's list (pending,
    unsubscribed, bounced or no subscription at all) and people without an e-mail address.
    `session` is accepted for symmetry with the other services; the select is not executed.
    """
    return recipients_select(
        audience.list_id,
        audience.kind,
        contact_list_id=audience.contact_list_id,
        filter_spec=audience.filter_spec,
        today=today,
    )


def count_recipients(session: Session, select: sa.Select) -> int:
    """How many rows a recipients select yields."""
    return (
        session.scalar(sa.select(sa.func.count()).select_from(select.order_by(None).subquery()))
        or 0
    )


def filter_choices(session: Session) -> dict[str, list[str]]:
    """Values the filter form offers: tags and regions that exist."""
    tags = session.scalars(sa.select(Tag.name).order_by(Tag.name).limit(500)).all()
    regions = session.scalars(
        sa.select(Organisation.region)
        .where(Organisation.region != "")
        .distinct()
        .order_by(Organisation.region)
        .limit(500)
    ).all()
    return {"tags": list(tags), "regions": list(regions)}
