"""Reading uploaded CSV and XLSX files for the contact import."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import Workbook

from crm.contacts.tabular import (
    MAX_BYTES,
    ImportFileError,
    _human_size,
    detect_delimiter,
    detect_encoding,
    read_table,
    suggest_mapping,
)

DATA = Path(__file__).parent / "data" / "imports"


def read(name: str, **kwargs: object) -> object:
    return read_table((DATA / name).read_bytes(), name, **kwargs)


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def error_of(data: bytes, filename: str = "kontakte.csv", **kwargs: object) -> ImportFileError:
    with pytest.raises(ImportFileError) as caught:
        read_table(data, filename, **kwargs)
    return caught.value


# --- real-world shaped files ------------------------------------------------------------------


def test_excel_german_csv_with_semicolons_and_windows_1252_is_read() -> None:
    table = read("excel_de_semikolon_cp1252.csv")
    assert (table.kind, table.encoding, table.delimiter) == ("csv", "cp1252", ";")
    assert table.headers[6] == "Straße"
    records = list(table.iter_records())
    assert [r.line for r in records] == [2, 3, 4]  # the trailing ";;;;" row is skipped
    first = records[0].values
    assert first["Nachname"] == "Müller"
    assert first["Ort"] == "Schönebeck (Elbe)"
    assert first["Straße"] == "Große Straße 12"
    assert records[1].values["PLZ"] == "06108"
    assert records[1].values["Bemerkung"] == "Sucht Verkäufer; ab sofort"
    assert records[2].values["Bemerkung"] == "Preis 50 €"
    assert all(r.problem is None for r in records)
    assert table.row_count == 3


def test_utf8_file_with_byte_order_mark_is_read_without_bom_in_first_header() -> None:
    table = read("utf8_bom.csv")
    assert table.encoding == "utf-8-sig"
    assert table.headers[0] == "Unternehmen"
    names = [(r.values["Vorname"], r.values["Nachname"]) for r in table.iter_records()]
    assert names == [("Łukasz", "Nowak"), ("Ayşe", "Çelik")]


def test_english_comma_file_keeps_quoted_commas_in_values() -> None:
    table = read("english_comma.csv")
    assert (table.encoding, table.delimiter) == ("utf-8", ",")
    first = next(table.iter_records()).values
    assert first["Company"] == "Schmidt, Bauer & Partner GmbH"
    assert first["Street"] == "Hauptstraße 7, Hinterhaus"


def test_english_headers_are_mapped_to_fields() -> None:
    table = read("english_comma.csv")
    assert suggest_mapping(table.headers) == {
        "Company": "org_name",
        "Salutation": "salutation",
        "First name": "first_name",
        "Last name": "last_name",
        "Job title": "function",
        "Email": "email",
        "Phone": "phone",
        "Street": "street",
        "Zip": "postcode",
        "City": "city",
    }


def test_tab_separated_text_file_is_read() -> None:
    table = read("tabulator.txt")
    assert table.delimiter == "\t"
    assert [r.values["Ort"] for r in table.iter_records()] == ["Stendal", "Tangermünde"]


def test_broken_rows_are_yielded_with_a_reason_and_do_not_stop_the_file() -> None:
    table = read("broken_rows.csv")
    records = list(table.iter_records())
    by_line = {r.line: r for r in records}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 9]
    assert by_line[2].problem is None
    assert by_line[3].problem == "Die Zeile hat 3 statt 4 Spalten."
    assert by_line[3].values["E-Mail"] == ""  # padded, so every header has a value
    assert "5 statt 4 Spalten" in by_line[4].problem
    assert by_line[5].problem == "Ein Anführungszeichen in dieser Zeile wird nicht geschlossen."
    assert by_line[5].values["Firma"] == "Delta e.V."
    # Recovery: the rows after the unclosed quote are read normally.
    assert by_line[6].problem is None
    assert by_line[6].values["Nachname"] == "Engel"
    assert by_line[7].values["Nachname"] == "Zimmer\nverh. Zander"
    assert by_line[7].problem is None
    assert by_line[9].values["Nachname"] == "Ehrlich"


def test_unclosed_quote_in_the_last_row_costs_only_that_row() -> None:
    data = b'Vorname;Nachname\nAnna;Berg\n"Bernd;Bauer\n'
    records = list(read_table(data, "x.csv").iter_records())
    assert [(r.line, r.problem is None) for r in records] == [(2, True), (3, False)]


def test_legitimate_multiline_notes_are_kept_together() -> None:
    data = b'Name;Notiz\r\nBerg;"Zeile 1\r\nZeile 2; mit Semikolon"\r\nAlt;kurz\r\n'
    records = list(read_table(data, "x.csv").iter_records())
    assert records[0].values["Notiz"] == "Zeile 1\r\nZeile 2; mit Semikolon"
    assert (records[1].line, records[1].values["Name"]) == (4, "Alt")


def test_xlsx_first_sheet_is_read_with_excel_like_cell_text() -> None:
    table = read("two_sheets.xlsx")
    assert table.kind == "xlsx"
    assert table.sheet_names == ["Arbeitgeber", "Ansprechpartner"]
    assert table.sheet == "Arbeitgeber"
    rows = [r.values for r in table.iter_records()]
    assert rows[0]["Ort"] == "Schönebeck (Elbe)"
    assert rows[0]["Mitarbeitende"] == "45"
    assert rows[1]["Mitarbeitende"] == "7"  # 7.0 in the file, no ".0"
    assert rows[1]["PLZ"] == "06108"  # number 6108 with the "00000" postcode format
    assert rows[0]["Letzter Kontakt"] == "01.03.2024"
    table.close()


def test_xlsx_second_sheet_is_read_when_chosen_and_blank_rows_are_skipped() -> None:
    with read("two_sheets.xlsx", sheet="Ansprechpartner") as table:
        records = list(table.iter_records())
    assert [(r.line, r.values["Nachname"]) for r in records] == [(2, "Müller"), (4, "Groß")]


def test_missing_sheet_names_the_sheets_that_exist() -> None:
    data = (DATA / "two_sheets.xlsx").read_bytes()
    error = error_of(data, "liste.xlsx", sheet="Tabelle1")
    assert error.code == "sheet_not_found"
    assert error.message == (
        "Das Tabellenblatt „Tabelle1“ gibt es in dieser Datei nicht. "
        "Vorhanden: „Arbeitgeber“, „Ansprechpartner“."
    )


def test_xlsx_is_recognised_by_content_even_with_a_csv_name() -> None:
    data = xlsx_bytes({"Kontakte": [["Vorname", "Nachname"], ["Anna", "Berg"]]})
    table = read_table(data, "kontakte.csv")
    assert table.kind == "xlsx"
    assert table.row_count == 1


def test_xlsx_cells_become_text_as_a_german_user_sees_them() -> None:
    rows: list[list[object]] = [
        ["Datum", "Zeit", "Zahl", "Anteil", "Aktiv", "Telefon"],
        [dt.date(2026, 11, 21), dt.datetime(2026, 11, 21, 14, 30), 12.0, 0.5, True, 3911234],
    ]
    values = next(read_table(xlsx_bytes({"A": rows}), "a.xlsx").iter_records()).values
    assert values == {
        "Datum": "21.11.2026",
        "Zeit": "21.11.2026 14:30",
        "Zahl": "12",
        "Anteil": "0,5",
        "Aktiv": "ja",
        "Telefon": "3911234",
    }


def test_xlsx_value_in_a_column_without_header_is_reported() -> None:
    rows: list[list[object]] = [["Vorname", "Nachname"], ["Anna", "Berg", "Rest"], ["Bo"]]
    records = list(read_table(xlsx_bytes({"A": rows}), "a.xlsx").iter_records())
    assert records[0].problem is not None
    assert records[1].problem is None  # Excel leaves out trailing empty cells
    assert records[1].values == {"Vorname": "Bo", "Nachname": ""}


def test_blank_and_repeated_header_cells_get_unique_names() -> None:
    table = read_table(b"Name;;Name\nA;B;C\n", "x.csv")
    assert table.headers == ["Name", "Spalte 2", "Name (2)"]


def test_rows_can_be_iterated_more_than_once() -> None:
    table = read("excel_de_semikolon_cp1252.csv")
    assert list(table.rows) == list(table.rows)
    assert len(table.preview(2)) == 2


# --- files that cannot be imported --------------------------------------------------------


def test_empty_file_is_rejected_in_german() -> None:
    error = error_of((DATA / "empty.csv").read_bytes())
    assert (error.code, error.message) == ("empty", "Die Datei ist leer.")


def test_file_with_only_blank_lines_and_delimiters_is_empty() -> None:
    assert error_of(b"\r\n  \r\n").code == "empty"
    assert error_of(b";;;\r\n;;;\r\n").code == "empty"


def test_image_renamed_to_csv_is_rejected_as_not_a_table() -> None:
    error = error_of((DATA / "bild_als_csv.csv").read_bytes(), "bild_als_csv.csv")
    assert error.code == "not_tabular"
    assert error.message.startswith("Die Datei ist keine CSV- oder Excel-Datei.")


def test_binary_data_with_nul_bytes_is_rejected() -> None:
    assert error_of(b"Name;Ort\n\x00\x01\x02\x03binary").code == "not_tabular"


def test_old_excel_format_gets_its_own_message() -> None:
    error = error_of(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "alt.xls")
    assert error.code == "legacy_excel"
    assert ".xlsx" in error.message


def test_zip_archive_that_is_no_workbook_is_rejected() -> None:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    assert error_of(buffer.getvalue(), "brief.docx").code == "not_tabular"


def test_truncated_xlsx_upload_is_reported_as_damaged() -> None:
    data = (DATA / "two_sheets.xlsx").read_bytes()[:1000]
    error = error_of(data, "liste.xlsx")
    assert error.code == "corrupt"
    assert error.message == "Die Excel-Datei ist beschädigt oder unvollständig hochgeladen."


def test_web_page_saved_as_xls_is_rejected() -> None:
    assert error_of(b"<html><table><tr><td>x</td></tr></table></html>", "a.xls").code == (
        "not_tabular"
    )


def test_file_larger_than_the_limit_is_rejected_without_reading_it_all() -> None:
    stream = io.BytesIO(b"Name;Ort\n" + b"Anna;Berlin\n" * 10_000)
    error = error_of(stream, max_bytes=1024)  # type: ignore[arg-type]
    assert (error.code, error.message) == ("too_large", "Die Datei ist größer als 1 KB.")
    assert stream.tell() == 1025


def test_size_limit_is_worded_in_german_units() -> None:
    assert error_of(b"x" * 2001, max_bytes=2000).message == "Die Datei ist größer als 2 KB."
    # The default limit is checked for its wording only, without 50 MB of test data.
    assert _human_size(MAX_BYTES) == "50 MB"
    assert _human_size(1536) == "1,5 KB"


def test_file_that_starts_with_data_has_no_header_row() -> None:
    error = error_of(b"Anna;Berg;anna@berg.example\nBo;Bauer;bo@bauer.example\n")
    assert error.code == "no_header"
    assert error.message.startswith("Die Datei enthält keine Kopfzeile.")


def test_header_of_numbers_only_is_no_header_row() -> None:
    assert error_of(b"1;2;3\n4;5;6\n").code == "no_header"


def test_empty_xlsx_sheet_is_reported_by_name() -> None:
    error = error_of(xlsx_bytes({"Leer": []}), "a.xlsx")
    assert (error.code, error.message) == ("empty", "Das Tabellenblatt „Leer“ ist leer.")


# --- detection helpers ------------------------------------------------------------------------


def test_encoding_detection_distinguishes_bom_utf8_and_windows_1252() -> None:
    assert detect_encoding("Straße".encode("utf-8-sig")) == "utf-8-sig"
    assert detect_encoding("Straße".encode()) == "utf-8"
    assert detect_encoding("Straße".encode("cp1252")) == "cp1252"
    assert detect_encoding(b"plain ascii") == "utf-8"


def test_utf8_cut_in_the_middle_of_a_character_is_still_utf8() -> None:
    assert detect_encoding("Schönebeck ö".encode()[:-1]) == "utf-8"


def test_excel_unicode_text_in_utf16_is_read() -> None:
    data = "Vorname\tNachname\r\nJörg\tMüller\r\n".encode("utf-16")
    table = read_table(data, "unicode.txt")
    assert (table.encoding, table.delimiter) == ("utf-16", "\t")
    assert next(table.iter_records()).values == {"Vorname": "Jörg", "Nachname": "Müller"}


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [
        ("a;b;c\n1;2;3\n", ";"),
        ("a,b,c\n1,2,3\n", ","),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        # Commas inside a ";" file do not fool the count.
        ("Firma;Straße;Ort\nA, B & C;Weg 1, Hinterhaus;Halle\nD;E;F\n", ";"),
        # Semicolons inside quotes in a "," file neither.
        ('Name,Notiz\n"Berg","a; b; c; d"\n"Bauer","x; y"\n', ","),
        ("Nur eine Spalte\nWert\n", ";"),
    ],
)
def test_delimiter_is_detected_from_the_first_lines(sample: str, delimiter: str) -> None:
    assert detect_delimiter(sample) == delimiter


# --- column mapping ---------------------------------------------------------------------------


def test_german_headers_are_mapped_regardless_of_case_umlauts_and_punctuation() -> None:
    headers = [
        "FIRMA",
        "Anrede",
        "Titel",
        "Vorname",
        "Nachname",
        "E-Mail-Adresse",
        "Tel.",
        "Handy",
        "Strasse",
        "PLZ",
        "Ort",
        "Funktion",
        "Webseite",
        "Art",
        "Landkreis",
        "Schlagwörter",
        "Bemerkung",
        "Sprache",
    ]
    assert list(suggest_mapping(headers).values()) == [
        "org_name",
        "salutation",
        "title",
        "first_name",
        "last_name",
        "email",
        "phone",
        "mobile",
        "street",
        "postcode",
        "city",
        "function",
        "website",
        "org_kind",
        "region",
        "tags",
        "notes",
        "language",
    ]


def test_no_field_is_suggested_for_two_headers() -> None:
    mapping = suggest_mapping(["Name", "Nachname", "E-Mail", "Email", "Telefon", "Tel."])
    assert mapping == {
        "Name": None,  # "Nachname" is the stronger match
        "Nachname": "last_name",
        "E-Mail": "email",
        "Email": None,
        "Telefon": "phone",
        "Tel.": None,
    }


def test_weak_synonym_is_used_when_nothing_stronger_exists() -> None:
    assert suggest_mapping(["Vorname", "Name"]) == {"Vorname": "first_name", "Name": "last_name"}


def test_outlook_style_headers_with_qualifiers_are_mapped() -> None:
    mapping = suggest_mapping(
        [
            "Straße geschäftlich",
            "Postleitzahl geschäftlich",
            "Ort geschäftlich",
            "Land/Region geschäftlich",
            "Mobiltelefon",
            "E-Mail Ansprechpartner",
            "Telefon Zentrale",
        ]
    )
    assert mapping == {
        "Straße geschäftlich": "street",
        "Postleitzahl geschäftlich": "postcode",
        "Ort geschäftlich": "city",
        "Land/Region geschäftlich": "country",
        "Mobiltelefon": "mobile",
        "E-Mail Ansprechpartner": "email",
        "Telefon Zentrale": "phone",
    }


def test_unknown_headers_are_not_mapped() -> None:
    assert suggest_mapping(["Mitarbeitende", "Letzter Kontakt", ""]) == {
        "Mitarbeitende": None,
        "Letzter Kontakt": None,
        "": None,
    }
