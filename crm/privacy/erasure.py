"""Art. 17 erasure by links: each domain names the rows it holds about a person, by foreign key.

An erasure is planned first (`plan_erasure`), which asks every domain through the
`erasure_planned` signal which rows belong to the person and what to do with each: delete
it, or anonymise named fields (participant rows and session dates stay for the funder's
counts). Free text in records that are *linked* to the person but stay (an activity at her
firm, a follow-up about her) is only changed where an admin confirmed it in the preview;
records that merely mention her without a link are listed for manual review and never
changed. Nothing is found by searching for her name in unrelated rows, so other people's
data cannot be damaged by a shared phone number or a common name.

`erase` applies the plan with SQL statements (no ORM cascades), writes one audit entry per
changed or deleted row (table, id, field names; never values) and an `ErasureRecord` with
ids only, and strips old values from the audit entries about her rows. On SQLite it runs
with `secure_delete` on, merges the FTS index so no segment keeps her words, and
`finish_erasure` checkpoints the WAL after the commit.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from crm.audit.labels import RECORD_LABELS
from crm.audit.models import AuditEntry
from crm.audit.service import current_actor
from crm.database import SQLITE_BUSY_TIMEOUT_MS, utcnow
from crm.privacy.models import LEGAL_BASES, ErasureRecord
from crm.privacy.signals import erasure_planned

ERASED = "[gelöscht]"
# Confirm every linked mention (CLI, retention runs decided elsewhere, tests).
ALL_MENTIONS = "all"
# Columns never searched for unlinked mentions (hashes, keys, enumerations).
_SKIP_COLUMNS = {("user_account", "password_hash")}
UNLINKED_LIMIT = 50
CHECKPOINT_WAIT_MS = 1000

CATEGORY_LABELS: dict[str, Any] = {
    "contact": _l("Contact record"),
    "affiliations": _l("Affiliations"),
    "tags": _l("Tags and contact lists"),
    "activities": _l("Activities"),
    "followups": _l("Follow-ups"),
    "imports": _l("Import records"),
    "events": _l("Event invitations and fair leads"),
    "newsletter": _l("Newsletter subscriptions, consent records and deliveries"),
    "mail": _l("Sent e-mails in the outbox"),
    "participant": _l("Participant record (anonymous counts stay)"),
    "sessions": _l("Counselling sessions (dates and minutes stay)"),
    "referrals": _l("Referrals"),
    "releases": _l("Releases from confidentiality"),
    "support": _l("Support checklist"),
    "contact_log": _l("Contact log (calls, e-mails, meetings)"),
    "placements": _l("Placement notes (kind, firm and dates stay)"),
    "firm_support": _l("Onboarding contact in firms' support checklists (the checklist stays)"),
    "esf": _l("ESF Plus data"),
    "retention": _l("Retention review"),
    "inquiries": _l("Inquiries"),
    "audit": _l("Values in the audit log"),
    "mentions": _l("Confirmed mentions in linked notes"),
}
LEGAL_BASIS_LABELS: dict[str, Any] = {
    "request": _l("Request of the person (Art. 17(1)(a) GDPR)"),
    "consent_withdrawn": _l("Consent withdrawn (Art. 17(1)(b) GDPR)"),
    "objection": _l("Objection (Art. 17(1)(c) GDPR)"),
    "unlawful": _l("Unlawfully processed (Art. 17(1)(d) GDPR)"),
    "retention": _l("Retention period expired"),
}
assert set(LEGAL_BASIS_LABELS) == set(LEGAL_BASES)
# Names of the tables the preview lists mentions in (others show their table name).
TABLE_LABELS: dict[str, Any] = {
    "person": _l("Contact person"),
    "organisation": _l("Organisation"),
    "participant": _l("Participant"),
    "activity": _l("Activity"),
    "followup": _l("Follow-up"),
    "audit_entry": _l("Audit log"),
    "counselling_session": _l("Counselling session"),
    "participant_contact": _l("Logged contact"),
    "referral": _l("Referral"),
    "event": _l("Event"),
    "event_minutes": _l("Minutes of an event"),
    "lead": _l("Fair lead"),
    "newsletter_campaign": _l("Newsletter campaign"),
    "import_job": _l("Import"),
    "inquiry": _l("Inquiry"),
    "event_registration": _l("Event registration"),
    "firm_support": _l("Firm support checklist"),
}


# Tables the unlinked-mention scan reads that neither list above names (technical ones too:
# an address or a name can stand in a log line or a file name).
_MORE_TABLE_LABELS: dict[str, Any] = {
    "newsletter_signup": _l("Unconfirmed newsletter sign-up"),
    "newsletter_template": _l("Newsletter template"),
    "newsletter_audience": _l("Audience"),
    "event_series": _l("Event series"),
    "staff_slot": _l("Staff on duty"),
    "checklist_item": _l("Preparation item of an event"),
    "survey": _l("Survey"),
    "survey_round": _l("Survey round"),
    "survey_version": _l("Survey version"),
    "tag": _l("Tag"),
    "support_item_type": _l("Support checklist item type"),
    "consent_text": _l("Consent text"),
    "background_job": _l("Background job"),
    "job_run": _l("Run of a scheduled job"),
    "calendar_token": _l("Calendar subscription"),
    "login_attempt": _l("Login attempt"),
    "login_session": _l("Login session"),
    "intake_attempt": _l("Attempt on the inquiry form"),
    "registration_attempt": _l("Attempt on a registration form"),
    "survey_attempt": _l("Attempt on a survey form"),
    "newsletter_signup_attempt": _l("Attempt on a newsletter sign-up form"),
    "esf_followup_attempt": _l("Attempt on the ESF Plus short survey"),
}


def table_label(table: str) -> str:
    """The German name of a table for the lists of mentions (the audit log's names next)."""
    label = TABLE_LABELS.get(table) or _MORE_TABLE_LABELS.get(table) or RECORD_LABELS.get(table)
    return str(label or table)


@dataclass(frozen=True)
class Subject:
    """The person to erase and the strings that identify her in free text."""

    kind: str  # "person", "participant" or "inquiry" (crm.intake.privacy)
    id: int
    # Everything that names her in a linked text (names, addresses, numbers).
    needles: tuple[str, ...]
    # The distinctive part of it, for listing unlinked mentions (no first name alone).
    search_needles: tuple[str, ...]
    emails: tuple[str, ...]


@dataclass
class RowAction:
    """Delete rows, or set fields of rows, chosen by `key` IN ids."""

    table: sa.Table
    ids: list[int]
    op: str  # "delete" or "anonymise"
    category: str
    values: dict[str, Any] = field(default_factory=dict)
    key: str = "id"
    # The row is the person's own: audit entries about it lose their recorded values.
    owned: bool = True
    # Lower runs first (children before the row they reference).
    order: int = 50


@dataclass
class LinkedText:
    """Free-text columns of rows linked to the person that stay after the erasure."""

    table: sa.Table
    ids: list[int]
    columns: tuple[str, ...]
    label: Any


@dataclass(frozen=True)
class Mention:
    """One text field that names the person (shown in the preview)."""

    table: str
    row_id: int
    column: str
    label: Any
    excerpt: str

    @property
    def key(self) -> str:
        return f"{self.table}:{self.row_id}:{self.column}"


@dataclass
class ErasurePlan:
    """What an erasure will do; filled by the domains' receivers of `erasure_planned`."""

    subject: Subject
    directories: dict[str, Path]
    actions: list[RowAction] = field(default_factory=list)
    linked_texts: list[LinkedText] = field(default_factory=list)
    files: list[tuple[Path, str]] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    unlinked: list[Mention] = field(default_factory=list)
    # Audit entries about her own rows (their values and her name go).
    audit_ids: list[int] = field(default_factory=list)

    def delete(self, table: Any, ids: Iterable[int], category: str, **kw: Any) -> None:
        """Delete these rows."""
        self._add(table, ids, "delete", category, {}, **kw)

    def anonymise(
        self, table: Any, ids: Iterable[int], values: dict[str, Any], category: str, **kw: Any
    ) -> None:
        """Set these fields of these rows (the row stays)."""
        self._add(table, ids, "anonymise", category, values, **kw)

    def check_text(
        self, table: Any, ids: Iterable[int], columns: tuple[str, ...], label: Any
    ) -> None:
        """Offer mentions of the person in these linked rows' text for confirmation."""
        ids = sorted(set(ids))
        if ids:
            self.linked_texts.append(LinkedText(_table(table), ids, columns, label))

    def remove_file(self, path: Path, category: str) -> None:
        """Remove a file that is a copy of the person's data."""
        self.files.append((path, category))

    def _add(
        self, table: Any, ids: Iterable[int], op: str, category: str, values: dict, **kw: Any
    ) -> None:
        ids = sorted(set(ids))
        if ids:
            self.actions.append(RowAction(_table(table), ids, op, category, values, **kw))

    @property
    def categories(self) -> list[str]:
        """Category keys of everything the plan erases, in the order of CATEGORY_LABELS."""
        used = {a.category for a in self.actions} | {c for _p, c in self.files}
        return [c for c in CATEGORY_LABELS if c in used]

    def summary(self) -> list[tuple[str, str, int]]:
        """(category, op, number of rows) for the preview."""
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for a in self.actions:
            counts[(a.category, a.op)] += len(a.ids)
        for _path, category in self.files:
            counts[(category, "delete")] += 1
        order = list(CATEGORY_LABELS)
        return sorted(
            ((c, op, n) for (c, op), n in counts.items()),
            key=lambda x: (order.index(x[0]) if x[0] in order else 99, x[1]),
        )

    def touched(self) -> set[tuple[str, int]]:
        """(table, id) of every row the plan deletes or changes (id-keyed actions only)."""
        rows = {(a.table.name, i) for a in self.actions if a.key == "id" for i in a.ids}
        rows |= {(lt.table.name, i) for lt in self.linked_texts for i in lt.ids}
        rows |= {("audit_entry", i) for i in self.audit_ids}
        return rows


def _table(table: Any) -> sa.Table:
    return table if isinstance(table, sa.Table) else table.__table__


def lock_for_erasure(session: Session, model: Any, record_id: int) -> bool:
    """Lock the record's row for this transaction; False when it is already gone.

    Two admins (or an admin and the nightly retention rule) erasing the same record: the
    second waits here, then finds nothing left to erase.
    """
    session.flush()
    stmt = sa.select(model.id).where(model.id == record_id).with_for_update()
    return session.execute(stmt).first() is not None


def search_needles_of(values: Iterable[str | None], min_len: int = 3) -> tuple[str, ...]:
    """The distinct values (names, addresses) of at least `min_len` characters to look for in
    free text, longest first; each domain's erasure subject is built with it."""
    seen: list[str] = []
    for v in values:
        v = (v or "").strip()
        if len(v) >= min_len and v.lower() not in (s.lower() for s in seen):
            seen.append(v)
    # Longest first, so "Anna Berg" is replaced as a whole before "Berg".
    return tuple(sorted(seen, key=len, reverse=True))


def person_subject(person: Any) -> Subject:
    """The erasure subject for a contact person."""
    first, last = person.first_name or "", person.last_name or ""
    names = [person.full_name, f"{first} {last}", f"{last}, {first}", last]
    addresses = [person.email, person.email_alt, person.phone, person.mobile]
    return Subject(
        "person",
        person.id,
        search_needles_of([*names, first, *addresses]),
        search_needles_of([*names, *addresses], min_len=4),
        tuple(e.strip() for e in (person.email, person.email_alt) if e and e.strip()),
    )


def participant_subject(participant: Any) -> Subject:
    """The erasure subject for a participant."""
    first, last = participant.first_name or "", participant.last_name or ""
    names = [participant.full_name, f"{last}, {first}", last]
    addresses = [participant.email, participant.phone]
    return Subject(
        "participant",
        participant.id,
        search_needles_of([*names, first, *addresses]),
        search_needles_of([*names, *addresses], min_len=4),
        tuple(e.strip() for e in (participant.email,) if e and e.strip()),
    )


def scrub(text: str, needles: Iterable[str]) -> str:
    """`text` with every needle (any case) replaced by ERASED."""
    needles = [n for n in needles if n]
    if not text or not needles:
        return text
    pattern = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)
    return pattern.sub(ERASED, text)


def _mentions_in(text: str | None, needles: Iterable[str]) -> bool:
    low = (text or "").lower()
    return any(n.lower() in low for n in needles)


def _excerpt(text: str, needles: Iterable[str], width: int = 60) -> str:
    low = text.lower()
    pos = min((low.find(n.lower()) for n in needles if n.lower() in low), default=0)
    start = max(pos - width, 0)
    return (
        ("…" if start else "")
        + text[start : pos + width * 2]
        + ("…" if pos + width * 2 < len(text) else "")
    )


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _linked_mentions(session: Session, plan: ErasurePlan) -> list[Mention]:
    found = []
    needles = plan.subject.needles
    for lt in plan.linked_texts:
        cols = [lt.table.c[c] for c in lt.columns]
        for chunk in _chunks(lt.ids):
            rows = session.execute(
                sa.select(lt.table.c.id, *cols).where(lt.table.c.id.in_(chunk))
            ).all()
            for row in rows:
                for name in lt.columns:
                    text = getattr(row, name)
                    if _mentions_in(text, needles):
                        found.append(
                            Mention(lt.table.name, row.id, name, lt.label, _excerpt(text, needles))
                        )
    return sorted(found, key=lambda m: (m.table, m.row_id, m.column))


# Derived or technical text columns: never where a note mentions somebody.
_NOT_PROSE = (
    "search_text",
    "name_key",
    "sort_name",
    "uuid",
    "pseudonym",
    "message_id",
    "claimed_by",
)


def _prose_columns() -> dict[str, list[str]]:
    """{table: [columns]} that can hold a name in prose: long strings and texts, with an id."""
    from crm.extensions import db

    found: dict[str, list[str]] = {}
    for table in db.metadata.sorted_tables:
        if [c.name for c in table.primary_key.columns] != ["id"]:
            continue
        cols = [
            col.name
            for col in table.columns
            if isinstance(col.type, sa.String)
            and (col.type.length is None or col.type.length >= 60)
            and col.name not in _NOT_PROSE
            and (table.name, col.name) not in _SKIP_COLUMNS
        ]
        if cols:
            found[table.name] = cols
    return found


def _unlinked_mentions(session: Session, plan: ErasurePlan) -> list[Mention]:
    """Rows outside the plan whose text names the person (listed, never changed).

    One scan per table (all its prose columns at once), stopping at UNLINKED_LIMIT rows.
    """
    # A needle containing another one ("Anna Berg" and "Berg") finds nothing more.
    lowered = [n.lower() for n in plan.subject.search_needles]
    needles = [n for n in lowered if not any(o != n and o in n for o in lowered)]
    if not needles:
        return []
    touched = plan.touched()
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    found: list[Mention] = []
    for table, columns in _prose_columns().items():
        if len(found) >= UNLINKED_LIMIT:
            break
        t = sa.table(table, sa.column("id"), *(sa.column(c, sa.Text) for c in columns))
        # All prose columns of a row as one text: one comparison per needle and row.
        whole: sa.ColumnElement[Any] = sa.func.coalesce(t.c[columns[0]], "", type_=sa.Text)
        for c in columns[1:]:
            whole = whole + " " + sa.func.coalesce(t.c[c], "", type_=sa.Text)
        if sqlite:
            # SQLite's LIKE ignores (ASCII) case by itself; lower() on every row costs more.
            patterns = ["%" + re.sub(r"([/%_])", r"/\\1", n) + "%" for n in needles]
            cond = sa.or_(*(whole.like(p, escape="/") for p in patterns))
        else:
            # ILIKE folds case per character; lower() once and LIKE ANY is several times faster.
            patterns = ["%" + re.sub(r"([\\%_])", r"\\\1", n) + "%" for n in needles]
            array = sa.bindparam(None, patterns, type_=postgresql.ARRAY(sa.Text))
            cond = sa.func.lower(whole).like(sa.any_(array))
        rows = conn.execute(
            sa.select(t.c.id, *(t.c[c] for c in columns))
            .where(cond)
            .order_by(t.c.id)
            .limit(UNLINKED_LIMIT)
        ).all()
        for row in rows:
            if (table, row.id) in touched:
                continue
            for c in columns:
                text = getattr(row, c) or ""
                if _mentions_in(text, needles):
                    found.append(
                        Mention(table, row.id, c, table_label(table), _excerpt(text, needles))
                    )
    return found[:UNLINKED_LIMIT]


def plan_erasure(
    session: Session,
    subject: Subject,
    *,
    directories: dict[str, Path] | None = None,
    with_unlinked: bool = False,
) -> ErasurePlan:
    """Ask every domain what it holds about `subject`; find linked (and unlinked) mentions."""
    session.flush()
    plan = ErasurePlan(subject, dict(directories or {}))
    erasure_planned.send(session, plan=plan)
    plan.audit_ids = _audit_entries_about(session, plan)
    plan.mentions = _linked_mentions(session, plan)
    if with_unlinked:
        plan.unlinked = _unlinked_mentions(session, plan)
    return plan


def _audit_row(
    actor: Any, action: str, table: str, row_id: Any, fields: list[str], rec: int
) -> dict:
    return {
        "at": utcnow(),
        "actor_id": actor.user_id,
        "actor_label": actor.label[:200],
        "action": action,
        "entity_type": table,
        "entity_id": row_id if isinstance(row_id, int) else None,
        "changes": {"fields": fields},
        "summary": f"Art. 17, Löschprotokoll #{rec}",
        "ip": actor.ip[:64],
    }


def _audit_entries_about(session: Session, plan: ErasurePlan) -> list[int]:
    """Ids of the audit entries about the person's own rows."""
    owned: dict[str, set[int]] = defaultdict(set)
    for a in plan.actions:
        if a.owned and a.key == "id":
            owned[a.table.name].update(a.ids)
    found: list[int] = []
    for table, ids in sorted(owned.items()):
        for chunk in _chunks(sorted(ids)):
            found += session.scalars(
                sa.select(AuditEntry.id).where(
                    AuditEntry.entity_type == table, AuditEntry.entity_id.in_(chunk)
                )
            )
    return sorted(found)


def _strip_audit_values(session: Session, plan: ErasurePlan) -> list[int]:
    """Audit entries about the person's own rows keep field names, lose values and her name."""
    changed = []
    for chunk in _chunks(plan.audit_ids):
        entries = session.execute(
            sa.select(AuditEntry.id, AuditEntry.changes, AuditEntry.summary).where(
                AuditEntry.id.in_(chunk)
            )
        ).all()
        for entry_id, changes, summary in entries:
            new_changes = (
                {"fields": list(changes.get("fields") or [])}
                if isinstance(changes, dict)
                else changes
            )
            new_summary = scrub(summary or "", plan.subject.needles)
            if new_changes == changes and new_summary == summary:
                continue
            session.execute(
                sa.update(AuditEntry)
                .where(AuditEntry.id == entry_id)
                .values(changes=new_changes, summary=new_summary)
            )
            changed.append(entry_id)
    return changed


def _secure_delete(session: Session, on: int | None) -> int | None:
    """SQLite: set secure_delete (zero deleted content); returns the value it had before."""
    conn = session.connection()
    if conn.dialect.name != "sqlite" or on is None:
        return None
    before = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
    conn.exec_driver_sql(f"PRAGMA secure_delete={int(on)}")
    return before


def _optimize_search_index(session: Session, tables: set[str]) -> None:
    """SQLite: merge the FTS segments so deleted words leave no trace in old segments."""
    from crm.contacts.search import SEARCHABLE, fts_table

    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return  # the tsvector is a column of the deleted/updated row itself
    for table in SEARCHABLE:
        if table in tables:
            fts = fts_table(table)
            # Table names from our own constant, not from input.
            conn.exec_driver_sql(f"INSERT INTO {fts}({fts}) VALUES ('optimize')")  # noqa: S608


def erase(
    session: Session,
    subject: Subject,
    *,
    legal_basis: str = "request",
    requested_by_id: int | None = None,
    confirmed: Collection[str] | str = (),
    directories: dict[str, Path] | None = None,
) -> ErasureRecord:
    """Erase the subject as planned; change only the confirmed linked mentions (keys)."""
    if legal_basis not in LEGAL_BASES:
        raise ValueError(legal_basis)
    plan = plan_erasure(session, subject, directories=directories)
    secure_delete_before = _secure_delete(session, 1)
    record = ErasureRecord(
        subject_type=subject.kind,
        subject_id=subject.id,
        requested_by_id=requested_by_id,
        requested_at=utcnow(),
        legal_basis=legal_basis,
        categories=[],
        row_ids={},
        mention_keys=[],
    )
    session.add(record)
    session.flush()
    actor = current_actor()
    audit: list[dict] = []
    row_ids: dict[str, set[int]] = defaultdict(set)
    categories = set(plan.categories)

    # 1. Confirmed mentions in linked records that stay: only her name/addresses go.
    chosen = [m for m in plan.mentions if confirmed == ALL_MENTIONS or m.key in confirmed]
    by_table: dict[str, sa.Table] = {lt.table.name: lt.table for lt in plan.linked_texts}
    for m in chosen:
        t = by_table[m.table]
        text = session.scalar(sa.select(t.c[m.column]).where(t.c.id == m.row_id))
        new = scrub(text or "", subject.needles)
        # "[gelöscht]" may be longer than a short name it replaces.
        limit = getattr(t.c[m.column].type, "length", None)
        session.execute(
            sa.update(t).where(t.c.id == m.row_id).values({m.column: new[:limit] if limit else new})
        )
        audit.append(_audit_row(actor, "erase_mention", m.table, m.row_id, [m.column], record.id))
        row_ids[m.table].add(m.row_id)
    if chosen:
        categories.add("mentions")

    # 2. The audit log's values about her own rows.
    stripped = _strip_audit_values(session, plan)
    for entry_id in stripped:
        audit.append(
            _audit_row(actor, "erase_anonymise", "audit_entry", entry_id, ["changes"], record.id)
        )
        row_ids["audit_entry"].add(entry_id)
    if stripped:
        categories.add("audit")

    # 3. The rows themselves, children first.
    for action in sorted(plan.actions, key=lambda a: a.order):
        key = action.table.c[action.key]
        for chunk in _chunks(action.ids):
            if action.op == "delete":
                session.execute(sa.delete(action.table).where(key.in_(chunk)))
            else:
                session.execute(sa.update(action.table).where(key.in_(chunk)).values(action.values))
        verb = "erase_delete" if action.op == "delete" else "erase_anonymise"
        fields = [] if action.op == "delete" else sorted(action.values)
        for row_id in action.ids:
            audit.append(_audit_row(actor, verb, action.table.name, row_id, fields, record.id))
        row_ids[action.table.name].update(action.ids)

    # 4. Copies in files (outbox messages, uploaded import files).
    removed = 0
    for path, _category in plan.files:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1

    _optimize_search_index(session, set(row_ids))
    # The deleted cells were zeroed as they went; the connection goes back to its setting.
    _secure_delete(session, secure_delete_before)
    record.categories = [c for c in CATEGORY_LABELS if c in categories]
    record.row_ids = {t: sorted(ids) for t, ids in sorted(row_ids.items())}
    record.files_removed = removed
    record.mentions_changed = len(chosen)
    record.mention_keys = [m.key for m in chosen]
    if audit:
        session.execute(sa.insert(AuditEntry), audit)
    session.flush()
    # The statements above bypassed the ORM: forget what it holds about those rows.
    deleted = {
        (a.table.name, i) for a in plan.actions if a.op == "delete" and a.key == "id" for i in a.ids
    }
    for obj in list(session.identity_map.values()):
        table, identity = getattr(obj, "__table__", None), sa.inspect(obj).identity
        if table is not None and identity and (table.name, identity[0]) in deleted:
            session.expunge(obj)
    session.expire_all()
    return record


def finish_erasure(engine: sa.Engine) -> bool:
    """After the commit on SQLite: write the WAL back and truncate it; False if readers blocked it.

    Waits at most CHECKPOINT_WAIT_MS for open read transactions (never a request's whole busy
    timeout); a checkpoint that could not finish leaves old pages in the WAL until SQLite's
    own next checkpoint overwrites them.
    """
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        # Outside any transaction (the driver runs in autocommit mode, see crm.database).
        cursor.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
        busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()
    finally:
        raw.close()
    return not busy
