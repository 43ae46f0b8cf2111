"""Static contact lists: named sets of people (newsletter audiences, invitation lists).

Every change is audited with the list and the people it concerns; membership is personal
data (erasure and the Art. 15 report already cover contact_list_member).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.audit.service import record
from crm.contacts.models import ContactList, ContactListMember, Person
from crm.database import utcnow

__all__ = [
    "ListInUse",
    "ListNameTaken",
    "add_members",
    "create_list",
    "delete_list",
    "members_page",
    "remove_member",
    "update_list",
]


class ListNameTaken(ValueError):
    """Another contact list has this name."""


class ListInUse(ValueError):
    """A saved audience or a campaign uses the list, so deleting it would change who they reach."""


def _name_taken(session: Session, name: str, own_id: int | None = None) -> bool:
    stmt = sa.select(ContactList.id).where(sa.func.lower(ContactList.name) == name.lower())
    if own_id is not None:
        stmt = stmt.where(ContactList.id != own_id)
    return session.scalar(stmt.limit(1)) is not None


def create_list(session: Session, name: str, description: str = "") -> ContactList:
    """A new, empty list; raise ListNameTaken. The caller commits."""
    name = name.strip()
    if _name_taken(session, name):
        raise ListNameTaken(name)
    contact_list = ContactList(name=name, description=description.strip())
    session.add(contact_list)
    session.flush()
    record(
        session,
        "create",
        entity_type="contact_list",
        entity_id=contact_list.id,
        summary=f"Kontaktliste „{name}“ angelegt",
    )
    return contact_list


def update_list(
    session: Session, contact_list: ContactList, name: str, description: str = ""
) -> None:
    """Rename a list or change its description; raise ListNameTaken."""
    name = name.strip()
    if _name_taken(session, name, contact_list.id):
        raise ListNameTaken(name)
    old = contact_list.name
    contact_list.name = name
    contact_list.description = description.strip()
    session.flush()
    record(
        session,
        "update",
        entity_type="contact_list",
        entity_id=contact_list.id,
        summary=f"Kontaktliste „{old}“ → „{name}“",
    )


def delete_list(session: Session, contact_list: ContactList) -> None:
    """Delete a list and its memberships (not the people); raise ListInUse.

    Saved audiences and campaigns refer to lists with ON DELETE RESTRICT, so the database
    itself refuses while one uses the list (this domain does not know the newsletters).
    """
    members = session.scalar(
        sa.select(sa.func.count()).where(ContactListMember.list_id == contact_list.id)
    )
    name = contact_list.name
    try:
        with session.begin_nested():
            session.execute(
                sa.delete(ContactListMember).where(ContactListMember.list_id == contact_list.id)
            )
            session.execute(sa.delete(ContactList).where(ContactList.id == contact_list.id))
    except sa.exc.IntegrityError as exc:
        raise ListInUse(name) from exc
    record(
        session,
        "delete",
        entity_type="contact_list",
        entity_id=contact_list.id,
        summary=f"Kontaktliste „{name}“ mit {members} Personen gelöscht",
    )
    session.expunge(contact_list)


def add_members(session: Session, list_id: int, person_ids: Iterable[int]) -> int:
    """Add existing people who are not members yet; return how many were added."""
    wanted = {int(pid) for pid in person_ids}
    if not wanted:
        return 0
    existing = set(session.scalars(sa.select(Person.id).where(Person.id.in_(wanted))))
    already = set(
        session.scalars(
            sa.select(ContactListMember.person_id).where(
                ContactListMember.list_id == list_id, ContactListMember.person_id.in_(existing)
            )
        )
    )
    new = sorted(existing - already)
    now = utcnow()
    for pid in new:
        session.add(ContactListMember(list_id=list_id, person_id=pid, added_at=now))
        record(
            session,
            "list_add",
            entity_type="person",
            entity_id=pid,
            summary=f"Zur Kontaktliste #{list_id} hinzugefügt",
        )
    session.flush()
    return len(new)


def remove_member(session: Session, list_id: int, person_id: int) -> bool:
    """Remove one person from the list; False if she was not on it."""
    result = session.execute(
        sa.delete(ContactListMember).where(
            ContactListMember.list_id == list_id, ContactListMember.person_id == person_id
        )
    )
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        record(
            session,
            "list_remove",
            entity_type="person",
            entity_id=person_id,
            summary=f"Aus Kontaktliste #{list_id} entfernt",
        )
    return removed


def members_page(
    session: Session, list_id: int, *, page: int, per_page: int
) -> tuple[list[Person], int]:
    """One page of the list's members by name, and their number."""
    total = (
        session.scalar(sa.select(sa.func.count()).where(ContactListMember.list_id == list_id)) or 0
    )
    people = session.scalars(
        sa.select(Person)
        .join(ContactListMember, ContactListMember.person_id == Person.id)
        .where(ContactListMember.list_id == list_id)
        .order_by(Person.sort_name, Person.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).all()
    return list(people), total
