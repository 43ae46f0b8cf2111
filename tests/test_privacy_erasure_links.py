"""Art. 17 by links: exactly one person goes, every copy of her, and nobody else changes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import current_app

from crm.audit.models import AuditEntry
from crm.contacts import importer
from crm.contacts.import_models import ImportItem, ImportJob
from crm.contacts.models import Activity, Organisation, Person
from crm.extensions import db
from crm.followups.models import FollowUp
from crm.jobs.files import file_store
from crm.jobs.models import JobFile
from crm.mail.models import OutgoingMail
from crm.newsletters.models import ConsentEvent
from crm.participants.models import Participant
from crm.privacy import erasure
from crm.privacy import service as privacy
from crm.privacy.erasure import ALL_MENTIONS, ERASED
from crm.privacy.models import ErasureRecord
from crm.substring import is_substring_object
from tests.erasure_helpers import (
    EMAIL,
    FIRM_PHONE,
    FULL,
    IP,
    LAST,
    MOBILE,
    SECRET,
    fill_every_place,
)
from tests.test_privacy_erasure import traces

SUBJECT_TABLES = {"person": "person", "participant": "participant"}


def _directories() -> dict[str, Path]:
    return {"outbox": Path(current_app.config["CRM_MAIL_OUTBOX_DIR"])}


def _links_to(subject_table: str) -> list[tuple[sa.Table, sa.Column]]:
    """(table, column) of every foreign key to the subject's table, from the models."""
    return [
        (table, fk.parent)
        for table in db.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table.name == subject_table
    ]


def _snapshot(s: Any) -> dict[str, dict[tuple, tuple]]:
    """Every row of every table (not the search index), keyed by primary key."""
    conn = s.connection()
    inspector = sa.inspect(conn)
    snap: dict[str, dict[tuple, tuple]] = {}
    for table in inspector.get_table_names():
        if table.startswith("alembic") or "_fts" in table or is_substring_object(table):
            continue
        pk = inspector.get_pk_constraint(table)["constrained_columns"]
        result = conn.execute(sa.text(f'SELECT * FROM "{table}"'))  # noqa: S608 - own names
        cols = list(result.keys())
        snap[table] = {tuple(row[cols.index(c)] for c in pk): tuple(row) for row in result.all()}
    return snap


def _rows_about_her(s: Any, ids: dict[str, int]) -> set[tuple[str, tuple]]:
    """Rows linked to her by foreign key (and their audit entries and import records)."""
    rows: set[tuple[str, tuple]] = {(t, (i,)) for t, i in ids.items()}
    for subject, subject_id in ids.items():
        for table, column in _links_to(subject):
            pk = [c.name for c in table.primary_key.columns]
            for row in s.execute(sa.select(*table.primary_key.columns).where(column == subject_id)):
                rows.add((table.name, tuple(getattr(row, c) for c in pk)))
    affiliations = [pk[0] for t, pk in rows if t == "affiliation"]
    items = s.execute(
        sa.select(ImportItem.id, ImportItem.job_id).where(
            sa.or_(
                sa.and_(ImportItem.entity_type == "person", ImportItem.entity_id == ids["person"]),
                sa.and_(
                    ImportItem.entity_type == "affiliation",
                    ImportItem.entity_id.in_(affiliations),
                ),
            )
        )
    ).all()
    rows |= {("import_item", (i,)) for i, _j in items} | {("import_job", (j,)) for _i, j in items}
    # The uploaded file of an import that holds her row.
    keys = sa.select(ImportJob.uuid).where(ImportJob.id.in_([j for _i, j in items]))
    rows |= {
        ("job_file", (i,)) for i in s.scalars(sa.select(JobFile.id).where(JobFile.key.in_(keys)))
    }
    # Messages addressed to her, by address only (sent before she was a contact).
    to_her = sa.select(OutgoingMail.id).where(sa.func.lower(OutgoingMail.recipient) == EMAIL)
    rows |= {("mail_outbox", (i,)) for i in s.scalars(to_her)}
    single = {(t, pk[0]) for t, pk in rows if len(pk) == 1}
    for entry_id, kind, entity_id in s.execute(
        sa.select(AuditEntry.id, AuditEntry.entity_type, AuditEntry.entity_id)
    ):
        if (kind, entity_id) in single:
            rows.add(("audit_entry", (entry_id,)))
    return rows


@pytest.fixture
def every(app: Any, db_session: Any) -> Any:
    """Her in every place (see tests.erasure_helpers); her files are removed afterwards."""
    with app.test_request_context():
        filled = fill_every_place(db_session)
        # Into the test's transaction (rolled back at its end); this context's session goes.
        db_session.commit()
        db_session.remove()
    yield filled
    for path in (filled.her_eml, filled.other_eml):
        path.unlink(missing_ok=True)


def _erase_her(s: Any, every: Any, **kw: Any) -> list[ErasureRecord]:
    person = s.get(Person, every.person_id)
    participant = s.get(Participant, every.participant_id)
    return [
        privacy.erase_person(s, person, directories=_directories(), **kw),
        privacy.erase_participant(s, participant, directories=_directories(), **kw),
    ]


def _files_naming(directory: Path, needles: list[str]) -> list[str]:
    found = []
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            found += [f"{path.name}: {n}" for n in needles if n.lower().encode() in data]
    return found


def test_the_fixture_fills_every_table_that_links_to_a_person_or_a_participant(app_ctx, every):
    # Derived from the models: a new table with a link to a person or participant fails here
    # until the fixture fills it (and the erasure plan below must then cover it, too).
    s = app_ctx
    ids = {"person": every.person_id, "participant": every.participant_id}
    for subject, subject_id in ids.items():
        links = _links_to(subject)
        assert links
        for table, column in links:
            count = s.scalar(
                sa.select(sa.func.count()).select_from(table).where(column == subject_id)
            )
            assert count, f"the fixture puts nothing of her into {table.name}.{column.name}"


def test_every_table_linked_to_a_person_or_participant_is_in_the_erasure_plan(app_ctx, every):
    s = app_ctx
    for subject, obj in (
        ("person", s.get(Person, every.person_id)),
        ("participant", s.get(Participant, every.participant_id)),
    ):
        plan = privacy.erasure_preview(s, obj, directories=_directories())
        planned = {a.table.name for a in plan.actions} | {t.table.name for t in plan.linked_texts}
        linked = {table.name for table, _column in _links_to(subject)}
        assert linked <= planned, linked - planned


def test_erasure_leaves_nothing_of_her_and_every_other_row_byte_for_byte_unchanged(app_ctx, every):
    s = app_ctx
    ids = {"person": every.person_id, "participant": every.participant_id}
    hers = _rows_about_her(s, ids)
    before = _snapshot(s)
    assert traces(s, SECRET)
    assert traces(s, MOBILE)
    assert traces(s, IP)

    _erase_her(s, every, confirmed=ALL_MENTIONS)
    s.flush()
    after = _snapshot(s)

    # Nobody else's row changed, appeared or vanished (new rows: the erasure's own log).
    for table, rows in before.items():
        for pk, row in rows.items():
            if (table, pk) not in hers:
                assert after[table].get(pk) == row, (table, pk)
    for table, rows in after.items():
        new = set(rows) - set(before.get(table, {}))
        if table not in ("audit_entry", "erasure_record"):
            assert not new, table
    # Her rows that stay (linked records, anonymous counts, the logs) name her nowhere.
    needles = [LAST, EMAIL, FIRM_PHONE, MOBILE, IP, SECRET]
    for table, rows in after.items():
        for pk, row in rows.items():
            if (table, pk) in hers or pk not in before.get(table, {}):
                text = json.dumps(row, default=str, ensure_ascii=False).lower()
                assert not [n for n in needles if n.lower() in text], (table, pk, row)
    # What appears only in her data is gone from every text column of every table.
    for needle in (SECRET, MOBILE, IP):
        assert traces(s, needle) == [], needle
    # Every file under the instance folder: outbox message and uploaded import are gone.
    instance = Path(current_app.instance_path)
    assert _files_naming(instance, [SECRET, EMAIL, LAST]) == []
    assert not every.her_eml.exists()
    assert every.other_eml.exists()
    job = s.get(ImportJob, every.import_job_id)
    assert job.file_removed_at is not None
    assert file_store().get(s, job.uuid) is None


def test_her_words_are_gone_from_the_search_index_segments(app_ctx, every):
    s = app_ctx
    conn = s.connection()
    if conn.dialect.name == "sqlite":

        def indexed() -> bool:
            blobs = conn.exec_driver_sql("SELECT block FROM person_fts_data").scalars()
            return any(b"doppel" in bytes(b or b"") for b in blobs)

        assert indexed()
        _erase_her(s, every)
        assert not indexed()
    else:
        match = sa.text(
            "SELECT count(*) FROM person WHERE search_vector @@ to_tsquery('simple', 'doppel')"
        )
        assert s.scalar(match) == 1
        _erase_her(s, every)
        assert s.scalar(match) == 0


def test_erasing_a_contact_who_gave_the_firms_main_number_leaves_the_firm_alone(app_ctx, every):
    s = app_ctx
    _erase_her(s, every)
    org = s.get(Organisation, every.org_id)
    assert org.phone == FIRM_PHONE
    assert org.notes == "Zentrale, Empfang fragt nach dem Anliegen"
    # Her activity at the firm stays in its history, without her.
    activity = s.get(Activity, every.extra["at_firm"])
    assert activity.person_id is None
    assert activity.organisation_id == org.id


def test_erasing_paula_leaves_the_active_participant_with_her_phone_and_name_untouched(
    app_ctx, every
):
    s = app_ctx
    _erase_her(s, every, confirmed=ALL_MENTIONS)
    sister = s.get(Participant, every.other_participant_id)
    assert sister.phone == FIRM_PHONE
    assert sister.email == "paulina.doppel@example.org"
    assert sister.notes == f"Schwester von {FULL}, gleiche Telefonnummer"
    assert sister.erased_at is None
    other = s.get(Person, every.other_person_id)
    assert other.notes == f"Kollege von {FULL}"


def test_her_email_in_someone_elses_consent_records_neither_crashes_nor_changes_them(
    app_ctx, every
):
    s = app_ctx
    ledger = sa.select(ConsentEvent.id, ConsentEvent.email, ConsentEvent.ip, ConsentEvent.person_id)
    others_before = s.execute(ledger.where(ConsentEvent.person_id != every.person_id)).all()
    assert (EMAIL, "198.51.100.5", every.other_person_id) in [r[1:] for r in others_before]

    _erase_her(s, every, confirmed=ALL_MENTIONS)
    s.flush()
    assert s.execute(ledger.where(ConsentEvent.person_id != every.person_id)).all() == (
        others_before
    )
    assert s.execute(ledger.where(ConsentEvent.person_id == every.person_id)).all() == []


def test_every_erased_row_is_audited_and_the_erasure_record_holds_ids_not_values(app_ctx, every):
    s = app_ctx
    user = s.scalar(
        sa.select(Participant.counsellor_id).where(Participant.id == every.participant_id)
    )
    records = _erase_her(s, every, legal_basis="consent_withdrawn", requested_by_id=user)
    s.flush()
    for rec in records:
        s.refresh(rec)
        assert rec.legal_basis == "consent_withdrawn"
        assert rec.requested_by_id == user
        assert rec.requested_at is not None
        dumped = json.dumps([rec.categories, rec.row_ids]).lower()
        assert not [n for n in (LAST.lower(), EMAIL, IP, SECRET.lower()) if n in dumped]
        entries = s.execute(
            sa.select(AuditEntry.entity_type, AuditEntry.entity_id, AuditEntry.changes).where(
                AuditEntry.action.like("erase_%"),
                AuditEntry.summary == f"Art. 17, Löschprotokoll #{rec.id}",
            )
        ).all()
        logged = {(t, i) for t, i, _c in entries}
        for table, row_ids in rec.row_ids.items():
            for row_id in row_ids:
                if table not in ("person_tag", "contact_list_member"):
                    assert (table, row_id) in logged, (table, row_id)
        assert all(set(c) == {"fields"} for _t, _i, c in entries)
    person_record, participant_record = records
    assert {"contact", "activities", "newsletter", "events", "imports", "mail"} <= set(
        person_record.categories
    )
    assert {"participant", "sessions", "referrals", "releases", "support"} <= set(
        participant_record.categories
    )
    assert person_record.files_removed >= 1  # her outbox message
    # The uploaded import is a row of job_file, erased (and logged) with the rest.
    assert person_record.row_ids.get("job_file")
    # The audit entries about her participant row keep field names, not values.
    for (changes,) in s.execute(
        sa.select(AuditEntry.changes).where(
            AuditEntry.entity_type == "participant",
            AuditEntry.entity_id == every.participant_id,
            AuditEntry.action == "create",
        )
    ):
        assert "values" not in changes
        assert "language_level" in changes["fields"]


def test_linked_notes_change_only_where_confirmed(app_ctx, every):
    s = app_ctx
    person = s.get(Person, every.person_id)
    plan = privacy.erasure_preview(s, person, directories=_directories())
    keys = {m.key for m in plan.mentions}
    at_firm_text = f"activity:{every.extra['at_firm']}:text"
    followup_subject = f"followup:{every.extra['followup']}:subject"
    assert {at_firm_text, followup_subject} <= keys
    assert ("person", every.other_person_id, "notes") in {
        (m.table, m.row_id, m.column) for m in plan.unlinked
    }

    privacy.erase_person(s, person, confirmed={followup_subject, "person:1:notes"})
    followup = s.get(FollowUp, every.extra["followup"])
    assert followup.subject == f"{ERASED} zurückrufen"
    assert followup.person_id is None
    assert followup.note == f"Mail an {EMAIL}"  # not confirmed: unchanged
    activity = s.get(Activity, every.extra["at_firm"])
    assert FULL in activity.text
    other = s.get(Person, every.other_person_id)
    assert other.notes == f"Kollege von {FULL}"


def test_the_erasure_page_previews_linked_mentions_and_changes_only_the_confirmed_ones(
    client_as, db_session, every
):
    s = db_session
    s.commit()
    admin = client_as("admin")
    url = f"/datenschutz/personen/{every.person_id}/loeschen"
    response = admin.get(url)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    followup_subject = f"followup:{every.extra['followup']}:subject"
    at_firm_text = f"activity:{every.extra['at_firm']}:text"
    for key in (followup_subject, at_firm_text):
        assert re.search(rf'name="mention" value="{re.escape(key)}"[^>]*checked', html), key
    assert f'data-table="person" data-id="{every.other_person_id}"' in html
    assert 'data-category="newsletter" data-op="delete"' in html

    # Not confirmed: nothing happens.
    assert admin.post(url, data={"mention": [followup_subject]}).status_code == 302
    assert s.get(Person, every.person_id) is not None
    # A legal basis that does not exist: nothing happens.
    admin.post(url, data={"confirm": "yes", "legal_basis": "whatever"})
    s.expire_all()
    assert s.get(Person, every.person_id) is not None

    r = admin.post(
        url,
        data={
            "confirm": "yes",
            "legal_basis": "request",
            "mention": [followup_subject, "organisation:1:phone"],
        },
    )
    assert r.status_code == 302
    s.expire_all()
    assert s.get(Person, every.person_id) is None
    assert s.get(FollowUp, every.extra["followup"]).subject == f"{ERASED} zurückrufen"
    assert FULL in s.get(Activity, every.extra["at_firm"]).text  # unchecked
    assert s.get(Organisation, every.org_id).phone == FIRM_PHONE
    rec = s.scalar(sa.select(ErasureRecord).where(ErasureRecord.subject_id == every.person_id))
    assert rec.requested_by_id == admin.user.id
    assert rec.legal_basis == "request"
    assert rec.mentions_changed == 1
    assert admin.get(url).status_code == 404


@pytest.mark.parametrize("kind", ["personen", "teilnehmende"])
def test_the_erasure_page_of_a_missing_record_is_not_found(admin_client, kind):
    assert admin_client.get(f"/datenschutz/{kind}/999999/loeschen").status_code == 404


def test_scrub_replaces_only_her_names_and_numbers(app_ctx):
    assert erasure.scrub("Frau Doppel-Probe (doppel-probe) meldet sich", ["Doppel-Probe"]) == (
        f"Frau {ERASED} ({ERASED}) meldet sich"
    )


def test_on_sqlite_the_database_file_keeps_no_bytes_of_her_after_the_commit(
    make_database, tmp_path
):
    # Own database with real commits: secure_delete zeroes her cells, the FTS index is
    # merged and the WAL checkpointed, so neither file holds her name any more.
    from flask_migrate import upgrade

    from crm.contacts.service import save_person
    from tests.conftest import build_app

    url = make_database()
    if not url.startswith("sqlite"):
        pytest.skip("SQLite files only")
    app = build_app(url, str(tmp_path / "instance"))
    needle = "Zwetschgenkuchenbaecker"
    with app.app_context():
        upgrade()
        for i in range(30):
            save_person(db.session, {"first_name": f"Andere{i}", "last_name": "Nachbarin"})
        person = save_person(db.session, {"first_name": "Olga", "last_name": needle})
        db.session.commit()
        erasure.finish_erasure(db.engine)
        path = Path(sa.make_url(url).database)

        def bytes_of_her() -> bool:
            files = [path, Path(f"{path}-wal")]
            data = b"".join(f.read_bytes() for f in files if f.exists()).lower()
            return needle.lower().encode() in data

        assert bytes_of_her()
        privacy.erase_person(db.session, db.session.get(Person, person.id))
        db.session.commit()
        erasure.finish_erasure(db.engine)
        assert not bytes_of_her()
        db.session.remove()


def test_after_a_backup_restore_the_erasure_log_erases_her_again(app, app_ctx, every):
    s = app_ctx
    person = s.get(Person, every.person_id)
    plan = privacy.erasure_preview(s, person)
    followup_subject = f"followup:{every.extra['followup']}:subject"
    assert followup_subject in {m.key for m in plan.mentions}
    # The rows as a backup from before the erasure holds them.
    person_row = dict(
        s.execute(sa.select(Person.__table__).where(Person.id == person.id)).one()._mapping
    )
    followup_row = dict(
        s.execute(sa.select(FollowUp.__table__).where(FollowUp.id == every.extra["followup"]))
        .one()
        ._mapping
    )
    privacy.erase_person(s, person, confirmed={followup_subject}, legal_basis="objection")
    # "Restore": her person row and the follow-up's old text and link come back.
    s.execute(sa.insert(Person.__table__).values(**person_row))
    s.execute(
        sa.update(FollowUp.__table__)
        .where(FollowUp.id == followup_row["id"])
        .values(subject=followup_row["subject"], person_id=person.id)
    )
    s.flush()

    result = app.test_cli_runner().invoke(args=["crm", "reapply-erasures"])
    assert result.exit_code == 0, result.output
    assert "1 Löschungen erneut ausgeführt" in result.output
    s.expire_all()
    assert s.get(Person, every.person_id) is None
    assert s.get(FollowUp, followup_row["id"]).subject == f"{ERASED} zurückrufen"
    records = s.scalars(
        sa.select(ErasureRecord).where(ErasureRecord.subject_id == every.person_id)
    ).all()
    assert [r.legal_basis for r in records] == ["objection", "objection"]
    assert records[1].mention_keys == [followup_subject]


def test_an_import_that_skipped_her_as_a_duplicate_loses_her_row_and_its_file(app, app_ctx, every):
    s = app_ctx
    data = (
        "Firma;Vorname;Nachname;E-Mail\n"
        f"Elbe Stahl GmbH;Paula;Doppel-Probe;{EMAIL}\n"
        "Elbe Stahl GmbH;Carla;Fremd;carla.fremd@example.org\n"
        "Elbe Stahl GmbH;Dora;Kaputt;keine-adresse\n"
    ).encode()
    job = importer.create_job(s, data=data, filename="zweiter.csv", user_id=None, max_bytes=10**6)
    assert file_store().get(s, job.uuid) == data
    report = importer.run_import(s, job)
    job.status, job.report = "done", report.to_json()
    s.flush()
    reasons = [r for _line, _outcome, rs in job.report["rows"] for r in rs]
    assert ["dup_email", {"id": every.person_id}] in reasons
    privacy.erase_person(s, s.get(Person, every.person_id), directories=_directories())
    s.refresh(job)
    reasons = [r for _line, _outcome, rs in job.report["rows"] for r in rs]
    assert ["dup_email", {"id": every.person_id}] not in reasons
    assert ["invalid_email", {"value": "keine-adresse"}] in reasons  # someone else's row
    assert job.file_removed_at is not None
    assert file_store().get(s, job.uuid) is None


def test_a_confirmed_mention_never_grows_past_its_column(app_ctx):
    from crm.contacts.service import save_person
    from tests import factories

    s = app_ctx
    staff = factories.make_user(s, role="staff")
    person = save_person(s, {"first_name": "Ida", "last_name": "Ode"})
    subject = ("Ode " * 50).strip()  # 199 characters, 50 mentions of her three-letter name
    followup = FollowUp(
        subject=subject,
        due_at=datetime(2026, 12, 1, 8, tzinfo=UTC),
        assignee_id=staff.id,
        person_id=person.id,
    )
    s.add(followup)
    s.flush()
    privacy.erase_person(s, person, confirmed=ALL_MENTIONS)
    s.flush()
    followup = s.get(FollowUp, followup.id)
    assert len(followup.subject) == 200
    assert followup.subject.startswith(f"{ERASED} {ERASED}")
    assert "Ode" not in followup.subject
