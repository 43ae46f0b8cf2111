"""vCard 3.0 export of a person (RFC 2426), the version Outlook imports most reliably."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

__all__ = ["person_vcard"]

_MAX_OCTETS = 75
# Salutations that belong in front of a name; "divers" and "keine Angabe" do not.
_NAME_PREFIX_SALUTATIONS = {"frau", "herr"}
_PHONE_TYPES = {
    "work": "WORK,VOICE",
    "mobile": "CELL,VOICE",
    "home": "HOME,VOICE",
    "fax": "WORK,FAX",
}
# Escape pairs are kept together when folding so that no line ends with a lone backslash.
_UNITS = re.compile(r"\\.|.", re.DOTALL)


def _escape(value: str | None) -> str:
    """Escape a text value: backslash, comma, semicolon and line breaks."""
    if not value:
        return ""
    value = value.strip().replace("\r\n", "\n").replace("\r", "\n")
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Fold a content line into CRLF-separated parts of at most 75 octets, never inside a char."""
    parts: list[str] = []
    current, size = "", 0
    limit = _MAX_OCTETS
    for unit in _UNITS.findall(line):
        octets = len(unit.encode("utf-8"))
        if size + octets > limit:
            parts.append(current)
            # A continuation line starts with a space, which counts towards its 75 octets.
            current, size, limit = " ", 1, _MAX_OCTETS
        current += unit
        size += octets
    parts.append(current)
    return "\r\n".join(parts)


def _phone_entries(phones: Iterable[str | tuple[str, str]]) -> Iterator[tuple[str, str]]:
    for entry in phones:
        kind, number = ("work", entry) if isinstance(entry, str) else entry
        if number and number.strip():
            yield _PHONE_TYPES.get(kind, "VOICE"), number.strip()


def person_vcard(
    *,
    salutation: str | None,
    title: str | None,
    first_name: str | None,
    last_name: str | None,
    emails: Iterable[str] = (),
    phones: Iterable[str | tuple[str, str]] = (),
    org_name: str | None = None,
    function: str | None = None,
    street: str | None = None,
    postcode: str | None = None,
    city: str | None = None,
    note: str | None = None,
) -> str:
    """Return a person as a vCard 3.0 text with CRLF line ends, to be sent as UTF-8.

    `phones` holds numbers (taken as work numbers) or ``(kind, number)`` pairs with kind
    "work", "mobile", "home" or "fax". `title` is the academic title ("Dr."), `function` the
    job title, which vCard calls TITLE.
    """
    prefix = " ".join(
        part.strip()
        for part in (
            salutation if (salutation or "").strip().casefold() in _NAME_PREFIX_SALUTATIONS else "",
            title or "",
        )
        if part and part.strip()
    )
    full_name = " ".join(
        part.strip() for part in (title, first_name, last_name) if part and part.strip()
    )
    emails = [e.strip() for e in emails if e and e.strip()]
    # FN is mandatory in vCard 3.0; a contact known only by organisation or address still
    # needs one, or Outlook shows an empty entry.
    full_name = full_name or (org_name or "").strip() or (emails[0] if emails else "Kontakt")

    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "PRODID:-//netzwerk-crm//Kontakte//DE",
        "N:" + ";".join(_escape(v) for v in (last_name, first_name, "", prefix, "")),
        "FN:" + _escape(full_name),
    ]
    if org_name and org_name.strip():
        lines.append("ORG:" + _escape(org_name))
    if function and function.strip():
        lines.append("TITLE:" + _escape(function))
    lines.extend("EMAIL;TYPE=INTERNET:" + _escape(email) for email in emails)
    lines.extend(f"TEL;TYPE={kind}:{_escape(number)}" for kind, number in _phone_entries(phones))
    if any(part and part.strip() for part in (street, postcode, city)):
        # Components: PO box; extended address; street; locality; region; postcode; country.
        adr = ("", "", street, city, "", postcode, "Deutschland")
        lines.append("ADR;TYPE=WORK:" + ";".join(_escape(v) for v in adr))
    if note and note.strip():
        lines.append("NOTE:" + _escape(note))
    lines.append("END:VCARD")
    return "".join(_fold(line) + "\r\n" for line in lines)
