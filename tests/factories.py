"""Factory helpers with overridable defaults (`make_user(session, role=..., **kwargs)`)."""

from __future__ import annotations

import functools
import itertools
from typing import Any

from sqlalchemy.orm import Session

from crm.accounts.models import Office, User
from crm.accounts.passwords import hash_password
from crm.database import utcnow

PASSWORD = "Elbe-Ufer-Radweg-2026"
_counter = itertools.count(1)


@functools.cache
def _password_hash(password: str) -> str:
    # argon2 is deliberately slow; hash each distinct test password once per run.
    return hash_password(password)


def make_office(session: Session, name: str | None = None, **kwargs: Any) -> Office:
    office = Office(name=name or f"Geschäftsstelle {next(_counter)}", **kwargs)
    session.add(office)
    session.flush()
    return office


def make_user(
    session: Session,
    *,
    role: str = "counsellor",
    email: str | None = None,
    display_name: str | None = None,
    password: str = PASSWORD,
    office: Office | None = None,
    **kwargs: Any,
) -> User:
    n = next(_counter)
    user = User(
        email=email or f"user{n}-{role}@example.org",
        display_name=display_name or f"Testperson {n}",
        password_hash=_password_hash(password),
        role=role,
        office=office,
        password_changed_at=utcnow(),
        **kwargs,
    )
    session.add(user)
    session.flush()
    return user
