"""Contact import through the web pages: real files, dry run, duplicates, all or nothing, undo."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.contacts import importer, service
from crm.contacts.import_models import ImportItem, ImportJob
from crm.contacts.models import Affiliation, Organisation, Person, Tag
from crm.extensions import db
from crm.jobs.models import BackgroundJob, JobFile
from tests import factories
from tests.conftest import CSRFClient, build_app, login
from tests.job_helpers import run_jobs

DATA = Path(__file__).parent / "data" / "imports"
BASE = "/kontakte/import/"


# --- helpers -------------------------------------------------------------------------------------


def upload(client, name: str, data: bytes | None = None):
    """Upload a file from tests/data/imports (or the given bytes under that name)."""
    content = (DATA / name).read_bytes() if data is None else data
    # The body is encoded here: werkzeug's test client would spool a large one to a temporary
    # file that it never closes (a ResourceWarning, hence an error in this suite).
    boundary = "----crm-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{client._csrf_token()}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post(BASE, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def upload_job(client, session, name: str, data: bytes | None = None) -> ImportJob:
    response = upload(client, name, data)
    assert response.status_code == 302, response.get_data(as_text=True)
    job_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    return session.get(ImportJob, job_id)


def start(client, session, job: ImportJob, *, action: str = "run", policy: str = "skip", **over):
    """Post the mapping form as suggested (with overrides {header: key}) and dry-run or run.

    The request only queues the job; a worker then runs it, as the scheduler's would.
    """
    session.refresh(job)
    mapping = {**job.mapping, **over}
    data = {f"col_{i}": (mapping[h] or "") for i, h in enumerate(job.mapping)}
    data.update(policy=policy, sheet=job.sheet, **{action: "1"})
    response = client.post(f"{BASE}{job.id}", data=data)
    if response.status_code == 302:
        run_jobs(client.application)
    session.expire_all()
    return response


def count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def counts(session) -> dict[str, int]:
    return {
        m.__name__: count(session, m) for m in (Person, Organisation, Affiliation, Tag, AuditEntry)
    }


def person_by_email(session, email: str) -> Person:
    return session.scalar(sa.select(Person).where(Person.email == email))


def csv_bytes(header: str, rows: list[str], encoding: str = "utf-8") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode(encoding)


@pytest.fixture
def staff(client_as):
    return client_as("staff")


# --- real-world files ----------------------------------------------------------------------------


def test_an_excel_german_csv_with_semicolons_and_windows_1252_is_imported(staff, db_session):
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")
    assert (job.encoding, job.delimiter, job.row_count) == ("cp1252", ";", 3)
    page = staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert "Windows-1252" in page
    assert "Müller Metallbau GmbH" in page  # the preview
    # "Firma" is suggested as the organisation name.
    assert (
        re.search(r'<option (selected )?value="org_name"( selected)?>', page)
        .group(0)
        .count("selected")
    )

    response = start(staff, db_session, job)
    assert response.status_code == 302
    assert job.status == "done"
    joerg = person_by_email(db_session, "j.mueller@mueller-metallbau.de")
    assert (joerg.salutation, joerg.first_name, joerg.last_name) == ("herr", "Jörg", "Müller")
    (aff,) = joerg.affiliations
    assert aff.function == "Geschäftsführung"
    assert aff.organisation.name == "Müller Metallbau GmbH"
    assert aff.organisation.street == "Große Straße 12"
    assert "mueller" in joerg.search_text
    assert "metallbau" in joerg.search_text
    baeckerei = db_session.scalar(
        sa.select(Organisation).where(Organisation.name == "Bäckerei Groß e.K.")
    )
    assert baeckerei.postcode == "06108"
    anneliese = person_by_email(db_session, "info@baeckerei-gross.de")
    assert (anneliese.salutation, anneliese.title) == ("frau", "Dr.")
    assert anneliese.notes == "Sucht Verkäufer; ab sofort"
    assert job.counts["people"] == 3
    assert job.counts["organisations"] == 3
    result = staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert f"{BASE}{job.id}/rueckgaengig" in result
    assert "<progress" not in result


def _found(session, model, q: str) -> list:
    query = service.person_query if model is Person else service.organisation_query
    return list(session.scalars(query(session, service.ListFilters(q=q))))


def test_imported_records_are_found_by_the_search_and_new_ones_after_them_too(staff, db_session):
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")
    start(staff, db_session, job)
    assert job.status == "done"

    assert [p.email for p in _found(db_session, Person, "joerg mueller")] == [
        "j.mueller@mueller-metallbau.de"
    ]
    assert [o.name for o in _found(db_session, Organisation, "metallbau")] == [
        "Müller Metallbau GmbH"
    ]
    # The search index keeps following ordinary saves after the bulk-indexed import.
    later = service.save_person(db_session, {"first_name": "Nachher", "last_name": "Angelegt"})
    db_session.commit()
    assert _found(db_session, Person, "nachher") == [later]


def test_a_utf8_file_with_bom_keeps_polish_and_turkish_letters(staff, db_session):
    job = upload_job(staff, db_session, "utf8_bom.csv")
    assert job.encoding == "utf-8-sig"
    start(staff, db_session, job)
    lukasz = person_by_email(db_session, "lukasz.nowak@pflege.example")
    assert (lukasz.first_name, lukasz.language) == ("Łukasz", "pl")
    ayse = person_by_email(db_session, "a.celik@celik-logistik.example")
    assert (ayse.first_name, ayse.last_name, ayse.language) == ("Ayşe", "Çelik", "tr")
    assert ayse.affiliations[0].organisation.name == "Çelik Logistik GmbH & Co. KG"
    assert ayse.affiliations[0].organisation.city == "Halberstadt"


def test_english_headers_are_mapped_and_english_salutations_understood(staff, db_session):
    job = upload_job(staff, db_session, "english_comma.csv")
    assert job.delimiter == ","
    assert job.mapping["Company"] == "org_name"
    assert job.mapping["Zip"] == "postcode"
    assert job.mapping["Job title"] == "function"
    start(staff, db_session, job)
    thomas = person_by_email(db_session, "t.schmidt@sbp.example")  # e-mail in lower case
    assert thomas.salutation == "herr"
    assert thomas.affiliations[0].organisation.name == "Schmidt, Bauer & Partner GmbH"
    assert thomas.affiliations[0].function == "HR manager"
    assert person_by_email(db_session, "s.krueger@holz.example").salutation == "frau"


def test_a_sheet_of_a_workbook_can_be_chosen(staff, db_session):
    job = upload_job(staff, db_session, "two_sheets.xlsx")
    assert job.sheet == "Arbeitgeber"
    page = staff.get(f"{BASE}{job.id}?blatt=Ansprechpartner").get_data(as_text=True)
    assert "Anneliese" in page
    # The columns of that sheet get their own suggestions: "Nachname" is the last name.
    second_column = re.search(r'name="col_1">(.*?)</select>', page, re.S)[1]
    assert re.search(r'<option (selected )?value="last_name"( selected)?>', second_column)[0].count(
        "selected"
    )
    job.sheet = "Ansprechpartner"  # what the hidden field of that page posts
    job.mapping = {"Vorname": "first_name", "Nachname": "last_name", "E-Mail": "email"}
    db_session.commit()
    start(staff, db_session, job)
    assert job.status == "done", job.message
    assert job.counts["people"] == 2
    assert person_by_email(db_session, "info@baeckerei-gross.de").first_name == "Anneliese"


# --- broken rows, dry run ------------------------------------------------------------------------


def test_broken_rows_are_reported_per_row_and_downloadable_with_reasons(staff, db_session):
    job = upload_job(staff, db_session, "broken_rows.csv")
    start(staff, db_session, job, action="dry_run")
    assert job.report_is_dry_run
    assert (job.counts["create"], job.counts["reject"]) == (4, 3)
    outcomes = {number: outcome for number, outcome, _reasons in job.report["rows"]}
    # Numbered by record: the 6th record (Zeta UG) spans lines 7 and 8 of the file.
    assert outcomes == {1: "create", 2: "reject", 3: "reject", 4: "reject", 5: "create",
                        6: "create", 7: "create"}  # fmt: skip
    page = staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert "Die Zeile hat 3 statt 4 Spalten." in page

    download = staff.get(f"{BASE}{job.id}/abgelehnt.csv")
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    text = download.get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:4] == ["Firma", "Vorname", "Nachname", "E-Mail"]
    assert len(rows[0]) == 5  # plus the reason
    assert [r[0] for r in rows[1:]] == ["Beta KG", "Gamma AG", "Delta e.V."]
    assert "statt 4 Spalten" in rows[1][4]
    assert "Anführungszeichen" in rows[3][4]


def test_invalid_values_are_rejected_and_the_download_is_safe_from_formulas(staff, db_session):
    data = csv_bytes(
        "Firma;Vorname;Nachname;E-Mail;PLZ",
        [
            "Gut GmbH;Anna;Gut;anna@gut.example;39104",
            '=HYPERLINK("http://evil.example");Bob;Böse;bob@@kaputt;39104',
            "Acme;Carl;Acme;carl@acme.example;123",
            ";Dora;;dora@x.example;39104",
        ],
    )
    job = upload_job(staff, db_session, "werte.csv", data)
    start(staff, db_session, job)
    assert (job.counts["create"], job.counts["reject"]) == (1, 3)
    rows = list(
        csv.reader(
            io.StringIO(staff.get(f"{BASE}{job.id}/abgelehnt.csv").get_data().decode("utf-8-sig")),
            delimiter=";",
        )
    )
    assert rows[1][0].startswith("'=HYPERLINK")  # neutralised for Excel
    assert "bob@@kaputt" in rows[1][5]
    assert "123" in rows[2][5]
    assert len(rows) == 4


def test_a_dry_run_changes_nothing(staff, db_session):
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")
    before = counts(db_session)
    response = start(staff, db_session, job, action="dry_run")
    assert response.status_code == 302
    assert counts(db_session) == before
    assert job.status == "uploaded"
    assert job.counts["create"] == 3
    assert count(db_session, ImportItem) == 0


# --- duplicates ----------------------------------------------------------------------------------


def _existing(session):
    org = service.save_organisation(
        session, {"name": "Müller Metallbau GmbH", "kind": "employer", "postcode": "39218"}
    )
    person = service.save_person(
        session,
        {"first_name": "Jörg", "last_name": "Müller", "email": "J.Mueller@mueller-metallbau.de",
         "phone": "0391 999"},
    )  # fmt: skip
    service.add_affiliation(session, person, org, function="Chef")
    session.commit()
    return org, person


def test_duplicates_are_skipped_by_default(staff, db_session):
    org, person = _existing(db_session)
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")
    start(staff, db_session, job, policy="skip")
    assert job.counts["skip"] == 1
    assert job.counts["create"] == 2
    reasons = {number: r for number, _o, r in job.report["rows"]}
    assert reasons[1] == [["dup_email", {"id": person.id}]]
    assert count(db_session, Person) == 3
    db_session.refresh(person)
    assert person.title == ""
    assert person.phone == "0391 999"


def test_update_empty_fills_only_empty_fields(staff, db_session):
    org, person = _existing(db_session)
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")
    start(staff, db_session, job, policy="update_empty")
    assert job.counts["update"] == 1
    db_session.refresh(person)
    db_session.refresh(org)
    assert person.phone == "0391 999"  # kept
    assert person.salutation == "herr"  # filled
    assert person.notes == "Bedarf: 2 Schweißer"
    assert org.street == "Große Straße 12"
    assert org.city == "Schönebeck (Elbe)"
    assert "schoenebeck" in org.search_text
    assert count(db_session, Person) == 3
    assert len(person.affiliations) == 1  # already linked, not linked twice


def test_create_anyway_creates_a_second_record(staff, db_session):
    _existing(db_session)
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")
    start(staff, db_session, job, policy="create")
    assert job.counts["create"] == 3
    assert count(db_session, Person) == 4
    # The firm itself is reused: people named at an existing organisation are linked to it.
    assert count(db_session, Organisation) == 3


def test_rows_naming_the_same_firm_share_one_new_organisation(staff, db_session):
    data = csv_bytes(
        "Firma;PLZ;Vorname;Nachname;Schlagworte",
        [
            "Harz Holz GmbH;38820;Anna;Ast;Messe, Holz",
            "Harz Holz GmbH;38820;Bert;Borke;Messe",
            "Harz Holz;38820;Anna;Ast;",
        ],
    )
    job = upload_job(staff, db_session, "firma.csv", data)
    start(staff, db_session, job)
    assert count(db_session, Organisation) == 1
    assert count(db_session, Person) == 2
    assert job.report["rows"][2][1] == "skip"  # same name at the same (new) firm: record 1
    assert ["dup_line", {"line": 1}] in job.report["rows"][2][2]
    assert sorted(t.name for t in db_session.scalars(sa.select(Tag))) == ["Holz", "Messe"]


# --- all or nothing, undo ------------------------------------------------------------------------


def test_a_failure_in_the_middle_leaves_the_database_as_before(staff, db_session, monkeypatch):
    rows = [f"Firma {i // 3};Vorname{i};Nachname{i};p{i}@example.org" for i in range(1500)]
    job = upload_job(
        staff, db_session, "gross.csv", csv_bytes("Firma;Vorname;Nachname;E-Mail", rows)
    )
    before = counts(db_session)
    real = importer.person_search_text
    calls = {"n": 0}

    def failing(person, organisations=()):
        calls["n"] += 1
        if calls["n"] == 1200:  # after the first batch of 1,000 rows was written
            raise RuntimeError("disk full")
        return real(person, organisations)

    monkeypatch.setattr(importer, "person_search_text", failing)
    response = start(staff, db_session, job)
    assert response.status_code == 302
    assert calls["n"] == 1200
    assert job.status == "failed"
    assert job.message
    assert counts(db_session) == before
    assert count(db_session, ImportItem) == 0
    # The rollback left the search index machinery as it was: new people are found.
    later = service.save_person(db_session, {"first_name": "Danach", "last_name": "Gespeichert"})
    db_session.commit()
    assert _found(db_session, Person, "danach gespeichert") == [later]


def test_undo_removes_exactly_what_the_import_created_and_filled(staff, db_session):
    org, person = _existing(db_session)
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")
    start(staff, db_session, job, policy="update_empty")
    assert count(db_session, Person) == 3
    # Someone edits a filled field after the import: that edit must survive the undo.
    db_session.refresh(org)
    org.city = "Schönebeck"
    db_session.commit()
    audits = count(db_session, AuditEntry)

    response = staff.post(f"{BASE}{job.id}/rueckgaengig")
    assert response.status_code == 302
    db_session.expire_all()
    assert job.status == "undone"
    assert [p.id for p in db_session.scalars(sa.select(Person))] == [person.id]
    assert [o.id for o in db_session.scalars(sa.select(Organisation))] == [org.id]
    assert (person.salutation, person.notes, person.phone) == ("", "", "0391 999")
    assert org.street == ""
    assert org.city == "Schönebeck"
    assert "grosse" not in org.search_text
    assert len(person.affiliations) == 1
    entries = db_session.scalars(
        sa.select(AuditEntry).where(AuditEntry.id > 0).order_by(AuditEntry.id.desc())
    ).all()
    assert count(db_session, AuditEntry) == audits + 1
    assert entries[0].action == "import_undo"
    assert job.file_removed_at is not None
    assert count(db_session, JobFile) == 0

    again = staff.post(f"{BASE}{job.id}/rueckgaengig", follow_redirects=True)
    assert again.status_code == 200
    assert count(db_session, Person) == 1
    assert count(db_session, AuditEntry) == audits + 1


def test_a_run_writes_one_audit_entry_not_one_per_row(staff, db_session):
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")
    before = count(db_session, AuditEntry)
    start(staff, db_session, job)
    entries = db_session.scalars(
        sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(count(db_session, AuditEntry)
                                                                   - before)
    ).all()  # fmt: skip
    assert [e.action for e in entries] == ["import"]
    assert entries[0].actor_id == staff.user.id
    assert entries[0].changes["counts"]["people"] == 3


def test_the_import_list_shows_past_jobs_with_an_undo_button(staff, db_session):
    job = upload_job(staff, db_session, "utf8_bom.csv")
    start(staff, db_session, job)
    page = staff.get(BASE).get_data(as_text=True)
    assert "utf8_bom.csv" in page
    assert f"{BASE}{job.id}/rueckgaengig" in page


# --- bad files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bild_als_csv.csv", None, "keine CSV- oder Excel-Datei"),
        ("empty.csv", None, "Die Datei ist leer."),
        ("alt.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "alten Excel-Format"),
        ("kaputt.xlsx", b"PK\x03\x04" + b"kaputt" * 50, "beschädigt"),
    ],
)
def test_bad_files_get_a_clear_german_message(staff, db_session, name, data, message):
    response = upload(staff, name, data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert count(db_session, ImportJob) == 0


def test_a_file_above_the_size_limit_is_refused_by_the_service(staff, db_session, monkeypatch):
    monkeypatch.setitem(staff.application.config, "CRM_MAX_UPLOAD_MB", 1)
    data = csv_bytes("Firma;Nachname", [f"Firma {i};Name {i}" for i in range(60000)])
    assert len(data) > 1024 * 1024
    response = upload(staff, "gross.csv", data)
    assert response.status_code == 400
    assert "größer als 1 MB" in response.get_data(as_text=True)


def test_a_request_above_the_upload_limit_gets_the_413_page(staff, monkeypatch):
    monkeypatch.setitem(staff.application.config, "MAX_CONTENT_LENGTH", 1000)
    response = upload(staff, "gross.csv", b"Firma;Nachname\n" + b"x;y\n" * 1000)
    assert response.status_code == 413


def test_a_missing_sheet_gets_a_german_message(staff, db_session):
    job = upload_job(staff, db_session, "two_sheets.xlsx")
    response = staff.get(f"{BASE}{job.id}?blatt=Gibtsnicht", follow_redirects=True)
    assert "„Gibtsnicht“ gibt es in dieser Datei nicht" in response.get_data(as_text=True)


# --- permissions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["readonly", "counsellor"])
def test_roles_without_the_import_permission_get_403(client_as, role):
    c = client_as(role)
    assert c.get(BASE).status_code == 403
    assert upload(c, "utf8_bom.csv").status_code == 403


@pytest.mark.parametrize("role", ["staff", "lead", "admin"])
def test_staff_lead_and_admin_can_import(client_as, db_session, role):
    c = client_as(role)
    assert c.get(BASE).status_code == 200
    job = upload_job(c, db_session, "utf8_bom.csv")
    start(c, db_session, job)
    assert job.status == "done"


def test_posts_without_csrf_token_are_refused(staff, db_session):
    job = upload_job(staff, db_session, "utf8_bom.csv")
    response = staff.post(f"{BASE}{job.id}", data={"run": "1"}, csrf=False)
    assert response.status_code == 400
    assert db_session.get(ImportJob, job.id).status == "uploaded"


# --- background run ------------------------------------------------------------------------------


@pytest.fixture
def background_app(make_database, tmp_path):
    """A separate app on a fresh database: the worker uses connections of its own."""
    from flask_migrate import upgrade

    application = build_app(make_database(), str(tmp_path))
    application.test_client_class = CSRFClient
    with application.app_context():
        upgrade()
        user = factories.make_user(db.session, role="staff")
        db.session.commit()
        email = user.email
    yield application, email
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_large_file_runs_in_a_worker_with_progress_reaching_100_percent(background_app):
    application, email = background_app
    client = application.test_client()
    assert login(client, email).status_code == 302
    rows = [f"Firma {i // 4};Vorname{i};Nachname{i};p{i}@example.org" for i in range(1200)]
    response = upload(client, "gross.csv", csv_bytes("Firma;Vorname;Nachname;E-Mail", rows))
    job_url = response.headers["Location"]
    job_id = int(job_url.rstrip("/").rsplit("/", 1)[1])
    data = {"col_0": "org_name", "col_1": "first_name", "col_2": "last_name",
            "col_3": "email", "policy": "skip", "sheet": "", "run": "1"}  # fmt: skip
    assert client.post(job_url, data=data).status_code == 302
    # Queued, not run by the request: the page waits for a worker and polls.
    page = client.get(job_url).get_data(as_text=True)
    assert "<progress" in page
    assert "data-hx-trigger" in page
    with application.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Person.id))) == 0

    assert run_jobs(application, side_connections=True) == 1
    status = client.get(f"{job_url}/status", headers={"HX-Request": "true"})
    assert status.headers.get("HX-Refresh") == "true"
    body = status.get_data(as_text=True)
    assert 'value="1200"' in body
    assert "100" in body
    assert "hx-trigger" not in body  # polling stops
    with application.app_context():
        job = db.session.get(ImportJob, job_id)
        assert job.status == "done", job.message
        assert job.counts["people"] == 1200
        assert db.session.scalar(sa.select(sa.func.count(Person.id))) == 1200
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "import"))
        assert entry.actor_label == email  # the user who started it, not "worker"
        background = db.session.scalar(sa.select(BackgroundJob))
        assert (background.status, background.progress_done) == ("done", 1200)


def test_a_running_job_shows_a_progress_bar_that_polls_its_status(staff, db_session):
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")
    job.status = "running"
    job.row_count = 4000
    db_session.add(
        BackgroundJob(
            kind="contacts.import",
            status="running",
            subject_type="import_job",
            subject_id=job.id,
            progress_done=1500,
            progress_total=4000,
            progress_message="Zeilen werden importiert",
        )
    )
    db_session.commit()
    body = staff.get(f"{BASE}{job.id}/status").get_data(as_text=True)
    assert 'data-hx-trigger="every 1s"' in body
    assert f'data-hx-get="{BASE}{job.id}/status"' in body
    assert 'max="4000" value="1500"' in body
    assert 'aria-live="polite"' in body
    assert "1500" in body
    assert "38 %" in body
    assert "Zeilen werden importiert" in body
    # Without JavaScript a plain link reloads the page.
    assert f'href="{BASE}{job.id}"' in body
    page = staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert 'aria-label="' in page
    assert "<progress" in page


def test_an_import_never_gives_a_new_person_the_id_of_a_deleted_one(staff, db_session):
    from tests.factories import make_person

    gone = make_person(db_session)
    db_session.commit()
    gone_id = gone.id
    db_session.delete(gone)
    db_session.commit()
    job = upload_job(
        staff,
        db_session,
        "neu.csv",
        csv_bytes("Vorname;Nachname;E-Mail", ["Ida;Neu;ida@example.org"]),
    )
    assert start(staff, db_session, job).status_code == 302
    assert person_by_email(db_session, "ida@example.org").id > gone_id


def test_a_dry_run_that_crashed_in_the_worker_says_so_and_offers_the_mapping_again(
    staff, db_session, monkeypatch
):
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")

    def crash(*_args, **_kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(importer, "dry_run_job", crash)
    assert start(staff, db_session, job, action="dry_run").status_code == 302
    background = db_session.scalar(sa.select(BackgroundJob))
    assert background.status == "failed"
    page = staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert "Der letzte Probelauf ist an einem Fehler bei uns gescheitert" in page
    assert 'name="dry_run"' in page  # the form is back


# --- columns without a field, record numbers -----------------------------------------------------

UNMAPPED_CSV = csv_bytes(
    "Vorname;Nachname;E-Mail;Lieblingsfarbe;Leer",
    [
        "Anna;Gut;anna@gut.example;blau;",
        "Bernd;Brot;bernd@brot.example;;",
        "Clara;Korn;clara@korn.example;grün;",
    ],
)


def _start_keeping_unmapped(client, session, job: ImportJob, action: str) -> None:
    session.refresh(job)
    data = {f"col_{i}": (key or "") for i, key in enumerate(job.mapping.values())}
    data.update(policy="skip", sheet=job.sheet, keep_unmapped="y", **{action: "1"})
    assert client.post(f"{BASE}{job.id}", data=data).status_code == 302
    run_jobs(client.application)
    session.expire_all()


def test_the_dry_run_lists_unmapped_columns_that_hold_data(staff, db_session):
    job = upload_job(staff, db_session, "farben.csv", UNMAPPED_CSV)
    assert job.mapping["Lieblingsfarbe"] is None

    start(staff, db_session, job, action="dry_run")

    assert job.report["unmapped"] == {"Lieblingsfarbe": 2}  # "Leer" holds nothing
    page = staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert "Diese Spalten enthalten Daten, werden aber nicht importiert" in page
    assert "„Lieblingsfarbe“: Werte in 2 Datensätzen" in page


def test_unmapped_columns_can_be_kept_in_the_records_notes(staff, db_session):
    job = upload_job(staff, db_session, "farben.csv", UNMAPPED_CSV)

    _start_keeping_unmapped(staff, db_session, job, "run")

    assert job.status == "done"
    assert person_by_email(db_session, "anna@gut.example").notes == "Lieblingsfarbe: blau"
    assert person_by_email(db_session, "bernd@brot.example").notes == ""
    assert job.report["unmapped"] == {}


def test_the_report_numbers_records_not_file_lines(staff, db_session):
    # The first record's address spans three lines of the file: the broken e-mail address is
    # in the 2nd record, which starts on line 5.
    data = csv_bytes(
        "Vorname;Nachname;E-Mail;Notizen",
        [
            'Anna;Gut;anna@gut.example;"erste Zeile',
            "zweite Zeile",
            'dritte Zeile"',
            "Bob;Böse;bob@@x;",
        ],
    )
    job = upload_job(staff, db_session, "mehrzeilig.csv", data)

    start(staff, db_session, job, action="dry_run")

    assert [(number, outcome) for number, outcome, _ in job.report["rows"]] == [
        (1, "create"),
        (2, "reject"),
    ]
    page = staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert '<th scope="col">Datensatz</th>' in page


def test_an_unknown_kind_of_organisation_is_named_in_the_dry_run_report(staff, db_session):
    """The kind was silently replaced by „Sonstige“; the report now says which record and
    which value, so it can be added under Organisationsarten before the run."""
    data = csv_bytes(
        "Organisation;Art;Vorname;Nachname",
        [
            "Bäckerei Schäfer GmbH;Arbeitgeber;Jürgen;Größmann",
            "Elektro Krüger;Fantasieart;Maik;Krüger",
            "Stadtwerke Staßfurt;Fantasieart;;",
        ],
    )
    job = upload_job(staff, db_session, "arten.csv", data)
    start(staff, db_session, job, action="dry_run")
    reasons = {number: [code for code, _params in why] for number, _o, why in job.report["rows"]}
    assert "unknown_kind" not in reasons[1]
    assert "unknown_kind" in reasons[2]
    assert "unknown_kind" in reasons[3]
    page = staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert "Unbekannte Art der Organisation „Fantasieart“: als „Sonstige“ angelegt." in page


def test_the_import_summary_says_1_person_and_1_organisation_in_the_singular(staff, db_session):
    data = csv_bytes(
        "Firma;Vorname;Nachname;E-Mail",
        [
            "Zahnarztpraxis Ößwald;Petra;Ößwald;praxis@oesswald.de",
            "Stadtwerke Burg;Tom;Tänzer;tom@",
        ],
    )
    job = upload_job(staff, db_session, "eine_zeile.csv", data)
    start(staff, db_session, job)

    expected = "1 Person, 1 Organisation angelegt; 0 ergänzt; 0 übersprungen; 1 abgelehnt"
    assert expected in staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert expected in staff.get(BASE).get_data(as_text=True)
