"""Import limits: files built to exhaust memory or CPU are refused while they are read.

Every bomb is generated here, never stored. Each is refused within a stated time and memory
bound: the time is the wall clock around the read, the memory the peak that `tracemalloc`
sees while reading (what the reader allocates, on top of the file already in memory).
"""

from __future__ import annotations

import csv
import gc
import io
import itertools
import time
import tracemalloc
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from crm.contacts import service, tabular
from crm.contacts.import_models import ImportJob
from crm.contacts.models import Person
from crm.contacts.tabular import ImportFileError, Limits, read_table
from crm.extensions import db
from tests import factories
from tests.conftest import CSRFClient, build_app, login
from tests.job_helpers import run_jobs
from tests.test_contacts_import import (
    BASE,
    count,
    csv_bytes,
    person_by_email,
    start,
    upload,
    upload_job,
)

MB = 1024 * 1024

_NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PARTS = {
    "[Content_Types].xml": b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas'
    b'.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="a'
    b'pplication/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" Conte'
    b'ntType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="applicatio'
    b'n/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="'
    b'/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.sp'
    b'readsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="app'
    b'lication/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    "_rels/.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schema'
    b's.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
    + _REL
    + b'/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": b'<?xml version="1.0" encoding="UTF-8"?><workbook '
    + _NS
    + b' xmlns:r="'
    + _REL
    + b'"><sheets><sheet name="Kontakte" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmln'
    b's="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1"'
    b' Type="' + _REL + b'/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
    b'Type="' + _REL + b'/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
}


def xlsx_parts(sheet: Iterable[bytes], strings: Iterable[bytes]) -> bytes:
    """A minimal workbook whose sheet and shared-string XML are streamed into the archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in _PARTS.items():
            archive.writestr(name, data)
        for name, chunks in (
            ("xl/worksheets/sheet1.xml", sheet),
            ("xl/sharedStrings.xml", strings),
        ):
            with archive.open(name, "w", force_zip64=True) as part:
                for chunk in chunks:
                    part.write(chunk)
    return buffer.getvalue()


def sheet_xml(rows: int) -> Iterator[bytes]:
    """A header row (Firma, then the shared string 0), then `rows` one-cell rows.

    The used range says A1:B2, as a careless writer would leave it: the reader must not trust it.
    """
    yield (
        b"<worksheet "
        + _NS
        + b'><dimension ref="A1:B2"/><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Firma'
        b'</t></is></c><c r="B1" t="s"><v>0</v></c></row>'
    )
    block = b'<row><c t="inlineStr"><is><t>Acme</t></is></c></row>' * 10_000
    for _ in range(rows // 10_000):
        yield block
    yield b"</sheetData></worksheet>"


def shared_strings(megabytes: int) -> Iterator[bytes]:
    """One shared string of `megabytes` MB (the header of column B)."""
    yield b"<sst " + _NS + b' count="1" uniqueCount="1"><si><t>Notiz'
    chunk = b"A" * MB
    for _ in range(megabytes):
        yield chunk
    yield b"</t></si></sst>"


def _read_to_the_end(data: bytes, filename: str, limits: Limits) -> None:
    with read_table(data, filename, limits=limits) as table:
        for _record in table.iter_records():
            pass


def refusal(data: bytes, filename: str, **limits: int) -> tuple[ImportFileError, float, float]:
    """Read the file to its end; return the refusal, CPU seconds taken and peak MB allocated.

    CPU time of this thread, not wall time, and no garbage collection of the whole test
    process inside the measurement: the bound is about the read, not the machine's load.
    """
    gc.collect()
    gc.disable()
    tracemalloc.start()
    started = time.thread_time()
    try:
        with pytest.raises(ImportFileError) as caught:
            _read_to_the_end(data, filename, Limits(**limits))
        seconds = time.thread_time() - started
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    return caught.value, seconds, peak / MB


# --- XLSX bombs ---------------------------------------------------------------------------------


def test_an_xlsx_with_a_300_mb_shared_string_is_refused_before_it_is_unpacked():
    bomb = xlsx_parts(sheet_xml(0), shared_strings(300))
    assert len(bomb) < 400 * 1024  # about 300 KB on disk, as in the review
    error, seconds, peak_mb = refusal(bomb, "kontakte.xlsx")
    assert error.code == "unpacked_too_large"
    assert "entpackt 300 MB groß" in error.message
    assert "höchstens 100 MB" in error.message
    assert seconds < 1.0
    assert peak_mb < 5


def test_an_xlsx_with_five_million_rows_is_refused_before_it_is_unpacked():
    bomb = xlsx_parts(sheet_xml(5_000_000), shared_strings(0))
    assert len(bomb) < 2 * MB
    error, seconds, peak_mb = refusal(bomb, "kontakte.xlsx")
    assert error.code == "unpacked_too_large"
    assert seconds < 1.0
    assert peak_mb < 5


def test_an_xlsx_packed_more_than_the_allowed_ratio_is_refused():
    # 300,000 rows unpack to 15 MB: below the size limit, but 400 times their packed size.
    bomb = xlsx_parts(sheet_xml(300_000), shared_strings(0))
    error, seconds, peak_mb = refusal(bomb, "kontakte.xlsx")
    assert error.code == "compression_ratio"
    assert "mehr als 100-fach" in error.message
    assert seconds < 1.0
    assert peak_mb < 5


def test_a_zip_of_20000_empty_parts_is_refused_before_its_directory_is_read():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in _PARTS.items():
            archive.writestr(name, data)
        for i in range(20_000):
            archive.writestr(f"xl/media/teil{i}.bin", b"")
    error, seconds, peak_mb = refusal(buffer.getvalue(), "kontakte.xlsx")
    assert error.code == "too_many_parts"
    assert "ungewöhnlich vielen Teilen" in error.message
    assert seconds < 0.5
    assert peak_mb < 5


def test_xlsx_rows_beyond_the_row_limit_are_refused_while_streaming():
    bomb = xlsx_parts(sheet_xml(50_000), shared_strings(0))
    error, seconds, peak_mb = refusal(bomb, "kontakte.xlsx", max_rows=1_000, max_ratio=10**6)
    assert error.code == "too_many_rows"
    assert "mehr als 1.000 Zeilen" in error.message
    # Refused at row 1,002 of 50,001: the rest of the sheet is never read.
    assert seconds < 2.0
    assert peak_mb < 20


def test_an_xlsx_value_beyond_the_column_limit_is_refused_but_empty_formatted_cells_are_not():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Firma", "Nachname"])
    sheet.append(["Acme", "Muster"])
    sheet.cell(row=2, column=300).number_format = "0.00"  # formatted, empty
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = read_table(buffer.getvalue(), "k.xlsx")
    assert [r.values for r in table.iter_records()] == [{"Firma": "Acme", "Nachname": "Muster"}]
    sheet.cell(row=2, column=300, value="x")
    buffer = io.BytesIO()
    workbook.save(buffer)
    error, _seconds, _peak = refusal(buffer.getvalue(), "k.xlsx")
    assert error.code == "too_many_columns"
    assert "Zeile 2 hat mehr als 200 Spalten" in error.message


def test_an_xlsx_cell_longer_than_the_limit_is_refused():
    workbook = Workbook()
    workbook.active.append(["Firma", "Notiz"])
    workbook.active.append(["Acme", "x" * 20_000])
    buffer = io.BytesIO()
    workbook.save(buffer)
    error, _seconds, _peak = refusal(buffer.getvalue(), "k.xlsx")
    assert error.code == "cell_too_long"
    assert "Zeile 2 enthält einen Wert mit mehr als 10.000 Zeichen" in error.message


# --- CSV bombs ----------------------------------------------------------------------------------


def test_a_csv_with_100000_columns_is_refused_at_its_first_line():
    bomb = (";".join(f"Spalte{i}" for i in range(100_000)) + "\nAcme\n").encode()
    assert len(bomb) > MB
    error, seconds, peak_mb = refusal(bomb, "kontakte.csv")
    assert error.code == "too_many_columns"
    assert "Zeile 1 hat mehr als 200 Spalten" in error.message
    assert seconds < 1.0
    assert peak_mb < 30


def test_a_csv_with_more_rows_than_the_limit_is_refused_before_it_is_split():
    bomb = b"Firma;Nachname\n" + b"a;b\n" * 300_000
    error, seconds, peak_mb = refusal(bomb, "kontakte.csv")
    assert error.code == "too_many_rows"
    assert "mehr als 200.000 Zeilen" in error.message
    assert seconds < 1.0
    assert peak_mb < 5


@pytest.mark.parametrize(
    "cell",
    [b"x" * 1_000_000, b'"' + b"x" * 20_000 + b'"'],
    ids=["one-megabyte-unquoted", "20000-characters-quoted"],
)
def test_a_csv_cell_longer_than_the_limit_is_refused(cell):
    bomb = b"Firma;Notiz\nAcme;" + cell + b"\n"
    error, seconds, peak_mb = refusal(bomb, "kontakte.csv")
    assert error.code == "cell_too_long"
    assert "Zeile 2 enthält einen Wert mit mehr als 10.000 Zeichen" in error.message
    assert seconds < 1.0
    assert peak_mb < 20


def test_files_within_the_limits_are_read_as_before():
    data = b"Firma;Notiz\n" + b"Acme;" + b"x" * 10_000 + b"\n" + b"a;b\n" * 1_000
    table = read_table(data, "k.csv", limits=Limits(max_rows=1_001, max_columns=2))
    assert table.row_count == 1_001


# --- through the pages --------------------------------------------------------------------------


@pytest.fixture
def staff(client_as):
    return client_as("staff")


def test_a_refused_upload_gets_a_german_message_naming_the_limit_and_creates_no_job(
    staff, db_session
):
    wide = ";".join(f"Spalte {i}" for i in range(300)) + "\n" + ";".join(["Acme"] * 300) + "\n"
    response = upload(staff, "breit.csv", wide.encode())
    assert response.status_code == 400
    assert "Zeile 1 hat mehr als 200 Spalten" in response.get_data(as_text=True)
    assert count(db_session, ImportJob) == 0


def test_the_row_limit_comes_from_the_configuration(staff, db_session, monkeypatch):
    monkeypatch.setitem(staff.application.config, "CRM_IMPORT_MAX_ROWS", 5)
    data = csv_bytes("Firma;Nachname", [f"Firma {i};Name {i}" for i in range(6)])
    response = upload(staff, "lang.csv", data)
    assert response.status_code == 400
    assert "Die Datei hat mehr als 5 Zeilen." in response.get_data(as_text=True)
    assert upload(staff, "kurz.csv", data[: data.rindex(b"Firma 5")]).status_code == 302


def test_the_preview_truncates_long_cells(staff, db_session):
    note = "Sehr lange Notiz " + "x" * 5_000
    job = upload_job(staff, db_session, "notiz.csv", csv_bytes("Firma;Notiz", [f"Acme;{note}"]))
    page = staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert note[:79] + "…" in page
    assert "x" * 100 not in page


def test_a_nul_byte_in_a_cell_rejects_that_row_with_a_german_reason(staff, db_session):
    data = csv_bytes(
        "Firma;Vorname;Nachname;E-Mail",
        [
            "Acme;Anna;Alt;anna@acme.example",
            "Acme;Bert;Bo\x00se;bert@acme.example",
            "Acme;Cleo;Clou;cleo@acme.example",
        ],
    )
    job = upload_job(staff, db_session, "nul.csv", data)
    start(staff, db_session, job)
    assert job.status == "done", job.message
    assert (job.counts["create"], job.counts["reject"]) == (2, 1)
    reason = (
        "„Nachname“ enthält ein NUL-Zeichen (ein Steuerzeichen, das nicht gespeichert werden kann)."
    )
    assert reason in staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert person_by_email(db_session, "bert@acme.example") is None
    rows = rejected_csv(staff, job)
    assert rows[1][-1] == reason


def rejected_csv(client, job: ImportJob) -> list[list[str]]:
    text = client.get(f"{BASE}{job.id}/abgelehnt.csv").get_data().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_the_rejected_rows_csv_gives_its_reasons_in_german(staff, db_session):
    data = csv_bytes("Firma;Nachname;E-Mail", ["Acme;Alt;alt@@acme", "Acme;Neu;neu@acme.example"])
    job = upload_job(staff, db_session, "werte.csv", data)
    start(staff, db_session, job)
    rows = rejected_csv(staff, job)
    assert rows[0][-1] == "Grund"
    assert rows[1][-1] == "Ungültige E-Mail-Adresse „alt@@acme“."


def test_the_summary_shows_the_number_of_updated_rows_not_a_dict_method(staff, db_session):
    existing = service.save_person(db_session, {"last_name": "Alt", "email": "alt@acme.example"})
    db_session.commit()
    data = csv_bytes("Nachname;E-Mail;Telefon", ["Alt;alt@acme.example;0391 123"])
    job = upload_job(staff, db_session, "ergaenzen.csv", data)
    start(staff, db_session, job, policy="update_empty")
    assert job.counts["update"] == 1, job.report
    assert db_session.get(Person, existing.id).phone == "0391 123"
    page = staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert "built-in method" not in page
    assert "Ergänzung: <strong>1</strong>" in page
    assert "Neu: <strong>0</strong>" in page


# --- SQLite's write lock ------------------------------------------------------------------------


@pytest.fixture
def fresh_app(make_database, tmp_path):
    """An app on its own database: the write from another connection needs real commits."""
    from flask_migrate import upgrade

    url = make_database()
    application = build_app(url, str(tmp_path))
    application.test_client_class = CSRFClient
    with application.app_context():
        upgrade()
        user = factories.make_user(db.session, role="staff")
        db.session.commit()
        email = user.email
    client = application.test_client()
    assert login(client, email).status_code == 302
    yield client, application, url
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _write_from_another_connection(app, url: str) -> bool:
    """Whether another connection can write at once (SQLite: take the write lock and commit)."""
    with app.app_context():
        raw = sa.create_engine(url, poolclass=sa.pool.NullPool).raw_connection()
    try:
        cursor = raw.cursor()
        if url.startswith("sqlite"):
            cursor.execute("PRAGMA busy_timeout=200")
            cursor.execute("BEGIN IMMEDIATE")
        else:
            cursor.execute("SET lock_timeout = '200ms'")
        cursor.execute("UPDATE user_account SET locale = locale")
        raw.commit() if not url.startswith("sqlite") else cursor.execute("COMMIT")
        return True
    except Exception:  # noqa: BLE001 - "database is locked" or a lock timeout: the answer
        return False
    finally:
        raw.close()


@pytest.fixture
def writes_while_parsing(fresh_app, monkeypatch):
    """Try a write from another connection at every 500th row the reader parses."""
    _client, application, url = fresh_app
    results: list[bool] = []
    original, calls = tabular._fit, itertools.count(1)

    def fit(cells: list[str], width: int, *, short_is_problem: bool) -> Any:
        if next(calls) % 500 == 0:
            results.append(_write_from_another_connection(application, url))
        return original(cells, width, short_is_problem=short_is_problem)

    monkeypatch.setattr(tabular, "_fit", fit)
    return results


def _big_upload(client) -> str:
    rows = [f"Firma {i // 4};Vorname{i};Nachname{i};p{i}@example.org" for i in range(1_200)]
    response = upload(client, "gross.csv", csv_bytes("Firma;Vorname;Nachname;E-Mail", rows))
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


MAPPING = {"col_0": "org_name", "col_1": "first_name", "col_2": "last_name", "col_3": "email",
           "policy": "skip", "sheet": ""}  # fmt: skip


def test_while_an_upload_is_parsed_another_connection_can_write(fresh_app, writes_while_parsing):
    _big_upload(fresh_app[0])
    assert writes_while_parsing
    assert all(writes_while_parsing), writes_while_parsing


def test_while_a_dry_run_parses_the_file_another_connection_can_write(
    fresh_app, writes_while_parsing
):
    client = fresh_app[0]
    job_url = _big_upload(client)
    writes_while_parsing.clear()
    assert client.post(job_url, data={**MAPPING, "dry_run": "1"}).status_code == 302
    assert run_jobs(fresh_app[1], side_connections=True) == 1
    assert writes_while_parsing
    assert all(writes_while_parsing), writes_while_parsing
    assert "Probelauf" in client.get(job_url).get_data(as_text=True)


def test_while_an_import_parses_the_file_another_connection_can_write(
    fresh_app, writes_while_parsing
):
    client, application, _url = fresh_app
    job_url = _big_upload(client)
    writes_while_parsing.clear()
    assert client.post(job_url, data={**MAPPING, "run": "1"}).status_code == 302
    assert run_jobs(application, side_connections=True) == 1
    assert writes_while_parsing
    assert all(writes_while_parsing), writes_while_parsing
    with application.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Person.id))) == 1_200


def test_a_file_beyond_a_limit_lowered_after_its_upload_is_refused_on_start_not_with_a_500(
    staff, db_session, monkeypatch
):
    data = csv_bytes("Firma;Nachname", [f"Firma {i};Name {i}" for i in range(10)])
    job = upload_job(staff, db_session, "zehn.csv", data)
    monkeypatch.setitem(staff.application.config, "CRM_IMPORT_MAX_ROWS", 5)
    response = start(staff, db_session, job)
    assert response.status_code == 302
    page = staff.get(response.headers["Location"], follow_redirects=True)
    assert "Die Datei hat mehr als 5 Zeilen." in page.get_data(as_text=True)
    assert job.status == "uploaded"
    assert count(db_session, Person) == 0
