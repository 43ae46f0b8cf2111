"""vCard 3.0 export of a person (RFC 2426), the version Outlook imports most reliably."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["CardOrganisation", "person_vcard"]

_MAX_OCTETS = 75
# Salutations that belong in front of a name; "divers" and "keine Angabe" do not.
_NAME_PREFIX_SALUTATIONS = {"frau", "herr"}
_PHONE_TYPES = {
    "work": "WORK,VOICE",
    "mobile": "CELL,VOICE",
    "home": "HOME,VOICE",
    "fax": "WORK,FAX",
}
# Without a stated country a five-digit postcode is German; anything else is left without
# a country rather than labelled wrongly.
_GERMAN_POSTCODE = re.compile(r"\d{5}")
# Escape pairs are kept together when folding so that no line ends with a lone backslash.
_UNITS = re.compile(r"\\.|.", re.DOTALL)


@dataclass(frozen=True)
class CardOrganisation:
    """One organisation a person works at, with their function there and its address."""

    name: str | None
    function: str | None = None
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    # The country's name as the address shows it ("Lettland"); None: guess from the postcode.
    country: str | None = None


def _country(org: CardOrganisation) -> str:
    """The country of an address: as recorded, else as far as the postcode tells it."""
    if org.country is not None:
        return org.country
    return "Deutschland" if _GERMAN_POSTCODE.fullmatch((org.postcode or "").strip()) else ""


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
    organisations: Iterable[CardOrganisation] = (),
    note: str | None = None,
) -> str:
    """Return a person as a vCard 3.0 text with CRLF line ends, to be sent as UTF-8.

    `phones` holds numbers (taken as work numbers) or ``(kind, number)`` pairs with kind
    "work", "mobile", "home" or "fax". `title` is the academic title ("Dr."); each
    organisation's `function` is the job title, which vCard calls TITLE. The first
    organisation is the one clients that read only one ORG show.
    """
    organisations = [o for o in organisations if o.name and o.name.strip()]
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
    org_name = (organisations[0].name or "").strip() if organisations else ""
    full_name = full_name or org_name or (emails[0] if emails else "Kontakt")

    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "PRODID:-//netzwerk-crm//Kontakte//DE",
        "N:" + ";".join(_escape(v) for v in (last_name, first_name, "", prefix, "")),
        "FN:" + _escape(full_name),
    ]
    # vCard 3.0 allows ORG and TITLE more than once; each organisation's TITLE follows its ORG
    # so clients that pair them by order (Google, Thunderbird) keep function and employer
    # together, and those that read only the first (Outlook, Apple) get the first pair.
    for org in organisations:
        lines.append("ORG:" + _escape(org.name))
        if org.function and org.function.strip():
            lines.append("TITLE:" + _escape(org.function))
    lines.extend("EMAIL;TYPE=INTERNET:" + _escape(email) for email in emails)
    lines.extend(f"TEL;TYPE={kind}:{_escape(number)}" for kind, number in _phone_entries(phones))
    for org in organisations:
        if any(part and part.strip() for part in (org.street, org.postcode, org.city)):
            # Components: PO box; extended address; street; locality; region; postcode; country.
            adr = ("", "", org.street, org.city, "", org.postcode, _country(org))
            lines.append("ADR;TYPE=WORK:" + ";".join(_escape(v) for v in adr))
    if note and note.strip():
        lines.append("NOTE:" + _escape(note))
    lines.append("END:VCARD")
    return "".join(_fold(line) + "\r\n" for line in lines)
