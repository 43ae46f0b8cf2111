"""Reading uploaded CSV and XLSX files into header + rows for the contact import.

The reader never crashes on a malformed row: such rows are yielded with a German description
of the problem so the importer can reject them one by one and offer them for download.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import itertools
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import IO, Any, NamedTuple

from .normalize import fold

__all__ = [
    "FIELD_KEYS",
    "ImportFileError",
    "Limits",
    "Record",
    "Table",
    "cell_text",
    "detect_delimiter",
    "detect_encoding",
    "read_table",
    "suggest_mapping",
]

MAX_BYTES = 50 * 1024 * 1024
DELIMITERS = (";", ",", "\t")

_ZIP_MAGIC = b"PK\x03\x04"
# Compound File Binary: old .xls, and also every password-protected .xlsx.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BINARY_MAGIC = (
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"GIF8",
    b"%PDF",
    b"\x1f\x8b",  # gzip
    b"Rar!",
    b"7z\xbc\xaf",
    b"MZ",  # Windows executable
    b"\x7fELF",
)
_SAMPLE_BYTES = 64 * 1024
# Members of an XLSX smaller than this are never refused for their compression ratio.
_RATIO_FREE_BYTES = 1024 * 1024
# An XLSX's central directory (about 60 bytes per part, a workbook has dozens to hundreds of
# parts): zipfile builds an object per entry before anything else can be checked.
_MAX_DIRECTORY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What a file may hold; checked while it is read, so a bomb is refused early."""

    max_rows: int = 200_000
    max_columns: int = 200
    max_cell_chars: int = 10_000
    # XLSX: the sum of the unpacked sizes of the archive's members, and the largest
    # unpacked/packed ratio of a member above one MB.
    max_unpacked_bytes: int = 100 * 1024 * 1024
    max_ratio: int = 100


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _too_many_rows(limits: Limits) -> ImportFileError:
    return ImportFileError(
        "too_many_rows",
        f"Die Datei hat mehr als {_thousands(limits.max_rows)} Zeilen. "
        "Bitte teilen Sie sie in kleinere Dateien auf.",
    )


def _too_many_columns(limits: Limits, line: int) -> ImportFileError:
    return ImportFileError(
        "too_many_columns",
        f"Zeile {line} hat mehr als {_thousands(limits.max_columns)} Spalten. "
        "Bitte entfernen Sie die nicht benötigten Spalten.",
    )


def _cell_too_long(limits: Limits, line: int) -> ImportFileError:
    return ImportFileError(
        "cell_too_long",
        f"Zeile {line} enthält einen Wert mit mehr als "
        f"{_thousands(limits.max_cell_chars)} Zeichen; so lange Werte können nicht "
        "importiert werden.",
    )


def _check_cells(cells: list[str], line: int, limits: Limits) -> list[str]:
    """Refuse a row that is too wide or has a too long value; drop trailing blank cells."""
    if len(cells) > limits.max_columns:
        if any(cells[limits.max_columns :]):
            raise _too_many_columns(limits, line)
        cells = cells[: limits.max_columns]
    if any(len(c) > limits.max_cell_chars for c in cells):
        raise _cell_too_long(limits, line)
    return cells


class ImportFileError(Exception):
    """A file that cannot be imported at all; `message` is shown to the user as is."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _human_size(n: int) -> str:
    mib = 1024 * 1024
    if n >= mib:
        amount, unit = n / mib, "MB"
    elif n >= 1024:
        amount, unit = n / 1024, "KB"
    else:
        return f"{n} Bytes"
    return f"{amount:.1f}".rstrip("0").rstrip(".").replace(".", ",") + f" {unit}"


def _not_tabular() -> ImportFileError:
    return ImportFileError(
        "not_tabular",
        "Die Datei ist keine CSV- oder Excel-Datei. "
        "Bitte laden Sie eine .csv- oder .xlsx-Datei hoch.",
    )


def detect_encoding(raw: bytes) -> str:
    """Return "utf-8-sig", "utf-16", "utf-8" or "cp1252" for text; raise for binary data."""
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    # Excel's "Unicode-Text" export is UTF-16 with a BOM; without this check its NUL bytes
    # would be taken for a binary file.
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = raw[:_SAMPLE_BYTES]
    if head.startswith(_BINARY_MAGIC) or head.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
        raise _not_tabular()
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 26))
    # A stray NUL in a cell is reported on its row by the importer; binary data has NUL
    # bytes among other control bytes, or many of them (UTF-16 without a BOM).
    nul = head.count(0)
    if controls > max(8, len(head) // 100) or 0 < nul < controls:
        raise _not_tabular()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A sample cut inside a character ends in an incomplete sequence; if the text before
        # it already holds UTF-8 multi-byte characters, it is UTF-8. Anything else is an 8-bit
        # file, which in a German office means Windows-1252 (Excel "CSV (Trennzeichen-
        # getrennt)").
        cut_sample = exc.reason == "unexpected end of data" and not raw[: exc.start].isascii()
        if not cut_sample:
            return "cp1252"
    return "utf-8"


def detect_delimiter(sample: str) -> str:
    """Return the most likely delimiter among ";", "," and tab (";" when undecidable)."""
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample probably cut the last line in half
    lines = lines[:50]
    best, best_score = ";", (False, 0.0, 0)
    for delimiter in DELIMITERS:
        widths = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        if not widths:
            continue
        mode = max(set(widths), key=widths.count)
        consistency = round(widths.count(mode) / len(widths), 2)
        # A delimiter must split something; then the most regular split wins, then the widest
        # (";" with 8 columns beats "," splitting one address field in every row).
        score = (mode > 1, consistency, mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


class Record(NamedTuple):
    """One data row: its line (CSV) or row number (XLSX), values by header, and any problem."""

    line: int
    values: dict[str, str]
    problem: str | None


class _RawRow(NamedTuple):
    line: int
    cells: list[str]
    problem: str | None


@dataclass
class Table:
    """A read file: headers, re-iterable rows and what was detected about the file."""

    headers: list[str]
    kind: str  # "csv" or "xlsx"
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheet_names: list[str] = field(default_factory=list)
    _source: Callable[[], Iterator[_RawRow]] = field(default=lambda: iter(()), repr=False)
    _close: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def rows(self) -> Iterator[list[str]]:
        """Iterate the data rows as lists of strings, padded to the header width."""
        return (raw.cells for raw in self._source())

    def iter_records(self) -> Iterator[Record]:
        """Iterate the data rows as `Record(line, {header: value}, problem)`."""
        for raw in self._source():
            yield Record(raw.line, dict(zip(self.headers, raw.cells, strict=False)), raw.problem)

    @cached_property
    def row_count(self) -> int:
        """Number of non-blank data rows (one pass over the file, then cached)."""
        return sum(1 for _ in self._source())

    def preview(self, n: int = 10) -> list[Record]:
        """Return the first `n` records."""
        out: list[Record] = []
        for record in self.iter_records():
            if len(out) == n:
                break
            out.append(record)
        return out

    def close(self) -> None:
        """Release the workbook of an XLSX file."""
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_limited(data: bytes | IO[bytes], max_bytes: int) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        # Read one byte more than allowed so an oversized upload is detected without
        # reading all of it into memory.
        raw = data.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ImportFileError("too_large", f"Die Datei ist größer als {_human_size(max_bytes)}.")
    return raw


def _empty() -> ImportFileError:
    return ImportFileError("empty", "Die Datei ist leer.")


def _no_header() -> ImportFileError:
    return ImportFileError(
        "no_header",
        "Die Datei enthält keine Kopfzeile. Die erste Zeile muss die Spaltennamen enthalten, "
        "zum Beispiel Firma, Vorname, Nachname, E-Mail.",
    )


_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HAS_LETTER = re.compile(r"[^\W\d_]")


def _make_headers(cells: list[str]) -> list[str]:
    """Name blank header cells "Spalte N" and make repeated names unique."""
    # Trailing blank header cells come from Excel rows that were merely formatted.
    while cells and not cells[-1]:
        cells = cells[:-1]
    if not cells or not any(_HAS_LETTER.search(c) for c in cells):
        raise _no_header()
    # An e-mail address is data, never a column name: the file starts with a data row.
    if any(_EMAIL_LIKE.fullmatch(c) for c in cells):
        raise _no_header()
    headers: list[str] = []
    seen: set[str] = set()
    for index, cell in enumerate(cells, start=1):
        name = cell or f"Spalte {index}"
        candidate, n = name, 2
        while candidate in seen:
            candidate, n = f"{name} ({n})", n + 1
        headers.append(candidate)
        seen.add(candidate)
    return headers


def _fit(cells: list[str], width: int, *, short_is_problem: bool) -> tuple[list[str], str | None]:
    """Pad or trim cells to the header width and describe a mismatch worth reporting."""
    problem = None
    if len(cells) > width:
        extra = cells[width:]
        if any(extra):
            problem = (
                f"Die Zeile hat {len(cells)} statt {width} Spalten; "
                "vermutlich fehlen Anführungszeichen um einen Wert mit Trennzeichen."
            )
        cells = cells[:width]
    elif len(cells) < width:
        if short_is_problem:
            problem = f"Die Zeile hat {len(cells)} statt {width} Spalten."
        cells = cells + [""] * (width - len(cells))
    return cells, problem


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")
_UNCLOSED = "Ein Anführungszeichen in dieser Zeile wird nicht geschlossen."


def _physical_lines(text: str) -> list[str]:
    lines = _LINE.findall(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _csv_records(
    lines: list[str], delimiter: str, start: int, width: int | None
) -> Iterator[tuple[int, int, list[str] | None]]:
    """Yield (first line, last line, cells) per CSV record from line index `start` on.

    `cells` is None for a record that cannot be parsed, typically an unclosed quote that
    swallowed the following lines; parsing then resumes on the line after its start, so one
    bad quote costs one row instead of the rest of the file.
    """
    offset = start
    while offset < len(lines):
        reader = csv.reader(itertools.islice(lines, offset, None), delimiter=delimiter)
        consumed = 0
        while True:
            first = offset + consumed + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error:
                # "field larger than field limit" (an unclosed quote in a big file) or a NUL.
                yield first, first, None
                break
            last = offset + reader.line_num
            consumed = reader.line_num
            if width is not None and last > first and len(cells) != width:
                # A quoted value ran over several lines and the result does not fit the
                # header: the quote was never closed. Legitimate multi-line notes fit.
                yield first, first, None
                break
            yield first, last, cells
        offset = first


def _read_csv_records(
    lines: list[str], delimiter: str, width: int, start: int, limits: Limits
) -> Iterator[_RawRow]:
    for first, _last, cells in _csv_records(lines, delimiter, start, width):
        if cells is None:
            # Show what the line holds, read without the runaway quote, so the rejected row
            # can be fixed by the user.
            single = lines[first - 1].rstrip("\r\n").split(delimiter)
            single = _check_cells([c.strip().strip('"') for c in single], first, limits)
            fitted, _ = _fit(single, width, short_is_problem=False)
            yield _RawRow(first, fitted, _UNCLOSED)
            continue
        cells = _check_cells([c.strip() for c in cells], first, limits)
        if not any(cells):
            continue
        fitted, problem = _fit(cells, width, short_is_problem=True)
        yield _RawRow(first, fitted, problem)


def _read_csv(raw: bytes, limits: Limits) -> Table:
    encoding = detect_encoding(raw)
    # cp1252 leaves five byte values undefined; replacing them beats rejecting the file.
    text = raw.decode(encoding, errors="replace" if encoding == "cp1252" else "strict")
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise _empty()
    if text.lstrip()[:6].lower() in ("<html>", "<!doct", "<?xml ", "<html ", "<table"):
        # Web pages and the Excel 2003 XML format are often saved with a .xls or .csv name.
        raise _not_tabular()
    # Counted before the text is split: a list of millions of short lines is what would
    # exhaust memory. Lines, not records: a value may span lines, which is rare enough.
    if max(text.count("\n"), text.count("\r")) > limits.max_rows + 1:
        raise _too_many_rows(limits)
    delimiter = detect_delimiter(text[:_SAMPLE_BYTES])
    lines = _physical_lines(text)
    header_cells: list[str] | None = None
    header_last_line = 0
    for first, last, cells in _csv_records(lines, delimiter, 0, None):
        if cells is None:
            raise _no_header()
        if any(c.strip() for c in cells):
            header_cells = _check_cells([c.strip() for c in cells], first, limits)
            header_last_line = last
            break
    if header_cells is None:
        raise _empty()
    headers = _make_headers(header_cells)
    width = len(headers)
    return Table(
        headers=headers,
        kind="csv",
        encoding=encoding,
        delimiter=delimiter,
        _source=lambda: _read_csv_records(lines, delimiter, width, header_last_line, limits),
    )


def _format_number(value: int | float | Decimal, number_format: str | None) -> str:
    if isinstance(value, int):
        whole = True
    elif isinstance(value, Decimal):
        whole = value.is_finite() and value == value.to_integral_value()
    else:
        whole = value.is_integer()  # False for inf and nan
    if not whole:
        return str(value).replace(".", ",")
    text = str(int(value))
    # Excel's "Postleitzahl" format "00000" keeps the leading zero of 01067 on screen only;
    # the stored number is 1067.
    if number_format and set(number_format) == {"0"}:
        text = text.zfill(len(number_format))
    return text


def cell_text(value: Any, number_format: str | None = None) -> str:
    """Convert a spreadsheet cell value to the text a German user sees in Excel."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, int | float | Decimal):
        return _format_number(value, number_format)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.strftime("%d.%m.%Y")
        return value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    return str(value).strip()


def _corrupt() -> ImportFileError:
    return ImportFileError(
        "corrupt", "Die Excel-Datei ist beschädigt oder unvollständig hochgeladen."
    )


def _check_archive(members: list[zipfile.ZipInfo], limits: Limits) -> None:
    """Refuse a ZIP bomb by the sizes its directory declares, before anything is unpacked.

    zipfile never unpacks more than a member's declared size (more fails its CRC check), so
    the declared sizes bound what openpyxl can be made to read.
    """
    unpacked = sum(m.file_size for m in members)
    if unpacked > limits.max_unpacked_bytes:
        raise ImportFileError(
            "unpacked_too_large",
            f"Die Excel-Datei ist entpackt {_human_size(unpacked)} groß; erlaubt sind "
            f"höchstens {_human_size(limits.max_unpacked_bytes)}. Bitte teilen Sie die "
            "Tabelle auf oder speichern Sie sie als CSV.",
        )
    for member in members:
        if member.file_size > _RATIO_FREE_BYTES and member.file_size > limits.max_ratio * max(
            member.compress_size, 1
        ):
            raise ImportFileError(
                "compression_ratio",
                f"Die Excel-Datei ist ungewöhnlich stark komprimiert (mehr als "
                f"{limits.max_ratio}-fach) und wird deshalb nicht gelesen. Bitte speichern "
                "Sie sie in Excel neu oder als CSV.",
            )


# What openpyxl raises on a damaged archive or damaged XML (lxml's errors are SyntaxErrors).
_XLSX_ERRORS = (zipfile.BadZipFile, SyntaxError, KeyError, ValueError, OSError, EOFError)


def _read_xlsx(raw: bytes, sheet: str | None, limits: Limits) -> Table:
    # Imported here: openpyxl takes a noticeable moment to import and CSV uploads need none of it.
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    # The end record as ZipFile itself reads it (zip64 records included); a private function
    # of zipfile, hence looked up defensively.
    end = None
    end_record = getattr(zipfile, "_EndRecData", None)
    if end_record is not None:
        with contextlib.suppress(OSError):
            end = end_record(io.BytesIO(raw))
    if end and end[getattr(zipfile, "_ECD_SIZE", 5)] > _MAX_DIRECTORY_BYTES:
        raise ImportFileError(
            "too_many_parts",
            "Die Excel-Datei besteht aus ungewöhnlich vielen Teilen und wird deshalb nicht "
            "gelesen. Bitte speichern Sie sie in Excel neu oder als CSV.",
        )
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise _corrupt() from None
    if "xl/workbook.xml" not in {m.filename for m in members}:
        raise _not_tabular()  # a Word document, an OpenDocument sheet, a plain ZIP archive
    _check_archive(members, limits)
    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise ImportFileError(
            "corrupt", "Die Excel-Datei ist beschädigt oder unvollständig hochgeladen."
        ) from None
    try:
        sheet_names = list(workbook.sheetnames)
        if sheet is None:
            sheet = sheet_names[0]
        elif sheet not in sheet_names:
            available = ", ".join(f"„{name}“" for name in sheet_names)
            raise ImportFileError(
                "sheet_not_found",
                f"Das Tabellenblatt „{sheet}“ gibt es in dieser Datei nicht. "
                f"Vorhanden: {available}.",
            )
        worksheet = workbook[sheet]
        if not hasattr(worksheet, "iter_rows"):
            raise ImportFileError(
                "sheet_not_found", f"„{sheet}“ ist ein Diagrammblatt und enthält keine Tabelle."
            )
        # Some programs write a wrong used range ("A1"), which read-only mode would trust.
        worksheet.reset_dimensions()

        def numbered_rows() -> Iterator[tuple[int, list[str]]]:
            rows = enumerate(worksheet.iter_rows(), start=1)
            while True:
                try:
                    number, row = next(rows)
                except StopIteration:
                    return
                except _XLSX_ERRORS:
                    raise _corrupt() from None
                if number > limits.max_rows + 1:
                    raise _too_many_rows(limits)
                if len(row) > limits.max_columns:
                    if any(cell.value is not None for cell in row[limits.max_columns :]):
                        raise _too_many_columns(limits, number)
                    row = row[: limits.max_columns]
                cells = [
                    cell_text(cell.value, getattr(cell, "number_format", None)) for cell in row
                ]
                yield number, _check_cells(cells, number, limits)

        header_cells: list[str] | None = None
        header_row = 0
        for number, cells in numbered_rows():
            if any(cells):
                header_cells, header_row = cells, number
                break
        if header_cells is None:
            raise ImportFileError("empty", f"Das Tabellenblatt „{sheet}“ ist leer.")
        headers = _make_headers(header_cells)
    except BaseException:
        workbook.close()
        raise
    width = len(headers)

    def source() -> Iterator[_RawRow]:
        for number, cells in numbered_rows():
            if number <= header_row or not any(cells):
                continue
            # Excel leaves trailing empty cells out, so a short row is normal here.
            fitted, problem = _fit(cells, width, short_is_problem=False)
            yield _RawRow(number, fitted, problem)

    return Table(
        headers=headers,
        kind="xlsx",
        sheet=sheet,
        sheet_names=sheet_names,
        _source=source,
        _close=workbook.close,
    )


def read_table(
    data: bytes | IO[bytes],
    filename: str = "",
    *,
    sheet: str | None = None,
    max_bytes: int = MAX_BYTES,
    limits: Limits | None = None,
) -> Table:
    """Read an uploaded CSV or XLSX file; the content decides the type, not the file name.

    The `limits` are checked while reading: a file beyond one raises `ImportFileError` when
    the reader gets there, which may be during the iteration of its rows.
    """
    raw = _read_limited(data, max_bytes)
    limits = limits or Limits()
    if not raw.strip():
        raise _empty()
    if raw.startswith(_ZIP_MAGIC):
        return _read_xlsx(raw, sheet, limits)
    if raw.startswith(_OLE_MAGIC):
        raise ImportFileError(
            "legacy_excel",
            "Die Datei ist im alten Excel-Format (.xls) gespeichert oder mit einem Passwort "
            "geschützt. Bitte speichern Sie sie in Excel als .xlsx ohne Passwort oder als CSV.",
        )
    if filename.lower().endswith((".xlsx", ".xlsm")):
        # Named like a workbook but not a ZIP archive: usually a broken upload.
        raise ImportFileError(
            "corrupt", "Die Excel-Datei ist beschädigt oder unvollständig hochgeladen."
        )
    table = _read_csv(raw, limits)
    if sheet is not None:
        raise ImportFileError(
            "sheet_not_found",
            f"Das Tabellenblatt „{sheet}“ gibt es in dieser Datei nicht. "
            "Eine CSV-Datei hat keine Tabellenblätter.",
        )
    return table


# --- column mapping -------------------------------------------------------------------------

FIELD_KEYS = (
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
    "country",
    "function",
    "website",
    "org_kind",
    "region",
    "tags",
    "notes",
    "language",
)

# Synonyms per field, written as users write them; they are compared after _header_key().
# Strong names first; a weak synonym (rank 1) only wins if no header has a strong one.
_SYNONYMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "org_name": (
        (
            "Firma",
            "Firmenname",
            "Name der Firma",
            "Unternehmen",
            "Unternehmensname",
            "Organisation",
            "Organisationsname",
            "Name der Organisation",
            "Einrichtung",
            "Betrieb",
            "Arbeitgeber",
            "Company",
            "Company name",
            "Organization",
            "Organisation name",
            "Organization name",
            "Employer",
        ),
        ("Institution",),
    ),
    "salutation": (("Anrede", "Salutation", "Briefanrede"), ("Geschlecht", "Gender")),
    "title": (("Titel", "Akademischer Titel", "Title", "Academic title"), ()),
    "first_name": (
        ("Vorname", "Vornamen", "First name", "Firstname", "Given name", "Forename"),
        (),
    ),
    "last_name": (
        ("Nachname", "Familienname", "Zuname", "Last name", "Lastname", "Surname", "Family name"),
        ("Name",),
    ),
    "email": (
        (
            "E-Mail",
            "Email",
            "E-Mail-Adresse",
            "E-Mail Adresse",
            "Emailadresse",
            "Email address",
            "E-mail address",
            "E-Mail geschäftlich",
        ),
        ("Mail", "Mailadresse", "E-Mail 1"),
    ),
    "phone": (
        (
            "Telefon",
            "Tel.",
            "Tel",
            "Telefonnummer",
            "Telefon geschäftlich",
            "Phone",
            "Phone number",
            "Telephone",
            "Business phone",
            "Festnetz",
        ),
        ("Rufnummer", "Telefon 1"),
    ),
    "mobile": (
        (
            "Mobil",
            "Mobiltelefon",
            "Mobilnummer",
            "Telefon mobil",
            "Handy",
            "Handynummer",
            "Mobile",
            "Mobile phone",
            "Cell phone",
            "Cell",
        ),
        (),
    ),
    "street": (
        (
            "Straße",
            "Strasse",
            "Str.",
            "Straße und Hausnummer",
            "Straße/Hausnummer",
            "Straße Nr.",
            "Straße geschäftlich",
            "Street",
            "Street address",
            "Business street",
        ),
        ("Adresse", "Anschrift", "Address"),
    ),
    "postcode": (
        (
            "PLZ",
            "Postleitzahl",
            "Postleitzahl geschäftlich",
            "Zip",
            "Zip code",
            "Zipcode",
            "Postcode",
            "Postal code",
            "Post code",
            "Business postal code",
        ),
        (),
    ),
    "city": (
        ("Ort", "Stadt", "Wohnort", "Ort geschäftlich", "City", "Town", "Business city"),
        ("Gemeinde", "Sitz"),
    ),
    "country": (
        (
            "Land",
            "Staat",
            "Länderkennzeichen",
            "Ländercode",
            "Land geschäftlich",
            "Land/Region",
            "Land/Region geschäftlich",
            "Country",
            "Country code",
            "Country/Region",
            "Business country/region",
        ),
        ("Nation",),
    ),
    "function": (
        (
            "Funktion",
            "Position",
            "Stellung",
            "Job title",
            "Jobtitle",
            "Role",
            "Rolle",
            "Tätigkeit",
        ),
        ("Berufsbezeichnung",),
    ),
    "website": (
        ("Webseite", "Website", "Homepage", "Internetseite", "Internetadresse", "Web page"),
        ("URL", "Internet", "Web"),
    ),
    "org_kind": (
        ("Organisationsart", "Art der Organisation", "Firmenart", "Kategorie"),
        ("Art", "Typ", "Kind", "Type"),
    ),
    "region": (("Region", "Landkreis", "Kreis", "District", "Bezirk"), ()),
    "tags": (("Schlagworte", "Schlagwörter", "Stichworte", "Tags", "Tag", "Keywords"), ()),
    "notes": (
        (
            "Notiz",
            "Notizen",
            "Bemerkung",
            "Bemerkungen",
            "Anmerkung",
            "Anmerkungen",
            "Kommentar",
            "Notes",
            "Note",
            "Comment",
            "Comments",
            "Remarks",
        ),
        (),
    ),
    "language": (
        ("Sprache", "Bevorzugte Sprache", "Korrespondenzsprache", "Language", "Preferred language"),
        (),
    ),
}

# Headers that look like a synonym but mean something else.
_NOT_MAPPED = {"bundesland"}

_HEADER_JUNK = re.compile(r"[\W_]+")


def _header_key(header: str) -> str:
    return _HEADER_JUNK.sub("", fold(header))


_EXACT: dict[str, tuple[str, int]] = {}
for _key, (_strong, _weak) in _SYNONYMS.items():
    for _rank, _names in ((0, _strong), (1, _weak)):
        for _name in _names:
            _EXACT.setdefault(_header_key(_name), (_key, _rank))
# For headers like "E-Mail Ansprechpartner" or "Telefon Zentrale": a strong synonym of at least
# five letters inside the header, longest first ("mobiltelefon" before "telefon").
_CONTAINED = sorted(
    ((name, key) for name, (key, rank) in _EXACT.items() if rank == 0 and len(name) >= 5),
    key=lambda item: len(item[0]),
    reverse=True,
)


def _candidate(header: str) -> tuple[str, int] | None:
    compact = _header_key(header)
    if not compact or compact in _NOT_MAPPED:
        return None
    if compact in _EXACT:
        return _EXACT[compact]
    for name, key in _CONTAINED:
        if name in compact:
            return key, 2
    return None


def suggest_mapping(headers: list[str]) -> dict[str, str | None]:
    """Suggest a field key for every header; no key is suggested for two headers."""
    candidates = [(header, _candidate(header)) for header in headers]
    ranked = sorted(
        (rank, index, header, key)
        for index, (header, found) in enumerate(candidates)
        if found is not None
        for key, rank in [found]
    )
    mapping: dict[str, str | None] = dict.fromkeys(headers)
    taken: set[str] = set()
    for _rank, _index, header, key in ranked:
        if key not in taken and mapping[header] is None:
            mapping[header] = key
            taken.add(key)
    return mapping
