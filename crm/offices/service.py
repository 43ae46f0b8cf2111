"""Branch offices (Geschäftsstellen): create, change, deactivate, delete when unused.

The CLI (`flask crm create-office`), the admin pages, the first-run setup and the demo loader
all create offices here, so the same rules hold everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from crm.accounts.models import Office, User, user_office
from crm.participants.models import Participant

# Weekly targets are stored as NUMERIC(6, 2); a whole-number bound keeps the message plain.
MAX_PER_WEEK = 9999
OFFICE_FIELDS = ("name", "street", "postcode", "city", "weekly_entries", "weekly_exits")


class OfficeError(ValueError):
    """A rule about offices was broken; the message is shown to the user."""


@dataclass(frozen=True)
class OfficeRow:
    """An office with how many participants and users it has (for the admin list)."""

    office: Office
    participants: int
    users: int

    @property
    def deletable(self) -> bool:
        return not self.participants and not self.users


def _clean_name(name: str) -> str:
    return " ".join((name or "").split())


def _check_target(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OfficeError(_l("Please enter a weekly target from 0 to 9999.")) from None
    if not (math.isfinite(number) and 0 <= number <= MAX_PER_WEEK):
        raise OfficeError(_l("Please enter a weekly target from 0 to 9999."))
    return round(number, 2)


def office_by_name(session: Session, name: str) -> Office | None:
    """The office of this name (case-insensitive, blanks collapsed), if any."""
    clean = _clean_name(name)
    return session.scalar(sa.select(Office).where(sa.func.lower(Office.name) == clean.lower()))


def office_names(session: Session) -> list[str]:
    """Every office's name, alphabetically (for messages that list them)."""
    return list(session.scalars(sa.select(Office.name).order_by(Office.name)))


def any_office(session: Session) -> bool:
    """True once at least one office exists (the first-run setup is then done)."""
    return session.scalar(sa.select(Office.id).limit(1)) is not None


def _apply(session: Session, office: Office, data: dict[str, Any]) -> None:
    if "name" in data:
        name = _clean_name(data["name"])
        if not name:
            raise OfficeError(_l("Please enter a name."))
        if len(name) > 120:
            raise OfficeError(_l("The name may have at most 120 characters."))
        other = office_by_name(session, name)
        if other is not None and other is not office:
            raise OfficeError(_l("A branch office with this name exists already."))
        office.name = name
    for key, limit in (("street", 200), ("postcode", 10), ("city", 120)):
        if key in data:
            value = " ".join(str(data[key] or "").split())
            if len(value) > limit:
                raise OfficeError(_l("An address field is too long."))
            setattr(office, key, value)
    for key in ("weekly_entries", "weekly_exits"):
        if key in data and data[key] is not None:
            setattr(office, key, _check_target(data[key]))


def create_office(
    session: Session,
    name: str,
    *,
    street: str = "",
    postcode: str = "",
    city: str = "",
    weekly_entries: float = 1,
    weekly_exits: float = 1,
    is_head_office: bool | None = None,
) -> Office:
    """Create an active office; the first one becomes the head office unless told otherwise."""
    office = Office(is_active=True)
    _apply(
        session,
        office,
        {
            "name": name,
            "street": street,
            "postcode": postcode,
            "city": city,
            "weekly_entries": weekly_entries,
            "weekly_exits": weekly_exits,
        },
    )
    office.is_head_office = (not any_office(session)) if is_head_office is None else is_head_office
    session.add(office)
    session.flush()
    return office


def update_office(session: Session, office: Office, data: dict[str, Any]) -> None:
    """Change name, address or weekly targets (keys of OFFICE_FIELDS present in `data`)."""
    _apply(session, office, {k: v for k, v in data.items() if k in OFFICE_FIELDS})
    session.flush()


def set_office_active(session: Session, office: Office, active: bool) -> None:
    """Deactivate (keeps participants and history, offered for nothing new) or reactivate."""
    office.is_active = active
    session.flush()


def _participant_count(session: Session, office_id: int) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count(Participant.id)).where(Participant.office_id == office_id)
        )
        or 0
    )


def office_user_ids(session: Session, office_id: int) -> list[int]:
    """Ids of the users working in the office (home office or further office)."""
    return list(
        session.scalars(
            sa.select(User.id)
            .where(
                sa.or_(
                    User.office_id == office_id,
                    User.id.in_(
                        sa.select(user_office.c.user_id).where(user_office.c.office_id == office_id)
                    ),
                )
            )
            .order_by(User.display_name)
        )
    )


def office_users(session: Session, office_id: int) -> list[User]:
    """The users working in the office, by name."""
    ids = office_user_ids(session, office_id)
    if not ids:
        return []
    return list(
        session.scalars(sa.select(User).where(User.id.in_(ids)).order_by(User.display_name))
    )


def delete_office(session: Session, office: Office) -> None:
    """Delete an office nobody uses; one with participants or users is only deactivated."""
    if _participant_count(session, office.id):
        raise OfficeError(
            _l("This branch office has participants. Deactivate it instead of deleting it.")
        )
    if office_user_ids(session, office.id):
        raise OfficeError(
            _l("Users work in this branch office. Deactivate it instead of deleting it.")
        )
    session.delete(office)
    session.flush()


def list_offices(session: Session) -> list[OfficeRow]:
    """Every office (active first, then by name) with its participant and user counts."""
    offices = list(
        session.scalars(sa.select(Office).order_by(Office.is_active.desc(), Office.name))
    )
    participants = dict(
        session.execute(
            sa.select(Participant.office_id, sa.func.count()).group_by(Participant.office_id)
        ).all()
    )
    members: dict[int, set[int]] = {}
    pairs = session.execute(
        sa.union(
            sa.select(User.id, User.office_id).where(User.office_id.is_not(None)),
            sa.select(user_office.c.user_id, user_office.c.office_id),
        )
    ).all()
    for user_id, office_id in pairs:
        if office_id is not None:
            members.setdefault(office_id, set()).add(user_id)
    return [
        OfficeRow(o, int(participants.get(o.id, 0)), len(members.get(o.id, ()))) for o in offices
    ]


def active_offices(session: Session) -> list[Office]:
    """The active offices, head office first, then by name."""
    return list(
        session.scalars(
            sa.select(Office)
            .where(Office.is_active.is_(True))
            .order_by(Office.is_head_office.desc(), Office.name)
        )
    )
