"""The public form's privacy notice and consent sentence: built-in, or edited by admins.

Each save stores a new version with all three text sets (German, English, simple German);
stored versions are never changed, so the `consent_version` an inquiry recorded resolves to
the words its sender saw. The texts are plain text: shown escaped, paragraphs split at blank
lines, never rendered as a template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session, joinedload

from crm.intake.models import IntakeConsentText
from crm.intake.service import IntakeError
from crm.intake.texts import CONSENT_VERSION, SIMPLE_TEXTS, standard_texts

BERLIN = ZoneInfo("Europe/Berlin")
# The text sets of the public form, as IntakeConsentText names its columns.
LANGS = ("de", "en", "simple")
FIELDS = tuple(f"{part}_{lang}" for lang in LANGS for part in ("privacy", "consent"))
MAX_LENGTH = 5000


@dataclass(frozen=True)
class Wording:
    """What the form shows in one text set, and the version it belongs to."""

    version: str
    privacy: str
    consent: str


def builtin() -> dict[str, str]:
    """The built-in wording of every text set (German and English from the catalogues)."""
    values: dict[str, str] = {}
    for lang in ("de", "en"):
        with force_locale(lang):
            texts = standard_texts()
            values[f"privacy_{lang}"] = str(texts["privacy"])
            values[f"consent_{lang}"] = str(texts["consent"])
    values["privacy_simple"] = str(SIMPLE_TEXTS["privacy"])
    values["consent_simple"] = str(SIMPLE_TEXTS["consent"])
    return values


def current(session: Session) -> IntakeConsentText | None:
    """The newest stored version, or None while only the built-in text exists."""
    return session.scalars(
        sa.select(IntakeConsentText).order_by(IntakeConsentText.id.desc()).limit(1)
    ).first()


def _wording(version: str, values: Mapping[str, Any], lang: str) -> Wording:
    lang = lang if lang in LANGS else "de"
    return Wording(version, str(values[f"privacy_{lang}"]), str(values[f"consent_{lang}"]))


def wording(session: Session, lang: str, version: str | None = None) -> Wording:
    """The wording of a text set: of `version` if it exists, else of the newest version."""
    if version == CONSENT_VERSION:
        return _wording(CONSENT_VERSION, builtin(), lang)
    row = None
    if version:
        row = session.scalar(
            sa.select(IntakeConsentText).where(IntakeConsentText.version == version)
        )
    row = row or current(session)
    if row is None:
        return _wording(CONSENT_VERSION, builtin(), lang)
    return _wording(row.version, {f: getattr(row, f) for f in FIELDS}, lang)


def history(session: Session, limit: int = 50) -> list[IntakeConsentText]:
    """The stored versions, newest first."""
    return list(
        session.scalars(
            sa.select(IntakeConsentText)
            .options(joinedload(IntakeConsentText.created_by))
            .order_by(IntakeConsentText.id.desc())
            .limit(limit)
        )
    )


def check(values: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The six texts as typed (line endings normalised) and the errors by field."""
    typed: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in FIELDS:
        raw = values.get(name)
        text = raw.replace("\r\n", "\n").strip() if isinstance(raw, str) else ""
        typed[name] = text
        if not text:
            errors[name] = _("Please fill in this field.")
        elif len(text) > MAX_LENGTH:
            errors[name] = _("At most %(n)d characters, please.", n=MAX_LENGTH)
    return typed, errors


def save(session: Session, texts: Mapping[str, str], user: Any, now: datetime) -> IntakeConsentText:
    """Store the texts as a new version named by the Berlin date and a running number.

    Refused if nothing differs from the wording in force: a version is a change of words.
    """
    latest = current(session)
    in_force = {f: getattr(latest, f) for f in FIELDS} if latest else builtin()
    if all(texts[f] == in_force[f] for f in FIELDS):
        raise IntakeError(_("The texts are unchanged; no new version was saved."))
    day = now.astimezone(BERLIN).strftime("%Y-%m-%d")
    same_day = session.scalar(
        sa.select(sa.func.count(IntakeConsentText.id)).where(
            IntakeConsentText.version.like(f"{day}.%")
        )
    )
    row = IntakeConsentText(
        version=f"{day}.{int(same_day or 0) + 1}",
        created_by_id=getattr(user, "id", None),
        created_at=now,
        **{f: texts[f] for f in FIELDS},
    )
    session.add(row)
    session.flush()
    return row
