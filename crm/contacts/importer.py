"""Contact import: store the upload, map columns, dry run, run all-or-nothing, undo.

How a run works, and why:

* **A job for a worker.** The web request stores the upload (`crm.jobs.files`, the database
  by default) and enqueues a dry run or a run (`crm.contacts.import_jobs`); a worker process
  runs it and commits its progress to the job row, which every web node reads.
* **Short transactions, all or nothing.** `execute_job` writes each batch of `BATCH_ROWS`
  rows in a transaction of its own and commits it, so on SQLite the write lock is held for
  one batch at a time, never for the whole file. What a batch wrote is listed in
  `ImportItem` rows committed with it; on any failure those records are removed again
  (`discard_partial`), and a run retried after its worker died starts by removing what the
  dead attempt committed. A failure leaves the contacts as they were.
* **No query per row, and none that grows with the database.** Before a batch of
  `BATCH_ROWS` rows is matched, the duplicate keys it contains (person e-mails, person name
  at an organisation, organisation name + postcode) are looked up with a few chunked
  ``IN (…)`` queries on indexed columns, each key once per run, into dicts (a file with more
  than a quarter as many rows as the database has people reads all keys at once instead:
  that is cheaper then). Rows are then matched in Python, and new records are inserted with
  executemany (SQLite) or COPY (PostgreSQL) per batch. `name_key` and `search_text` are
  computed by the same functions the forms use (`normalize.*_key`, `service.*_search_text`).
* **One audit entry per run.** Bulk inserts bypass the ORM audit hook on purpose; the run
  writes one "import" entry with the counts, the undo one "import_undo" entry, and the
  `ImportItem` rows say exactly which records a run created or filled in.
* **No write lock while parsing.** On SQLite a writing transaction holds the database's one
  write lock, so the file is never parsed inside one: the upload and the dry run read it in a
  read transaction (`reading`), and a run first reads the whole file into a temporary spool of
  checked records, then matches and writes them batch by batch. The file's `Limits`
  (rows, columns, cell length, unpacked XLSX size) are checked while it is read.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import pickle
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import IO, Any, TypeVar

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session, object_session, selectinload

from crm.audit.service import record
from crm.contacts import search
from crm.contacts.countries import (
    DEFAULT_COUNTRY,
    country_name,
    is_valid_postcode,
    parse_country,
    phone_e164,
)
from crm.contacts.import_models import ImportItem, ImportJob
from crm.contacts.kinds import kind_lookup
from crm.contacts.models import (
    ORG_KINDS,
    Activity,
    Affiliation,
    Organisation,
    OrganisationKind,
    Person,
    Tag,
    new_token_nonce,
    organisation_tag,
    person_tag,
)
from crm.contacts.normalize import (
    fold,
    normalize_email,
    organisation_key,
    person_key,
)
from crm.contacts.service import organisation_search_text, parse_tags, person_search_text
from crm.contacts.tabular import (
    FIELD_KEYS,
    ImportFileError,
    Limits,
    Record,
    Table,
    read_table,
    suggest_mapping,
)
from crm.database import reset_write_intent, rows_affected, set_write_intent, utcnow
from crm.inputs import mailable
from crm.jobs.files import file_store

log = logging.getLogger(__name__)

__all__ = [
    "BATCH_ROWS",
    "ImportRefused",
    "ImportReport",
    "claim_job",
    "create_job",
    "current_limits",
    "execute_job",
    "open_table",
    "purge_old_files",
    "reading",
    "rejected_rows",
    "run_import",
    "undo_import",
]

BATCH_ROWS = 1000
# Keys per `IN (…)` list of the duplicate lookups. The e-mail lookup sends its list twice
# (email, email_alt): 800 variables stay below 999, the limit of SQLite builds before 3.32.
LOOKUP_CHUNK = 400
# A file looks up its own keys when the database holds more than this many people per row of
# the file. A larger file reads all keys in one pass, as the run did before: looking up a key
# costs several times what reading one record along with all the others does.
LOOKUP_PEOPLE_PER_ROW = 4
PROGRESS_EVERY = 500
DEFAULT_KEEP_DAYS = 30
REPORT_ROWS_PER_OUTCOME = 1000
# A "running" job whose progress file has not moved for this long died with its process.

OUTCOMES = ("create", "update", "skip", "reject")
# Report reasons that say a row is a duplicate of an existing record.
_DUPLICATE_CODES = ("dup_email", "dup_phone", "dup_name", "dup_org", "dup_org_phone")

PERSON_FILL = ("salutation", "title", "first_name", "email", "phone", "mobile", "notes")
ORG_FILL = ("street", "postcode", "city", "phone", "email", "website", "region", "notes")

_SALUTATIONS = {
    "frau": "frau",
    "fr": "frau",
    "mrs": "frau",
    "ms": "frau",
    "miss": "frau",
    "herr": "herr",
    "hr": "herr",
    "mr": "herr",
    "divers": "divers",
    "diverse": "divers",
    "d": "divers",
    "mx": "divers",
}
_KINDS = {
    "arbeitgeber": "employer",
    "unternehmen": "employer",
    "firma": "employer",
    "verband": "association",
    "jobcenter": "jobcentre",
    "agentur fuer arbeit": "employment_agency",
    "arbeitsagentur": "employment_agency",
    "anerkennungsberatung": "recognition",
    "bildungstraeger": "education",
    "sprachkurstraeger": "education",
    "kammer": "chamber",
    "behoerde": "authority",
    "messeveranstalter": "fair_organiser",
    "partner": "partner",
    "sonstige": "other",
    "sonstiges": "other",
    **{kind: kind for kind in ORG_KINDS},
}
_LANGUAGES = {
    "deutsch": "de",
    "german": "de",
    "englisch": "en",
    "english": "en",
    "polnisch": "pl",
    "polish": "pl",
    "tuerkisch": "tr",
    "turkish": "tr",
    "arabisch": "ar",
    "arabic": "ar",
    "russisch": "ru",
    "russian": "ru",
    "ukrainisch": "uk",
    "ukrainian": "uk",
    "franzoesisch": "fr",
    "french": "fr",
    "spanisch": "es",
    "spanish": "es",
    "rumaenisch": "ro",
    "romanian": "ro",
    "italienisch": "it",
    "italian": "it",
    "persisch": "fa",
    "farsi": "fa",
}
# Salutations, kinds and languages repeat on every row: fold each spelling once.
_fold_word = functools.lru_cache(maxsize=4096)(fold)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LANGUAGE_CODE = re.compile(r"[a-z]{2}")


class ImportRunError(Exception):
    """An unexpected error during a run, with the last line read before it happened."""

    def __init__(self, line: int) -> None:
        super().__init__(f"import failed at or before line {line}")
        self.line = line


class ImportRefused(Exception):
    """An import action that cannot be done now; `message` is shown to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- limits and transactions -----------------------------------------------------------------


def limits_from_config(config: Any) -> Limits:
    """The file limits from the app's `CRM_IMPORT_MAX_*` settings."""
    default = Limits()
    unpacked_mb = config.get("CRM_IMPORT_MAX_UNPACKED_MB")
    return Limits(
        max_rows=config.get("CRM_IMPORT_MAX_ROWS", default.max_rows),
        max_columns=config.get("CRM_IMPORT_MAX_COLUMNS", default.max_columns),
        max_cell_chars=config.get("CRM_IMPORT_MAX_CELL_CHARS", default.max_cell_chars),
        max_unpacked_bytes=(
            unpacked_mb * 1024 * 1024 if unpacked_mb is not None else default.max_unpacked_bytes
        ),
        max_ratio=config.get("CRM_IMPORT_MAX_RATIO", default.max_ratio),
    )


def current_limits() -> Limits:
    """The current app's file limits (the defaults outside an app)."""
    return limits_from_config(current_app.config) if has_app_context() else Limits()


@contextlib.contextmanager
def reading(session: Session) -> Iterator[None]:
    """Run the block in a read transaction, which on SQLite takes no write lock.

    Commits what the caller has pending first, and ends the read transaction afterwards: a
    write needs a transaction of its own (on SQLite a deferred one cannot safely upgrade).
    """
    session.commit()
    token = set_write_intent(False)
    try:
        yield
    finally:
        session.rollback()
        reset_write_intent(token)


# --- files ------------------------------------------------------------------------------------


def _stored_bytes(job: ImportJob) -> bytes:
    session = object_session(job)
    raw = file_store().get(session, job.uuid) if session is not None else None
    if raw is None:
        raise ImportRefused(_("The uploaded file is no longer available. Please upload it again."))
    return raw


def create_job(
    session: Session,
    *,
    data: bytes | IO[bytes],
    filename: str,
    user_id: int | None,
    max_bytes: int,
    limits: Limits | None = None,
) -> ImportJob:
    """Check an uploaded file, store it (`crm.jobs.files`) and add an import job for it.

    The caller's transaction is committed before the file is read (see `reading`); the job
    is added in a new one, not committed. Raises `ImportFileError` with a German message for
    a file that cannot be imported.
    """
    limits = limits or current_limits()
    with reading(session):
        raw = data if isinstance(data, bytes) else data.read(max_bytes + 1)
        table = read_table(raw, filename, max_bytes=max_bytes, limits=limits)
        try:
            rows = table.row_count
        finally:
            table.close()
    if rows == 0:
        raise ImportFileError("no_rows", _("The file has a header row but no data rows."))
    job = ImportJob(
        uuid=uuid.uuid4().hex,
        filename=(filename or "upload")[-255:],
        size_bytes=len(raw),
        file_kind=table.kind,
        encoding=table.encoding or "",
        delimiter=table.delimiter or "",
        sheet=table.sheet or "",
        row_count=rows,
        mapping=suggest_mapping(table.headers),
        duplicate_policy="skip",
        status="uploaded",
        created_by_id=user_id,
    )
    session.add(job)
    file_store().put(session, job.uuid, raw, name=job.filename)
    session.flush()
    return job


def open_table(job: ImportJob, sheet: str | None = None, *, limits: Limits | None = None) -> Table:
    """Read the job's stored file (the given sheet, else the job's sheet)."""
    raw = _stored_bytes(job)
    return read_table(
        raw, job.filename, sheet=(sheet or job.sheet or None), limits=limits or current_limits()
    )


def configure_job(
    session: Session,
    job: ImportJob,
    table: Table,
    *,
    mapping: dict[str, str | None],
    policy: str,
) -> None:
    """Store the chosen sheet, column mapping and duplicate policy of a job."""
    if job.status not in ("uploaded", "failed"):
        raise ImportRefused(_("This import has already run."))
    if table.sheet and table.sheet != job.sheet:
        job.sheet = table.sheet
        job.row_count = table.row_count
    job.mapping = {h: (mapping.get(h) or None) for h in table.headers}
    job.duplicate_policy = policy
    session.flush()


def purge_old_files(session: Session, *, keep_days: int) -> int:
    """Delete stored uploads older than `keep_days` days; return how many (not committed)."""
    cutoff = utcnow() - timedelta(days=keep_days)
    removed = 0
    for job in session.scalars(
        sa.select(ImportJob).where(
            ImportJob.created_at < cutoff,
            ImportJob.file_removed_at.is_(None),
            ImportJob.status != "running",
        )
    ):
        file_store().delete(session, job.uuid)
        job.file_removed_at = utcnow()
        removed += 1
    session.flush()
    return removed


# --- row validation -----------------------------------------------------------------------------


def _limits() -> dict[str, int]:
    """Maximum length of each field, from the columns it is written to."""
    columns = {
        "org_name": Organisation.name,
        "salutation": Person.salutation,
        "title": Person.title,
        "first_name": Person.first_name,
        "last_name": Person.last_name,
        "email": Person.email,
        "phone": Person.phone,
        "mobile": Person.mobile,
        "street": Organisation.street,
        "postcode": Organisation.postcode,
        "city": Organisation.city,
        "function": Affiliation.function,
        "website": Organisation.website,
        "region": Organisation.region,
    }
    return {key: col.type.length for key, col in columns.items()}


_LIMITS = _limits()


@dataclass
class _Row:
    """A validated row: what it says about the organisation and the person."""

    line: int
    org: dict[str, Any] | None
    person: dict[str, Any] | None
    function: str
    tags: list[str]
    # The person's name key (`normalize.person_key`), set when the record is checked.
    person_key: str = ""
    # A kind of organisation the file names but the CRM does not know (created as "other").
    unknown_kind: str = ""


def _field_labels() -> dict[str, str]:
    return {
        "org_name": _("Organisation name"),
        "salutation": _("Salutation"),
        "title": _("Title"),
        "first_name": _("First name"),
        "last_name": _("Last name"),
        "email": _("E-mail address"),
        "phone": _("Phone"),
        "mobile": _("Mobile"),
        "street": _("Street"),
        "postcode": _("Postcode"),
        "city": _("City"),
        "country": _("Country"),
        "function": _("Function"),
        "website": _("Website"),
        "org_kind": _("Kind of organisation"),
        "region": _("Region"),
        "tags": _("Tags"),
        "notes": _("Notes"),
        "language": _("Preferred language"),
    }


def field_labels() -> dict[str, str]:
    """Translated labels of the import fields, in the order of `FIELD_KEYS`."""
    labels = _field_labels()
    return {key: labels[key] for key in FIELD_KEYS}


# A column mapped to this is kept in the record's notes as "Header: value" lines.
KEEP_IN_NOTES = "keep_in_notes"


def _columns(mapping: dict[str, str | None]) -> list[tuple[str, str]]:
    return [(key, header) for header, key in mapping.items() if key in FIELD_KEYS]


def _notes_columns(mapping: dict[str, str | None]) -> list[str]:
    return [header for header, key in mapping.items() if key == KEEP_IN_NOTES]


def unmapped_columns(mapping: dict[str, str | None]) -> list[str]:
    """The columns of the file that are neither imported nor kept in the notes."""
    return [header for header, key in mapping.items() if not key]


def validate(
    record: Record,
    columns: list[tuple[str, str]],
    kinds: dict[str, str] | None = None,
    notes_columns: Sequence[str] = (),
) -> tuple[_Row | None, list]:
    """Parse one record with the mapping; return the row or the reasons to reject it.

    `kinds` maps folded kind names to the keys that exist (default: the built-in spellings).
    The values of `notes_columns` are added to the notes as "Header: value" lines.
    """
    if record.problem:
        return None, [("broken", {"text": record.problem})]
    v = {key: (record.values.get(header) or "").strip() for key, header in columns}
    kept = [
        f"{header}: {value}"
        for header in notes_columns
        if (value := (record.values.get(header) or "").strip())
    ]
    if kept:
        v["notes"] = "\n".join([v["notes"], *kept] if v.get("notes") else kept)
    # PostgreSQL cannot store a NUL character; the row is refused, not the whole run.
    nul = [key for key, value in v.items() if "\x00" in value]
    if nul:
        return None, [("nul", {"field": nul[0]})]
    reasons: list[tuple[str, dict[str, Any]]] = []
    org_name, last = v.get("org_name", ""), v.get("last_name", "")
    if not last:
        if any(v.get(k) for k in ("first_name", "salutation", "title", "mobile")) and org_name:
            reasons.append(("no_last_name", {}))
        elif not org_name:
            reasons.append(("no_name", {}))
    email = normalize_email(v.get("email")) or ""
    if email and not _EMAIL.fullmatch(email):
        reasons.append(("invalid_email", {"value": v["email"]}))
    elif email and not mailable(email):
        reasons.append(("unmailable_email", {"value": v["email"]}))
    country = DEFAULT_COUNTRY
    if v.get("country"):
        country = parse_country(v["country"]) or ""
        if not country:
            reasons.append(("invalid_country", {"value": v["country"]}))
    postcode = v.get("postcode", "")
    if postcode and country:
        # Excel drops the leading zero of 06108 when a CSV passes through it.
        german = country == DEFAULT_COUNTRY
        candidate = (
            postcode.zfill(5) if german and postcode.isascii() and len(postcode) == 4 else postcode
        )
        if is_valid_postcode(candidate, country):
            postcode = candidate
        elif german:
            reasons.append(("invalid_postcode", {"value": postcode}))
        else:
            reasons.append(("invalid_postcode_country", {"value": postcode, "country": country}))
    for key, limit in _LIMITS.items():
        if len(v.get(key, "")) > limit:
            reasons.append(("too_long", {"field": key, "max": limit}))
    if reasons:
        return None, reasons
    has_person = bool(last)
    org = None
    if org_name:
        org = {
            "name": org_name,
            "kind": (kinds or _KINDS).get(
                _fold_word(v.get("org_kind", "")), "other" if v.get("org_kind") else "employer"
            ),
            "street": v.get("street", ""),
            "postcode": postcode,
            "city": v.get("city", ""),
            "country": country,
            "region": v.get("region", ""),
            "website": v.get("website", ""),
            "phone": "" if has_person else v.get("phone", ""),
            # Numbers that cannot be read are kept as typed, only without the E.164 form.
            "phone_e164": "" if has_person else phone_e164(v.get("phone"), country) or "",
            "email": "" if has_person else email,
            "notes": "" if has_person else v.get("notes", ""),
        }
    person = None
    if has_person:
        language = _fold_word(v.get("language", ""))
        language = _LANGUAGES.get(language) or (
            language if _LANGUAGE_CODE.fullmatch(language) else "de"
        )
        person = {
            "salutation": _SALUTATIONS.get(_fold_word(v.get("salutation", "")).rstrip("."), ""),
            "title": v.get("title", ""),
            "first_name": v.get("first_name", ""),
            "last_name": last,
            "email": email,
            "phone": v.get("phone", ""),
            "mobile": v.get("mobile", ""),
            "phone_e164": phone_e164(v.get("phone"), country) or "",
            "mobile_e164": phone_e164(v.get("mobile"), country) or "",
            "country": country,
            "language": language,
            "notes": v.get("notes", ""),
        }
    row = _Row(record.line, org, person, v.get("function", ""), parse_tags(v.get("tags")))
    if org is not None and v.get("org_kind") and _fold_word(v["org_kind"]) not in (kinds or _KINDS):
        row.unknown_kind = v["org_kind"]
    return row, []


# --- the report ------------------------------------------------------------------------------


@dataclass
class RowResult:
    """What happens (or would happen) to one row, and why.

    `line` is the record's number in the file (1 = the first record after the header), not
    its line: a quoted cell may span several lines, and a spreadsheet user counts records.
    """

    line: int
    outcome: str = "skip"
    reasons: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class ImportReport:
    """Counts and per-row results of a dry run or run (rows kept per outcome are limited)."""

    dry_run: bool
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "rows",
                "create",
                "update",
                "skip",
                "reject",
                "organisations",
                "people",
                "affiliations",
                "filled",
            ),
            0,
        )
    )
    rows: list[RowResult] = field(default_factory=list)
    # Columns that are neither imported nor kept in the notes, with how many records have a
    # value there: the dry run lists them, so no data is dropped unnoticed.
    unmapped: dict[str, int] = field(default_factory=dict)

    def add(self, result: RowResult) -> None:
        """Count a finished row and keep it if its outcome's list is not full."""
        self.counts["rows"] += 1
        self.counts[result.outcome] += 1
        if self.counts[result.outcome] <= REPORT_ROWS_PER_OUTCOME:
            self.rows.append(result)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form for `ImportJob.report`."""
        return {
            "dry_run": self.dry_run,
            "counts": self.counts,
            "rows": [[r.line, r.outcome, [list(x) for x in r.reasons]] for r in self.rows],
            "unmapped": self.unmapped,
        }


def reason_text(code: str, params: dict[str, Any]) -> str:
    """The translated sentence for a reason code of the report."""
    labels = _field_labels()
    kind = {"person": _("person"), "organisation": _("organisation")}
    if code == "broken":
        return str(params["text"])
    if code == "nul":
        return _(
            "“%(field)s” contains a NUL character (a control character that cannot be stored).",
            field=labels.get(params["field"], params["field"]),
        )
    if code == "no_name":
        return _("Neither a last name nor an organisation name is given.")
    if code == "no_last_name":
        return _("The last name is missing.")
    if code == "invalid_email":
        return _("Invalid e-mail address “%(value)s”.", value=params["value"])
    if code == "unmailable_email":
        return _(
            "E-mail address “%(value)s” has special characters before the @, which our mail "
            "server cannot deliver.",
            value=params["value"],
        )
    if code == "invalid_postcode":
        return _("Invalid postcode “%(value)s” (five digits expected).", value=params["value"])
    if code == "invalid_postcode_country":
        return _(
            "Invalid postcode “%(value)s” for %(country)s.",
            value=params["value"],
            country=country_name(params.get("country"), str(get_locale() or "de")),
        )
    if code == "invalid_country":
        return _(
            "Unknown country “%(value)s” (a country code such as LV or a German or English "
            "name such as Lettland or Latvia expected).",
            value=params["value"],
        )
    if code == "too_long":
        return _(
            "“%(field)s” is longer than %(max)d characters.",
            field=labels.get(params["field"], params["field"]),
            max=params["max"],
        )
    if code == "dup_phone":
        return _(
            "Duplicate of person #%(id)d (same name and the same phone number).", id=params["id"]
        )
    if code == "dup_org_phone":
        return _(
            "Duplicate of organisation #%(id)d (same name and the same phone number).",
            id=params["id"],
        )
    if code == "dup_email":
        return _("Duplicate of person #%(id)d (same e-mail address).", id=params["id"])
    if code == "dup_name":
        return _(
            "Duplicate of person #%(id)d (same name at the same organisation).", id=params["id"]
        )
    if code == "dup_org":
        return _("Duplicate of organisation #%(id)d (same name and postcode).", id=params["id"])
    if code == "dup_line":
        return _("Duplicate of record %(line)d of this file.", line=params["line"])
    if code == "new_person":
        return _("New person.")
    if code == "new_org":
        return _("New organisation.")
    if code == "unknown_kind":
        return _(
            "Unknown kind of organisation “%(value)s”: created as “Other”. Add the kind under "
            "Administration → Kinds of organisation before importing to keep it.",
            value=params["value"],
        )
    if code == "existing_org":
        return _("Linked to organisation #%(id)d.", id=params["id"])
    if code == "line_org":
        return _("Linked to the organisation of record %(line)d.", line=params["line"])
    if code == "created_anyway":
        return _("Created although it looks like a duplicate of #%(id)d.", id=params["id"])
    if code == "fill":
        return _(
            "Fills empty fields of %(kind)s #%(id)d: %(fields)s.",
            kind=kind[params["kind"]],
            id=params["id"],
            fields=", ".join(labels.get(f, f) for f in params["fields"]),
        )
    if code == "nothing_to_fill":
        return _("Nothing to add.")
    return code


def _note_unknown_kind(row: _Row, result: RowResult) -> None:
    """Say in the report that a new organisation's kind was not recognised."""
    if row.unknown_kind:
        result.reasons.append(("unknown_kind", {"value": row.unknown_kind}))


# --- the run ------------------------------------------------------------------------------------


class _New:
    """A record this run creates; `id` is set once it is inserted (never in a dry run)."""

    __slots__ = ("id", "kind", "line", "values")

    def __init__(self, kind: str, line: int, values: dict[str, Any]) -> None:
        self.id: int | None = None
        self.kind = kind
        self.line = line
        self.values = values


Ref = int | _New


def _ref_id(ref: Ref) -> int:
    if isinstance(ref, int):
        return ref
    # A new record is referenced only once it is inserted, which sets its id.
    if ref.id is None:
        raise RuntimeError(f"new {ref.kind} of line {ref.line} referenced before its insert")
    return ref.id


def _dup_reason(ref: Ref, code: str) -> tuple[str, dict[str, Any]]:
    if isinstance(ref, _New):
        return ("dup_line", {"line": ref.line})
    return (code, {"id": ref})


class _Engine:
    """Matches rows against preloaded keys and writes new records in batches."""

    def __init__(self, session: Session, job: ImportJob, *, dry_run: bool) -> None:
        self.session = session
        self.job = job
        # After a batch's commit the job object is expired: reading its id there would reload
        # the whole row, with the dry run's report, once per batch.
        self.job_id = job.id
        self.dry_run = dry_run
        self.policy = job.duplicate_policy
        self.columns = _columns(job.mapping or {})
        self.notes_columns = _notes_columns(job.mapping or {})
        self.unmapped = unmapped_columns(job.mapping or {})
        self.records = 0
        self.report = ImportReport(dry_run=dry_run)
        self.now = utcnow()
        self.next_id: dict[str, int] = {}
        self.sequences: dict[str, str] = {}
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.org_keys: dict[str, str] = {}
        # Kind spellings → keys that exist now (admins may have added or removed kinds).
        keys = set(session.scalars(sa.select(OrganisationKind.key)))
        self.kinds = {k: v for k, v in _KINDS.items() if v in keys} | kind_lookup(session)
        self._preload()
        self._reset_batch()
        self.touched_people: set[int] = set()
        self.touched_orgs: set[int] = set()
        self.fill_cache: dict[tuple[str, int], dict[str, Any]] = {}

    def _preload(self) -> None:
        """Start with empty lookups; `_load` adds the database's records for each batch's keys.

        Every key is looked up once, before the first row that uses it is matched, and all the
        database's records with that key are loaded together in id order. So each lookup holds
        what loading the whole database at the start held for that key: the records as they
        were before this run ("first by id"), ahead of the new records of earlier rows. A file
        that is large for the database loads every key at its first batch instead.
        """
        people = self.session.scalar(sa.select(sa.func.count()).select_from(Person)) or 0
        self.lookup = self.job.row_count * LOOKUP_PEOPLE_PER_ROW < people
        self.loaded_all = False
        self.person_by_email: dict[str, Ref] = {}
        self.person_by_name_phone: dict[tuple[str, str], Ref] = {}
        self.person_by_name_org: dict[tuple[str, Ref], Ref] = {}
        # (person, organisation) pairs already linked, for every person a row may match.
        self.linked: set[tuple[Ref, Ref]] = set()
        self.org_by_key_pc: dict[tuple[str, str], Ref] = {}
        self.org_by_key: dict[str, Ref] = {}
        self.org_by_key_phone: dict[tuple[str, str], Ref] = {}
        self.org_info: dict[int, tuple[str, str]] = {}
        self.tag_ids: dict[str, Ref] = {}
        self.seen_emails: set[str] = set()
        self.seen_person_keys: set[str] = set()
        self.seen_org_keys: set[str] = set()
        self.seen_tags: set[str] = set()
        # Existing people this run linked to an organisation (committed with an earlier
        # batch): a later batch's lookup by name must not find them there, as a lookup before
        # the run would not have.
        self.added_links: set[tuple[int, int]] = set()

    def _load(self, rows: Sequence[_Row]) -> None:
        """Look up the keys of `rows` that no earlier batch looked up."""
        if not self.lookup:
            if not self.loaded_all:
                self.loaded_all = True
                self._load_all()
            return
        emails: set[str] = set()
        person_keys: set[str] = set()
        org_keys: set[str] = set()
        tags: set[str] = set()
        for row in rows:
            if row.person is not None:
                if row.person["email"]:
                    emails.add(row.person["email"])
                # Even the empty key: a name without letters matches others without, as ever.
                person_keys.add(row.person_key)
            if row.org is not None:
                key = self._org_key(row.org["name"])
                if key:
                    org_keys.add(key)
            tags.update(name[:80] for name in row.tags)
        emails -= self.seen_emails
        person_keys -= self.seen_person_keys
        org_keys -= self.seen_org_keys
        tags -= self.seen_tags
        self.seen_emails |= emails
        self.seen_person_keys |= person_keys
        self.seen_org_keys |= org_keys
        self.seen_tags |= tags
        self._load_orgs(org_keys)
        self._load_people(emails, person_keys)
        for chunk in _chunks(sorted(tags), LOOKUP_CHUNK):
            for name, tid in self.session.execute(
                sa.select(Tag.name, Tag.id).where(Tag.name.in_(chunk))
            ):
                self.tag_ids[name] = tid

    def _load_all(self) -> None:
        """Every key of the database, in one pass per table."""
        s = self.session
        for pid, email, alt, key, phone, mobile in s.execute(
            sa.select(
                Person.id,
                Person.email,
                Person.email_alt,
                Person.name_key,
                Person.phone_e164,
                Person.mobile_e164,
            )
            .where(
                sa.or_(
                    Person.email != "",
                    Person.email_alt != "",
                    Person.phone_e164 != "",
                    Person.mobile_e164 != "",
                )
            )
            .order_by(Person.id)
        ):
            for address in (email, alt):
                if address:
                    self.person_by_email.setdefault(address, pid)
            for number in (phone, mobile):
                if number:
                    self.person_by_name_phone.setdefault((key, number), pid)
        for pid, key, oid in s.execute(
            sa.select(Person.id, Person.name_key, Affiliation.organisation_id)
            .join(Affiliation, Affiliation.person_id == Person.id)
            .order_by(Person.id)
        ):
            self.person_by_name_org.setdefault((key, oid), pid)
            self.linked.add((pid, oid))
        for oid, key, postcode, name, city, phone in s.execute(
            sa.select(
                Organisation.id,
                Organisation.name_key,
                Organisation.postcode,
                Organisation.name,
                Organisation.city,
                Organisation.phone_e164,
            ).order_by(Organisation.id)
        ):
            self.org_by_key_pc.setdefault((key, postcode), oid)
            self.org_by_key.setdefault(key, oid)
            if phone:
                self.org_by_key_phone.setdefault((key, phone), oid)
            self.org_info[oid] = (name, city)
        for name, tid in s.execute(sa.select(Tag.name, Tag.id)):
            self.tag_ids[name] = tid

    def _load_orgs(self, keys: set[str]) -> None:
        for chunk in _chunks(sorted(keys), LOOKUP_CHUNK):
            for oid, key, postcode, name, city, phone in self.session.execute(
                sa.select(
                    Organisation.id,
                    Organisation.name_key,
                    Organisation.postcode,
                    Organisation.name,
                    Organisation.city,
                    Organisation.phone_e164,
                )
                .where(Organisation.name_key.in_(chunk))
                .order_by(Organisation.id)
            ):
                self.org_by_key_pc.setdefault((key, postcode), oid)
                self.org_by_key.setdefault(key, oid)
                if phone:
                    self.org_by_key_phone.setdefault((key, phone), oid)
                self.org_info[oid] = (name, city)

    def _load_people(self, emails: set[str], keys: set[str]) -> None:
        s = self.session
        by_email: set[int] = set()
        for chunk in _chunks(sorted(emails), LOOKUP_CHUNK):
            wanted = set(chunk)
            for pid, email, alt in s.execute(
                sa.select(Person.id, Person.email, Person.email_alt)
                .where(sa.or_(Person.email.in_(chunk), Person.email_alt.in_(chunk)))
                .order_by(Person.id)
            ):
                by_email.add(pid)
                for address in (email, alt):
                    # A key of another chunk (or none of this file's) gets all its records
                    # from its own lookup, not one of them from here.
                    if address in wanted:
                        self.person_by_email.setdefault(address, pid)
        for chunk in _chunks(sorted(keys), LOOKUP_CHUNK):
            for pid, key, phone, mobile in s.execute(
                sa.select(Person.id, Person.name_key, Person.phone_e164, Person.mobile_e164)
                .where(Person.name_key.in_(chunk))
                .order_by(Person.id)
            ):
                for number in (phone, mobile):
                    if number:
                        self.person_by_name_phone.setdefault((key, number), pid)
            for pid, key, oid in s.execute(
                sa.select(Person.id, Person.name_key, Affiliation.organisation_id)
                .join(Affiliation, Affiliation.person_id == Person.id)
                .where(Person.name_key.in_(chunk))
                .order_by(Person.id)
            ):
                self.linked.add((pid, oid))
                if (pid, oid) not in self.added_links:
                    self.person_by_name_org.setdefault((key, oid), pid)
        # People found by e-mail under another name: their links, for "already linked".
        for ids in _chunks(sorted(by_email), LOOKUP_CHUNK):
            for pid, oid in s.execute(
                sa.select(Affiliation.person_id, Affiliation.organisation_id).where(
                    Affiliation.person_id.in_(ids)
                )
            ):
                self.linked.add((pid, oid))

    def _reset_batch(self) -> None:
        self.pending_rows: list[tuple[_Row, RowResult]] = []
        self.new_orgs: list[_New] = []
        self.new_people: list[_New] = []
        self.new_tags: list[_New] = []
        self.new_affs: list[tuple[Ref, Ref, str]] = []
        self.tag_links: list[tuple[str, Ref, Ref]] = []
        self.pending_fills: list[tuple[str, int, dict[str, Any], RowResult]] = []
        self.pending_results: list[RowResult] = []
        self.fills: list[tuple[str, int, dict[str, Any]]] = []

    # -- matching

    def _org_key(self, name: str) -> str:
        # A file names the same firm in many rows; fold it once.
        key = self.org_keys.get(name)
        if key is None:
            key = self.org_keys[name] = organisation_key(name)
        return key

    def _find_org(self, org: dict[str, Any]) -> tuple[Ref | None, str]:
        """The organisation a row names, and why: same name and postcode, or name and phone."""
        key = self._org_key(org["name"])
        if not key:
            return None, ""
        if org["postcode"]:
            found = self.org_by_key_pc.get((key, org["postcode"]))
        else:
            found = self.org_by_key.get(key)
        if found is not None:
            return found, "dup_org"
        if org["phone_e164"]:
            # The same firm written with another postcode (a PO box, a typo) but its number.
            found = self.org_by_key_phone.get((key, org["phone_e164"]))
        return found, "dup_org_phone"

    def _new_org(self, row: _Row) -> _New:
        assert row.org is not None
        values = dict(row.org, name_key=self._org_key(row.org["name"]))
        new = _New("organisation", row.line, values)
        self.new_orgs.append(new)
        key = values["name_key"]
        if key:
            # Later rows naming the same firm join this one instead of creating another.
            self.org_by_key_pc[(key, values["postcode"])] = new
            self.org_by_key.setdefault(key, new)
            if values["phone_e164"]:
                self.org_by_key_phone.setdefault((key, values["phone_e164"]), new)
        return new

    def _tags(self, owner_kind: str, owner: _New, names: list[str]) -> None:
        if not names:
            return
        for name in {n[:80] for n in names}:
            ref = self.tag_ids.get(name)
            if ref is None:
                ref = _New("tag", owner.line, {"name": name})
                self.tag_ids[name] = ref
                self.new_tags.append(ref)
            self.tag_links.append((owner_kind, owner, ref))

    def process(self, record: Record) -> None:
        """Check one record; `flush_batch` matches the batch's rows once their keys are loaded."""
        row, problems = validate(record, self.columns, self.kinds, self.notes_columns)
        self.records += 1
        result = RowResult(self.records)
        for header in self.unmapped:
            if (record.values.get(header) or "").strip():
                self.report.unmapped[header] = self.report.unmapped.get(header, 0) + 1
        self.pending_results.append(result)
        if row is None:
            result.outcome, result.reasons = "reject", problems
            return
        # Later rows refer to this one by its record number, as the report numbers it.
        row.line = self.records
        if row.person is not None:
            row.person_key = person_key(row.person["first_name"], row.person["last_name"])
        self.pending_rows.append((row, result))

    def _match(self, row: _Row, result: RowResult) -> None:
        """Decide what to do with one row and queue its writes."""
        policy = self.policy
        found_org, org_why = self._find_org(row.org) if row.org else (None, "")
        if row.person is None:
            # An organisation-only row: the organisation is the record that may be a duplicate.
            assert row.org is not None
            if found_org is not None and policy != "create":
                result.reasons.append(_dup_reason(found_org, org_why))
                if policy == "update_empty" and isinstance(found_org, int):
                    self._queue_fill("organisation", found_org, row.org, result)
                return
            new = self._new_org(row)
            if found_org is not None:
                result.reasons.append(("created_anyway", {"id": found_org}))
            self._tags("organisation", new, row.tags)
            result.outcome = "create"
            result.reasons.insert(0, ("new_org", {}))
            _note_unknown_kind(row, result)
            return

        person = row.person
        key = row.person_key
        dup: Ref | None = None
        why = ""
        if person["email"]:
            dup, why = self.person_by_email.get(person["email"]), "dup_email"
        for number in (person["phone_e164"], person["mobile_e164"]):
            if dup is None and number and key:
                # Name and number: a shared switchboard alone does not make two people one.
                dup, why = self.person_by_name_phone.get((key, number)), "dup_phone"
        if dup is None and found_org is not None:
            dup, why = self.person_by_name_org.get((key, found_org)), "dup_name"
        if dup is not None and policy == "skip":
            result.reasons.append(_dup_reason(dup, why))
            return

        org_ref: Ref | None = found_org
        if row.org is not None:
            if found_org is None:
                org_ref = self._new_org(row)
                result.outcome = "create"
                result.reasons.append(("new_org", {}))
                _note_unknown_kind(row, result)
            elif isinstance(found_org, _New):
                result.reasons.append(("line_org", {"line": found_org.line}))
            else:
                result.reasons.append(("existing_org", {"id": found_org}))
                if policy == "update_empty":
                    self._queue_fill("organisation", found_org, row.org, result)

        if dup is not None and policy == "update_empty":
            result.reasons.insert(0, _dup_reason(dup, why))
            if isinstance(dup, int):
                self._queue_fill("person", dup, person, result)
            if org_ref is not None and (dup, org_ref) not in self.linked:
                self.linked.add((dup, org_ref))
                self.new_affs.append((dup, org_ref, row.function))
                if isinstance(dup, int):
                    self.touched_people.add(dup)
                if result.outcome != "create":
                    result.outcome = "update"
            return

        values = dict(person, name_key=key, email_alt="")
        new = _New("person", row.line, values)
        values["_org"] = org_ref
        self.new_people.append(new)
        if person["email"]:
            self.person_by_email.setdefault(person["email"], new)
        for number in (person["phone_e164"], person["mobile_e164"]):
            if number and key:
                self.person_by_name_phone.setdefault((key, number), new)
        if org_ref is not None:
            self.person_by_name_org.setdefault((key, org_ref), new)
            self.linked.add((new, org_ref))
            self.new_affs.append((new, org_ref, row.function))
        self._tags("person", new, row.tags)
        result.outcome = "create"
        result.reasons.insert(0, ("new_person", {}))
        if isinstance(dup, int):
            result.reasons.append(("created_anyway", {"id": dup}))
        elif dup is not None:
            result.reasons.append(("dup_line", {"line": dup.line}))

    def _queue_fill(self, kind: str, rid: int, data: dict[str, Any], result: RowResult) -> None:
        fields = PERSON_FILL if kind == "person" else ORG_FILL
        candidate = {f: data[f] for f in fields if data.get(f)}
        self.pending_fills.append((kind, rid, candidate, result))

    # -- writing

    def flush_batch(self) -> None:
        """Match the batch's rows, resolve fills, write the batch, and finish its rows."""
        self._load([row for row, _result in self.pending_rows])
        for row, result in self.pending_rows:
            self._match(row, result)
        self._resolve_fills()
        if not self.dry_run:
            self._write()
        for result in self.pending_results:
            if result.outcome == "skip" and any(c == "fill" for c, _p in result.reasons):
                result.outcome = "update"
            elif (
                result.outcome == "skip"
                and self.policy == "update_empty"
                and any(c in _DUPLICATE_CODES for c, _p in result.reasons)
            ):
                result.reasons.append(("nothing_to_fill", {}))
            self.report.add(result)
        # Later rows refer to this batch's new records by line and id only: the values of a
        # whole file would otherwise stay in memory until the end of the run.
        for new in (*self.new_orgs, *self.new_people, *self.new_tags):
            new.values = {}
        self._reset_batch()

    def _resolve_fills(self) -> None:
        if not self.pending_fills:
            return
        for kind, model, fields in (
            ("person", Person, PERSON_FILL),
            ("organisation", Organisation, ORG_FILL),
        ):
            missing = {rid for k, rid, _c, _r in self.pending_fills if k == kind} - {
                rid for (k, rid) in self.fill_cache if k == kind
            }
            if not missing:
                continue
            cols = [getattr(model, f) for f in fields]
            for row in self.session.execute(
                sa.select(model.id, *cols).where(model.id.in_(missing))
            ):
                self.fill_cache[(kind, row[0])] = dict(zip(fields, row[1:], strict=True))
        for kind, rid, candidate, result in self.pending_fills:
            current = self.fill_cache.get((kind, rid))
            if current is None:
                continue
            filled = {f: v for f, v in candidate.items() if not current.get(f)}
            if not filled:
                continue
            current.update(filled)
            self.fills.append((kind, rid, filled))
            self.report.counts["filled"] += 1
            result.reasons.append(("fill", {"kind": kind, "id": rid, "fields": list(filled)}))
            if kind == "person":
                self.touched_people.add(rid)
                if "email" in filled:
                    self.person_by_email.setdefault(filled["email"], rid)
            else:
                self.touched_orgs.add(rid)

    def _allocate_ids(self, table: sa.Table, n: int) -> list[int]:
        """Primary keys for `n` new rows, known before the insert so rows can refer to them.

        A plain executemany INSERT is many times faster than INSERT … RETURNING, which
        SQLite's driver runs row by row when the order of the returned ids matters.
        """
        if self.postgres:
            # The sequence is looked up once: pg_get_serial_sequence() evaluated for every
            # row made 45,000 ids take 200 ms instead of 30.
            sequence = self.sequences.get(table.name)
            if sequence is None:
                sequence = self.session.scalar(
                    sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
                )
                self.sequences[table.name] = sequence
            return list(
                self.session.scalars(
                    sa.text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"),
                    {"s": sequence, "n": n},
                )
            )
        # SQLite: every transaction starts with BEGIN IMMEDIATE (crm.database), so this run
        # holds the write lock and nobody else can take these numbers meanwhile.
        start = self.next_id.get(table.name)
        if start is None:
            # Past the highest id ever given (AUTOINCREMENT's sqlite_sequence), not only the
            # highest one present: an erased person's id must never name an imported one.
            used = sa.text("SELECT seq FROM sqlite_sequence WHERE name = :t")
            start = (
                max(
                    self.session.scalar(sa.select(sa.func.max(table.c.id))) or 0,
                    self.session.scalar(used, {"t": table.name}) or 0,
                )
                + 1
            )
        self.next_id[table.name] = start + n
        return list(range(start, start + n))

    def _insert(self, table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        ids = self._allocate_ids(table, len(rows))
        for row, new_id in zip(rows, ids, strict=True):
            row["id"] = new_id
        self._insert_many(table, rows)
        return ids

    def _driver_connection(self) -> Any:
        """The DB-API connection under the session's connection (same transaction)."""
        raw = self.session.connection().connection.driver_connection
        # SQLAlchemy types it optional for a pool entry that was closed; the session's
        # connection was just checked out, so it is there.
        if raw is None:
            raise RuntimeError("the session's connection has no driver connection")
        return raw

    def _sqlite_insert_many(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        # The driver's executemany on the session's connection (same transaction), with the
        # columns' own bind processors (timestamps, JSON): building SQLAlchemy parameters
        # row by row cost more than the inserts themselves.
        dialect = self.session.get_bind().dialect
        names = list(rows[0])
        data = list(zip(*(_bound_column(table.c[n], n, rows, dialect) for n in names), strict=True))
        columns = ", ".join(f'"{n}"' for n in names)
        marks = ", ".join("?" * len(names))
        raw = self._driver_connection()
        # Table and column names come from the model metadata, never from the file.
        sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})'  # noqa: S608
        first, last = rows[0].get("id"), rows[-1].get("id")
        if (
            table.name in search.SEARCHABLE
            and isinstance(first, int)
            and isinstance(last, int)
            and last - first + 1 == len(rows)
        ):
            # _allocate_ids hands out one contiguous range per insert.
            with search.sqlite_bulk_indexing(raw, table.name, first, last):
                raw.executemany(sql, data)
        else:
            raw.executemany(sql, data)

    def _insert_many(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if not self.postgres:
            self._sqlite_insert_many(table, rows)
            return
        # psycopg runs an executemany as one pipelined statement per row, and SQLAlchemy's
        # multi-row VALUES batches spend their time in psycopg's client-side query parsing;
        # COPY on the session's own connection (same transaction) is many times faster.
        from psycopg.types.json import Json

        names = list(rows[0])
        json_columns = {n for n in names if isinstance(table.c[n].type, sa.JSON)}
        raw = self._driver_connection()
        quoted = ", ".join(f'"{n}"' for n in names)
        with (
            raw.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy,
        ):
            for row in rows:
                copy.write_row([Json(row[n]) if n in json_columns else row[n] for n in names])

    def _write(self) -> None:
        s, now, job_id = self.session, self.now, self.job_id
        items: list[dict[str, Any]] = []
        for new, new_id in zip(
            self.new_tags,
            self._insert(Tag.__table__, [dict(n.values) for n in self.new_tags]),
            strict=True,
        ):
            new.id = new_id
            items.append(_item(job_id, "tag", new_id))
        org_rows = []
        for new in self.new_orgs:
            values = new.values
            org_rows.append(
                {
                    **values,
                    "sector": "",
                    "size_class": "",
                    "owner_id": None,
                    "last_contact_at": None,
                    "search_text": organisation_search_text(SimpleNamespace(**values, sector="")),
                    # Written here, not by the column default: COPY (PostgreSQL) bypasses it.
                    "sort_name": Organisation.sort_name_of(values["name"]),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for new, new_id in zip(
            self.new_orgs, self._insert(Organisation.__table__, org_rows), strict=True
        ):
            new.id = new_id
            self.org_info[new_id] = (new.values["name"], new.values["city"])
            items.append(_item(job_id, "organisation", new_id))
        self.report.counts["organisations"] += len(self.new_orgs)
        person_rows = []
        for new in self.new_people:
            values = dict(new.values)
            org_ref = values.pop("_org")
            orgs = []
            if org_ref is not None:
                name, city = self.org_info[_ref_id(org_ref)]
                orgs.append(SimpleNamespace(name=name, city=city))
            person_rows.append(
                {
                    **values,
                    "owner_id": None,
                    "last_contact_at": None,
                    "search_text": person_search_text(SimpleNamespace(**values), orgs),
                    "sort_name": Person.sort_name_of(values["last_name"], values.get("first_name")),
                    "token_nonce": new_token_nonce(),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for new, new_id in zip(
            self.new_people, self._insert(Person.__table__, person_rows), strict=True
        ):
            new.id = new_id
            items.append(_item(job_id, "person", new_id))
        self.report.counts["people"] += len(self.new_people)
        if self.new_affs:
            aff_rows = [
                {
                    "person_id": _ref_id(p),
                    "organisation_id": _ref_id(o),
                    "function": function,
                    "since": None,
                    "until": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for p, o, function in self.new_affs
            ]
            aff_ids = self._insert(Affiliation.__table__, aff_rows)
            # Affiliations of people created here vanish with them; others are listed for undo.
            for (p, o, _f), aff_id in zip(self.new_affs, aff_ids, strict=True):
                if isinstance(p, int):
                    items.append(_item(job_id, "affiliation", aff_id))
                    self.added_links.add((p, _ref_id(o)))
            self.report.counts["affiliations"] += len(aff_ids)
        links: dict[str, list[dict[str, Any]]] = {"person": [], "organisation": []}
        for kind, owner, tag in self.tag_links:
            links[kind].append({f"{kind}_id": _ref_id(owner), "tag_id": _ref_id(tag)})
        if links["person"]:
            self._insert_many(person_tag, links["person"])
        if links["organisation"]:
            self._insert_many(organisation_tag, links["organisation"])
        for kind, rid, filled in self.fills:
            table = (Person if kind == "person" else Organisation).__table__
            s.execute(sa.update(table).where(table.c.id == rid).values(**filled, updated_at=now))
            items.append(_item(job_id, kind, rid, action="fill", fields=filled))
        if items:
            self._insert_many(ImportItem.__table__, items)

    def commit(self) -> None:
        """Commit the batches written so far; the next transaction allocates ids afresh."""
        self.session.commit()
        # On SQLite the ids were handed out under this transaction's write lock; once it is
        # released another writer may take the next numbers.
        self.next_id.clear()

    def finish(self) -> None:
        """Recompute the search text of existing records that this run changed or linked."""
        if not self.dry_run:
            refresh_search_text(self.session, self.touched_people, self.touched_orgs)


def _item(
    job_id: int, entity_type: str, entity_id: int, *, action: str = "create", fields: Any = None
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "action": action,
        "fields": fields,
    }


def _bound_column(
    column: sa.Column[Any], name: str, rows: list[dict[str, Any]], dialect: sa.Dialect
) -> list[Any]:
    """The values of one column of `rows` as the driver takes them (the column's processor).

    Column by column rather than row by row: a generator per row over every column cost more
    than the executemany itself. A timestamp column holds the run's one `now` in every row,
    so each distinct value is converted once.
    """
    values = [row[name] for row in rows]
    processor = column.type._cached_bind_processor(dialect)
    if processor is None:
        return values
    if isinstance(column.type, sa.JSON):
        # Dicts and lists cannot be remembered by value.
        return [processor(v) for v in values]
    converted: dict[Any, Any] = {}
    out = []
    for v in values:
        try:
            out.append(converted[v])
        except KeyError:
            out.append(converted.setdefault(v, processor(v)))
    return out


_T = TypeVar("_T")


def _chunks(ids: Iterable[_T], size: int = 500) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for i in ids:
        batch.append(i)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def refresh_search_text(session: Session, person_ids: set[int], org_ids: set[int]) -> None:
    """Recompute name keys and search text of the given records (and the orgs' people)."""
    people = set(person_ids)
    org_rows = []
    for batch in _chunks(sorted(org_ids)):
        orgs = session.scalars(
            sa.select(Organisation)
            .where(Organisation.id.in_(batch))
            .execution_options(populate_existing=True)
        ).all()
        for org in orgs:
            org_rows.append(
                {
                    "b_id": org.id,
                    "name_key": organisation_key(org.name),
                    "sort_name": Organisation.sort_name_of(org.name),
                    "search_text": organisation_search_text(org),
                    # A filled-in or cleared phone brings its E.164 form along.
                    "phone_e164": phone_e164(org.phone, org.country) or "",
                }
            )
            session.expunge(org)
        people.update(
            session.scalars(
                sa.select(Affiliation.person_id).where(Affiliation.organisation_id.in_(batch))
            )
        )
    table = Organisation.__table__
    if org_rows:
        session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"))
            .values(
                name_key=sa.bindparam("name_key"),
                sort_name=sa.bindparam("sort_name"),
                search_text=sa.bindparam("search_text"),
                phone_e164=sa.bindparam("phone_e164"),
            ),
            org_rows,
        )
    person_rows = []
    for batch in _chunks(sorted(people)):
        found = session.scalars(
            sa.select(Person)
            .where(Person.id.in_(batch))
            .options(selectinload(Person.affiliations).selectinload(Affiliation.organisation))
            .execution_options(populate_existing=True)
        ).all()
        for person in found:
            orgs = [a.organisation for a in person.affiliations if a.organisation is not None]
            person_rows.append(
                {
                    "b_id": person.id,
                    "name_key": person_key(person.first_name, person.last_name),
                    "sort_name": Person.sort_name_of(person.last_name, person.first_name),
                    "search_text": person_search_text(person, orgs),
                    "phone_e164": phone_e164(person.phone, person.country) or "",
                    "mobile_e164": phone_e164(person.mobile, person.country) or "",
                }
            )
        for person in found:
            for aff in person.affiliations:
                if aff.organisation in session:
                    session.expunge(aff.organisation)
                session.expunge(aff)
            session.expunge(person)
    table = Person.__table__
    if person_rows:
        session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"))
            .values(
                name_key=sa.bindparam("name_key"),
                sort_name=sa.bindparam("sort_name"),
                search_text=sa.bindparam("search_text"),
                phone_e164=sa.bindparam("phone_e164"),
                mobile_e164=sa.bindparam("mobile_e164"),
            ),
            person_rows,
        )


class _Spool:
    """The checked records of a file, written to a temporary file and read back on demand.

    Pickled in batches: the file is this process's own, unnamed temporary file, so nothing
    but the records written here is ever unpickled.
    """

    BATCH = 1000

    def __init__(self, table: Table) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        try:
            batch: list[Record] = []
            for rec in table.iter_records():
                batch.append(rec)
                if len(batch) == self.BATCH:
                    pickle.dump(batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
                    batch = []
            pickle.dump(batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:
            self._file.close()
            raise

    def iter_records(self) -> Iterator[Record]:
        """The records in file order."""
        self._file.seek(0)
        while True:
            try:
                batch = pickle.load(self._file)  # noqa: S301 - our own records, see above
            except EOFError:
                return
            yield from batch

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spool_file(job: ImportJob, *, limits: Limits | None = None) -> _Spool:
    """Read the job's whole file, checked against the limits, into a temporary spool."""
    with open_table(job, limits=limits) as table:
        return _Spool(table)


Progress = Callable[[int, int, str], None]


def run_import(
    session: Session,
    job: ImportJob,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
    spool: _Spool | None = None,
    commit_batches: bool = False,
) -> ImportReport:
    """Import (or, with `dry_run`, only assess) the job's file.

    Without `commit_batches` everything is written in the caller's transaction, not
    committed. With it (`execute_job`), every batch of `batch_rows` rows is committed on its
    own, so the write lock is held for one batch at a time. A real run writes the new records,
    the `ImportItem` rows and one audit entry "import"; `progress(processed, total, message)`
    is called every `PROGRESS_EVERY` rows (after a batch's commit with `commit_batches`).
    The records come from `spool` (see `spool_file`) if given, else from the file itself.
    The job's own columns are left to the caller (`execute_job`).
    """
    source = spool if spool is not None else open_table(job)
    message = _("Checking rows") if dry_run else _("Importing rows")
    with contextlib.ExitStack() as stack:
        if spool is None:
            stack.enter_context(source)
        stack.enter_context(_automatic_gc_paused())
        engine = _Engine(session, job, dry_run=dry_run)
        total = job.row_count
        processed = line = 0
        try:
            for rec in source.iter_records():
                line = rec.line
                engine.process(rec)
                processed += 1
                if processed % batch_rows == 0:
                    engine.flush_batch()
                    if commit_batches:
                        engine.commit()
                        if progress is not None:
                            progress(processed, total, message)
                if progress is not None and not commit_batches and processed % PROGRESS_EVERY == 0:
                    progress(processed, total, message)
            engine.flush_batch()
            engine.finish()
        except (ImportFileError, ImportRefused):
            raise
        except Exception as exc:
            raise ImportRunError(line) from exc
    report = engine.report
    if not dry_run:
        c = report.counts
        record(
            session,
            "import",
            entity_type="import_job",
            entity_id=job.id,
            summary=_summary(job, c),
            changes={"counts": c, "file": job.filename},
        )
        session.flush()
    if progress is not None and not commit_batches:
        progress(processed, max(total, processed), message)
    return report


@contextlib.contextmanager
def _automatic_gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector does not run on its own inside the block.

    A run keeps every key of the file and every record it creates in lookups that live
    until its end, and each full collection walks all of them again: a large share of a
    large run, and more the larger the database it preloads. What a run leaves behind in reference
    cycles is a few objects per batch, collected once the collector runs again. The switch
    is per process (in a development server with its worker inside, the web threads' cycles
    wait for the end of the run); one already switched off stays off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _summary(job: ImportJob, c: dict[str, int]) -> str:
    return (
        f"Import #{job.id} „{job.filename}“: {c['people']} Personen und "
        f"{c['organisations']} Organisationen angelegt, {c['filled']} ergänzt, "
        f"{c['skip']} übersprungen, {c['reject']} abgelehnt"
    )


# --- jobs: dry run, run, undo -------------------------------------------------------------------


def dry_run_job(
    session: Session, job: ImportJob, *, progress: Progress | None = None
) -> ImportReport:
    """Assess the file without changing any contact and store the report on the job.

    Commits the caller's transaction first; the file is assessed in a read transaction
    (`reading`), the report stored in a new one, not committed.
    """
    job_id = job.id
    with reading(session):
        current = session.get(ImportJob, job_id)
        if current is None or current.status not in ("uploaded", "failed"):
            raise ImportRefused(_("This import has already run."))
        report = run_import(session, current, dry_run=True, progress=progress)
    stored = session.get(ImportJob, job_id)
    assert stored is not None
    stored.counts = report.counts
    stored.report = report.to_json()
    stored.report_is_dry_run = True
    session.flush()
    return report


def claim_job(session: Session, job: ImportJob) -> None:
    """Mark the job running (not committed) so a second click cannot start it twice."""
    result = session.execute(
        sa.update(ImportJob)
        .where(ImportJob.id == job.id, ImportJob.status.in_(("uploaded", "failed")))
        .values(status="running", started_at=utcnow(), message="", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rows_affected(result) != 1:
        raise ImportRefused(_("This import is already running or has already run."))
    session.flush()


def execute_job(session: Session, job_id: int, *, progress: Progress | None = None) -> ImportJob:
    """Run a claimed job batch by batch; on failure remove what it wrote and mark it failed.

    Commits the caller's transaction first: the file is read into a spool in a read
    transaction, and only then do the run's short writing transactions begin. Safe to call
    again for a job whose earlier attempt died: what that attempt committed goes first.
    """
    spool: _Spool | None = None
    try:
        discard_partial(session, job_id)
        session.commit()  # also ends the transaction (and SQLite's lock) before the reading
        if progress is not None:
            progress(0, 0, _("Reading the file"))
        with reading(session):
            job = session.get(ImportJob, job_id)
            assert job is not None
            spool = spool_file(job)
        job = session.get(ImportJob, job_id)
        assert job is not None
        report = run_import(session, job, progress=progress, spool=spool, commit_batches=True)
        job.status = "done"
        job.counts = report.counts
        job.report = report.to_json()
        job.report_is_dry_run = False
        job.finished_at = utcnow()
        rows = job.row_count
        session.commit()
    except Exception as exc:
        session.rollback()
        if not isinstance(exc, ImportFileError | ImportRefused):
            log.exception("import %s failed", job_id)
        if isinstance(exc, ImportFileError | ImportRefused):
            detail = exc.message
        elif isinstance(exc, ImportRunError):
            detail = _(
                "The error occurred while processing the rows up to line %(line)d.", line=exc.line
            )
        else:
            detail = ""
        discard_partial(session, job_id)
        job = session.get(ImportJob, job_id)
        assert job is not None
        job.status = "failed"
        job.message = " ".join(
            filter(
                None,
                [
                    _("The import failed and was rolled back completely; no contact was changed."),
                    detail,
                ],
            )
        )
        job.finished_at = utcnow()
        session.commit()
        return job
    finally:
        if spool is not None:
            spool.close()
    if progress is not None:
        # Not `job.row_count`: reloading the job would open a (writing) transaction first.
        progress(rows, rows, _("Import complete"))
    return job


def mark_interrupted(session: Session, job: ImportJob) -> None:
    """Record a job whose worker died for good as failed, removing what it had written."""
    discard_partial(session, job.id)
    job.status = "failed"
    job.message = _(
        "The import was interrupted (for example by a server restart); no contact was changed."
    )
    job.finished_at = utcnow()
    session.flush()


def _remove_written(session: Session, job_id: int) -> tuple[dict[str, int], int, set, set]:
    """Delete the records a job's items say it created, clear the fields it filled."""

    def created(entity_type: str) -> sa.Select:
        return sa.select(ImportItem.entity_id).where(
            ImportItem.job_id == job_id,
            ImportItem.entity_type == entity_type,
            ImportItem.action == "create",
        )

    # Existing people whose search text must forget a deleted affiliation's organisation.
    touched_people = set(
        session.scalars(
            sa.select(Affiliation.person_id).where(Affiliation.id.in_(created("affiliation")))
        )
    )
    touched_orgs: set[int] = set()
    counts = {}
    for entity_type, model in (
        ("affiliation", Affiliation),
        ("person", Person),
        ("organisation", Organisation),
    ):
        counts[entity_type] = rows_affected(
            session.execute(
                sa.delete(model.__table__).where(model.__table__.c.id.in_(created(entity_type)))
            )
        )
    # Tags this import introduced go too, unless someone has used them since.
    session.execute(
        sa.delete(Tag.__table__).where(
            Tag.__table__.c.id.in_(created("tag")),
            ~sa.exists().where(person_tag.c.tag_id == Tag.__table__.c.id),
            ~sa.exists().where(organisation_tag.c.tag_id == Tag.__table__.c.id),
        )
    )
    cleared = 0
    fills = session.execute(
        sa.select(ImportItem.entity_type, ImportItem.entity_id, ImportItem.fields).where(
            ImportItem.job_id == job_id, ImportItem.action == "fill"
        )
    ).all()
    for entity_type, entity_id, fields in fills:
        table = (Person if entity_type == "person" else Organisation).__table__
        for name, value in (fields or {}).items():
            # Only while the field still holds what the import wrote: later edits stay.
            cleared += rows_affected(
                session.execute(
                    sa.update(table)
                    .where(table.c.id == entity_id, table.c[name] == value)
                    .values({name: ""})
                )
            )
        (touched_people if entity_type == "person" else touched_orgs).add(entity_id)
    session.flush()
    refresh_search_text(session, touched_people, touched_orgs)
    return counts, cleared, touched_people, touched_orgs


def discard_partial(session: Session, job_id: int) -> bool:
    """Remove what an unfinished run committed (its items say what); False if nothing.

    Not committed. Used before a retry and after a failure, so that a run is all or nothing
    although it commits batch by batch.
    """
    has_items = session.scalar(
        sa.select(sa.func.count(ImportItem.id)).where(ImportItem.job_id == job_id)
    )
    if not has_items:
        return False
    _remove_written(session, job_id)
    session.execute(sa.delete(ImportItem).where(ImportItem.job_id == job_id))
    session.flush()
    return True


def undo_import(session: Session, job: ImportJob, *, user_id: int | None) -> None:
    """Delete what the job's run created and clear the fields it filled, as one change.

    Does not commit; the caller commits and then calls `remove_files`.
    """
    claimed = session.execute(
        sa.update(ImportJob)
        .where(ImportJob.id == job.id, ImportJob.status == "done")
        .values(status="undone", undone_at=utcnow(), undone_by_id=user_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rows_affected(claimed) != 1:
        raise ImportRefused(_("Only a completed import can be undone, and only once."))

    def created(entity_type: str) -> sa.Select:
        return sa.select(ImportItem.entity_id).where(
            ImportItem.job_id == job.id,
            ImportItem.entity_type == entity_type,
            ImportItem.action == "create",
        )

    activities = session.scalar(
        sa.select(sa.func.count(Activity.id)).where(
            sa.or_(
                Activity.person_id.in_(created("person")),
                Activity.organisation_id.in_(created("organisation")),
            )
        )
    )
    if activities:
        raise ImportRefused(
            _(
                "This import cannot be undone: activities have since been recorded for "
                "%(num)d of its contacts.",
                num=activities,
            )
        )
    counts, cleared, _people, _orgs = _remove_written(session, job.id)
    record(
        session,
        "import_undo",
        entity_type="import_job",
        entity_id=job.id,
        summary=(
            f"Import #{job.id} rückgängig: {counts['person']} Personen, "
            f"{counts['organisation']} Organisationen gelöscht, {cleared} Felder geleert"
        ),
        changes={"deleted": counts, "cleared_fields": cleared},
    )
    session.flush()
    session.refresh(job)


def remove_files(session: Session, job: ImportJob) -> None:
    """Delete the job's stored upload (not committed)."""
    if file_store().delete(session, job.uuid) or job.file_removed_at is None:
        job.file_removed_at = utcnow()
    session.flush()


def rejected_rows(job: ImportJob) -> tuple[list[str], Iterator[list[str]]]:
    """Headers (plus "Grund") and the rejected rows of the job's file with their reasons."""
    table = open_table(job)
    columns = _columns(job.mapping or {})

    def rows() -> Iterator[list[str]]:
        with table:
            for record in table.iter_records():
                _row, reasons = validate(record, columns)
                if reasons:
                    cells = [record.values.get(h, "") for h in table.headers]
                    yield [*cells, " ".join(reason_text(c, p) for c, p in reasons)]

    return [*table.headers, _("Reason")], rows()
