"""The project term (Projektlaufzeit): stored by an admin, else from the environment.

The funder report's "term" preset and the targets board (which counts weekly targets from
the project start) read it through `current_term`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crm.dashboard.models import ProjectTerm
from crm.inputs import parse_date

TERM_ID = 1


class TermError(ValueError):
    """A term that cannot be stored (end before start)."""


@dataclass(frozen=True)
class Term:
    """Name (may be empty), first and last day; `stored` False when it comes from the
    environment."""

    name: str
    start: date | None
    end: date | None
    stored: bool = False

    @property
    def is_set(self) -> bool:
        return self.start is not None and self.end is not None


def _env_date(value: Any) -> date | None:
    # A typo in the environment must not break every report page: treat it as unset.
    try:
        return parse_date(str(value or "").strip())
    except ValueError:
        return None


def current_term(session: Session, config: Mapping[str, Any]) -> Term:
    """The stored term; without one, CRM_PROJECT_START/CRM_PROJECT_END from the config."""
    row = session.get(ProjectTerm, TERM_ID)
    if row is not None:
        return Term(row.name, row.start_on, row.end_on, stored=True)
    return Term(
        "", _env_date(config.get("CRM_PROJECT_START")), _env_date(config.get("CRM_PROJECT_END"))
    )


def save_term(session: Session, *, name: str, start: date, end: date) -> ProjectTerm:
    """Store the term (audited through ProjectTerm); TermError if it ends before it starts."""
    if end < start:
        raise TermError("reversed")
    row = session.get(ProjectTerm, TERM_ID)
    if row is None:
        row = ProjectTerm(id=TERM_ID)
        session.add(row)
    row.name, row.start_on, row.end_on = name.strip(), start, end
    session.flush()
    return row


def project_name(session: Session) -> str:
    """The project's name as an admin stored it with the term ("" when there is none).

    Also called while an error page renders: a database that just failed gives "" instead of
    a second error.
    """
    try:
        row = session.get(ProjectTerm, TERM_ID)
    except SQLAlchemyError:
        return ""
    return row.name if row is not None else ""
