"""Regenerate the import test files: `.venv/bin/python tests/data/imports/generate.py`.

The files are committed; this script documents how each one was made and why it looks the way
it does (each imitates what a real program writes).
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

HERE = Path(__file__).parent

# What German Excel writes with "CSV (Trennzeichen-getrennt)": ";" delimiter, Windows-1252,
# CRLF, quotes only where needed, and trailing ";;;" rows for cells that were merely formatted.
EXCEL_GERMAN = (
    "Firma;Anrede;Titel;Vorname;Nachname;Funktion;Straße;PLZ;Ort;Telefon;E-Mail;Bemerkung\r\n"
    "Müller Metallbau GmbH;Herr;;Jörg;Müller;Geschäftsführung;Große Straße 12;39218;"
    "Schönebeck (Elbe);03928 45 67-0;j.mueller@mueller-metallbau.de;Bedarf: 2 Schweißer\r\n"
    "Bäckerei Groß e.K.;Frau;Dr.;Anneliese;Groß;Inhaberin;Marktstraße 3;06108;Halle (Saale);"
    '0345 123456;info@baeckerei-gross.de;"Sucht Verkäufer; ab sofort"\r\n'
    "Jobcenter Salzlandkreis;Frau;;Özlem;Demir;Arbeitgeberservice;Am Bahnhof 1;06406;Bernburg;"
    "+49 (0)3471 123-0;arbeitgeberservice@jobcenter.example;Preis 50 €\r\n"
    ";;;;;;;;;;;\r\n"
)

# Notepad and LibreOffice write UTF-8 with a byte order mark.
UTF8_BOM = (
    "Unternehmen;Anrede;Vorname;Nachname;E-Mail-Adresse;Postleitzahl;Stadt;Sprache\n"
    "Pflegedienst Łukasz Nowak;Herr;Łukasz;Nowak;lukasz.nowak@pflege.example;39104;Magdeburg;"
    "Polnisch\n"
    "Çelik Logistik GmbH & Co. KG;Frau;Ayşe;Çelik;a.celik@celik-logistik.example;38820;"
    "Halberstadt;Türkisch\n"
)

# An English export (for instance from a web form tool): "," delimiter, LF, UTF-8 without BOM.
ENGLISH = (
    "Company,Salutation,First name,Last name,Job title,Email,Phone,Street,Zip,City\n"
    '"Schmidt, Bauer & Partner GmbH",Mr,Thomas,Schmidt,HR manager,T.Schmidt@SBP.example,'
    '0391 555 0101,"Hauptstraße 7, Hinterhaus",39104,Magdeburg\n'
    "Harzer Holzwerke AG,Ms,Sabine,Krüger,Recruiting,s.krueger@holz.example,"
    "03941 12 34,Werkstraße 2,38820,Halberstadt\n"
)

# Excel "Text (Tabstopp-getrennt)", saved as UTF-8 here.
TAB = (
    "Firma\tVorname\tNachname\tTelefon\tOrt\n"
    "Stadtwerke Stendal\tPeter\tLehmann\t03931 1234\tStendal\n"
    "Kita Sonnenschein e.V.\tMaria\tWeiß\t03931 9876\tTangermünde\n"
)

# A hand-edited list: a row with a missing column, a row with an unquoted ";" in a value, an
# unclosed quote, a legitimate multi-line note, and good rows after each problem.
BROKEN = (
    "Firma;Vorname;Nachname;E-Mail\n"  # line 1
    "Alpha GmbH;Anna;Albrecht;anna@alpha.example\n"  # 2 good
    "Beta KG;Bernd;bernd@beta.example\n"  # 3 one column missing
    "Gamma AG;Carla;Conrad;carla@gamma.example;Notiz ohne Spalte\n"  # 4 one column too many
    'Delta e.V.;"Dieter;Dorn;dieter@delta.example\n'  # 5 unclosed quote
    "Epsilon GmbH;Eva;Engel;eva@epsilon.example\n"  # 6 good
    'Zeta UG;Zora;"Zimmer\nverh. Zander";zora@zeta.example\n'  # 7-8 good, two lines
    "Eta gGmbH;Emil;Ehrlich;emil@eta.example\n"  # 9 good
)

# The smallest valid PNG, here saved under a .csv name as a user might by mistake.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def write_xlsx(path: Path) -> None:
    """Write a workbook with two sheets the way a project office keeps its lists."""
    from openpyxl import Workbook

    workbook = Workbook()
    employers = workbook.active
    employers.title = "Arbeitgeber"
    employers.append(["Firma", "Art", "PLZ", "Ort", "Telefon", "Mitarbeitende", "Letzter Kontakt"])
    rows = [
        ("Müller Metallbau GmbH", "Arbeitgeber", 39218, "Schönebeck (Elbe)", 3928456700, 45),
        ("Bäckerei Groß e.K.", "Arbeitgeber", 6108, "Halle (Saale)", "0345 123456", 7.0),
    ]
    for index, row in enumerate(rows):
        employers.append([*row, dt.datetime(2024, 3, 1 + index)])
        # Excel's "Postleitzahl" format: 06108 is stored as the number 6108.
        employers.cell(row=employers.max_row, column=3).number_format = "00000"
    people = workbook.create_sheet("Ansprechpartner")
    people.append(["Vorname", "Nachname", "E-Mail"])
    people.append(["Jörg", "Müller", "j.mueller@mueller-metallbau.de"])
    people.append([None, None, None])
    people.append(["Anneliese", "Groß", "info@baeckerei-gross.de"])
    workbook.save(path)


def main() -> None:
    """Write every test file next to this script."""
    (HERE / "excel_de_semikolon_cp1252.csv").write_bytes(EXCEL_GERMAN.encode("cp1252"))
    (HERE / "utf8_bom.csv").write_bytes(UTF8_BOM.encode("utf-8-sig"))
    (HERE / "english_comma.csv").write_bytes(ENGLISH.encode("utf-8"))
    (HERE / "tabulator.txt").write_bytes(TAB.encode("utf-8"))
    (HERE / "broken_rows.csv").write_bytes(BROKEN.encode("utf-8"))
    (HERE / "empty.csv").write_bytes(b"")
    (HERE / "bild_als_csv.csv").write_bytes(PNG)
    write_xlsx(HERE / "two_sheets.xlsx")


if __name__ == "__main__":
    main()
