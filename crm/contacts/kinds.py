"""Kinds of organisation: the admin-managed list the organisation form, filters and import use."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import sqlalchemy as sa
from flask import g, has_app_context
from sqlalchemy.orm import Session

from crm.audit.service import record
from crm.contacts.models import Organisation, OrganisationKind
from crm.contacts.normalize import fold

__all__ = [
    "KindError",
    "LazyKindLabels",
    "active_kinds",
    "all_kinds",
    "create_kind",
    "delete_kind",
    "kind_labels",
    "kind_lookup",
    "update_kind",
    "usage_counts",
]

_KEY_WORDS = re.compile(r"[a-z0-9]+")
KEY_MAX = 30


class KindError(ValueError):
    """A change to the kinds that is refused; the message is shown to the user."""


def all_kinds(session: Session) -> list[OrganisationKind]:
    """Every kind, active or not, in the admins' order."""
    return list(
        session.scalars(
            sa.select(OrganisationKind).order_by(
                OrganisationKind.sort_order, OrganisationKind.label, OrganisationKind.id
            )
        )
    )


def active_kinds(session: Session) -> list[OrganisationKind]:
    """The kinds a new or edited organisation may be given."""
    return [k for k in all_kinds(session) if k.active]


def kind_labels(session: Session) -> dict[str, str]:
    """{key: label} of every kind (inactive ones too: old records still show theirs)."""
    return {k.key: k.label for k in all_kinds(session)}


class LazyKindLabels(Mapping[str, str]):
    """The kind labels, read once per request on first use (templates that never show a
    kind run no query)."""

    def __init__(self, session_getter) -> None:
        self._get_session = session_getter
        self._labels: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._labels is None:
            if has_app_context() and "crm_kind_labels" in g:
                self._labels = g.crm_kind_labels
            else:
                self._labels = kind_labels(self._get_session())
                if has_app_context():
                    g.crm_kind_labels = self._labels
        return self._labels

    def __getitem__(self, key: str) -> str:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def kind_lookup(session: Session) -> dict[str, str]:
    """Folded keys and labels of the active kinds → key, for reading an import's kind column."""
    lookup: dict[str, str] = {}
    for kind in active_kinds(session):
        lookup.setdefault(fold(kind.key), kind.key)
        lookup.setdefault(fold(kind.label), kind.key)
    return lookup


def usage_counts(session: Session) -> dict[str, int]:
    """How many organisations have each kind."""
    return dict(
        session.execute(
            sa.select(Organisation.kind, sa.func.count()).group_by(Organisation.kind)
        ).all()
    )


def _new_key(session: Session, label: str) -> str:
    # A readable, stable key from the label ("Partner im Ausland" → "partner_im_ausland");
    # numbered when taken. The label may change later, the key never does.
    base = "_".join(_KEY_WORDS.findall(fold(label)))[:KEY_MAX].strip("_") or "kind"
    taken = set(session.scalars(sa.select(OrganisationKind.key)))
    key, n = base, 2
    while key in taken:
        suffix = f"_{n}"
        key, n = base[: KEY_MAX - len(suffix)] + suffix, n + 1
    return key


def _check_label(session: Session, label: str, exclude_id: int | None = None) -> str:
    label = (label or "").strip()
    if not label:
        raise KindError("empty")
    clash = session.scalar(
        sa.select(OrganisationKind.id).where(
            sa.func.lower(OrganisationKind.label) == label.lower(),
            OrganisationKind.id != (exclude_id or 0),
        )
    )
    if clash is not None:
        raise KindError("duplicate")
    return label


def create_kind(session: Session, *, label: str, sort_order: int | None = None) -> OrganisationKind:
    """Add an active kind with a key made from its label; refuses a label already in use."""
    label = _check_label(session, label)
    if sort_order is None:
        top = session.scalar(sa.select(sa.func.max(OrganisationKind.sort_order))) or 0
        sort_order = top + 10
    kind = OrganisationKind(
        key=_new_key(session, label), label=label, active=True, sort_order=sort_order
    )
    session.add(kind)
    session.flush()
    record(
        session,
        "create",
        entity_type="organisation_kind",
        entity_id=kind.id,
        summary=kind.key,
    )
    return kind


def update_kind(
    session: Session, kind: OrganisationKind, *, label: str, active: bool, sort_order: int
) -> OrganisationKind:
    """Rename, (de)activate or move a kind; its key, and so every record's kind, stays."""
    kind.label = _check_label(session, label, exclude_id=kind.id)
    kind.active = active
    kind.sort_order = sort_order
    session.flush()
    record(
        session,
        "update",
        entity_type="organisation_kind",
        entity_id=kind.id,
        summary=kind.key,
        changes={"active": active},
    )
    return kind


# The kinds code falls back to (a new organisation, an import row without a known kind).
REQUIRED_KINDS = frozenset({"employer", "other"})


def delete_kind(session: Session, kind: OrganisationKind) -> None:
    """Delete a kind no organisation has; one in use can only be deactivated."""
    if kind.key in REQUIRED_KINDS:
        raise KindError("required")
    in_use = session.scalar(
        sa.select(sa.func.count()).select_from(Organisation).where(Organisation.kind == kind.key)
    )
    if in_use:
        raise KindError("in_use")
    kind_id, key = kind.id, kind.key
    session.delete(kind)
    session.flush()
    record(session, "delete", entity_type="organisation_kind", entity_id=kind_id, summary=key)
