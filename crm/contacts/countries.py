"""Countries (ISO 3166-1 alpha-2), their names, and the postcode and phone rules per country.

Names come from Babel's CLDR data (installed with Flask-Babel): German names in the German
UI, English in the English one. Pure functions, no database: forms, the importer, exports
and the migration's backfill use the same rules.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import phonenumbers
from babel import Locale

from crm.contacts.normalize import fold, is_valid_german_postcode

__all__ = [
    "DEFAULT_COUNTRY",
    "POSTCODE_MAX",
    "country_choices",
    "country_codes",
    "country_name",
    "is_valid_postcode",
    "parse_country",
    "phone_e164",
]

DEFAULT_COUNTRY = "DE"
# Longest postcodes in use worldwide are ten characters ("12345-6789" in the US).
POSTCODE_MAX = 16
# CLDR territories that are not ISO 3166-1 countries: groupings (EU, euro area, UN), test
# codes, and "exceptionally reserved" codes (Ascension, Canary Islands …).
_NOT_COUNTRIES = frozenset(
    {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ", "AC", "CP", "CQ", "DG", "EA", "IC", "TA"}
)
_ALPHA2 = re.compile(r"[A-Z]{2}")

# Light patterns where the format is fixed and well known; other countries' postcodes are
# free text (stripped, bounded). "LV-5401" is how Latvian addresses write it.
_POSTCODE_PATTERNS = {
    "AT": re.compile(r"[0-9]{4}"),
    "CH": re.compile(r"[0-9]{4}"),
    "LI": re.compile(r"[0-9]{4}"),
    "NL": re.compile(r"[0-9]{4} ?[A-Za-z]{2}"),
    "PL": re.compile(r"[0-9]{2}-[0-9]{3}"),
    "LV": re.compile(r"(?:LV-?)?[0-9]{4}", re.IGNORECASE),
}


@functools.cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code CLDR names."""
    return frozenset(
        code
        for code in Locale("en").territories
        if isinstance(code, str) and _ALPHA2.fullmatch(code) and code not in _NOT_COUNTRIES
    )


def _collation_key(name: str) -> str:
    # German dictionary order (DIN 5007-1): umlauts sort as their base letter, so
    # "Österreich" comes between "Oman" and "Pakistan".
    decomposed = unicodedata.normalize("NFKD", name.casefold().replace("ß", "ss"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@functools.cache
def _names(locale: str) -> dict[str, str]:
    try:
        territories = Locale.parse(locale).territories
    except (ValueError, TypeError):
        territories = Locale("de").territories
    return {code: territories.get(code, code) for code in country_codes()}


def country_name(code: str | None, locale: str = "de") -> str:
    """The country's name in the locale ("LV" → "Lettland"), or the code if unknown."""
    if not code:
        return ""
    return _names(locale).get(code.upper(), code)


@functools.cache
def country_choices(locale: str = "de") -> tuple[tuple[str, str], ...]:
    """(code, name) of every country, Germany first, the rest in German collation order."""
    names = _names(locale)
    rest = sorted(
        (c for c in names if c != DEFAULT_COUNTRY), key=lambda c: _collation_key(names[c])
    )
    return ((DEFAULT_COUNTRY, names[DEFAULT_COUNTRY]), *((c, names[c]) for c in rest))


@functools.cache
def _by_name() -> dict[str, str]:
    """Folded German and English names (and a few everyday spellings) → code."""
    lookup: dict[str, str] = {}
    for locale in ("en", "de"):
        for code, name in _names(locale).items():
            lookup.setdefault(fold(name), code)
    lookup.update(
        {
            "deutschland": "DE",
            "brd": "DE",
            "bundesrepublik deutschland": "DE",
            "germany": "DE",
            "usa": "US",
            "uk": "GB",
            "england": "GB",
            "grossbritannien": "GB",
            "holland": "NL",
            "tuerkei": "TR",
            "turkey": "TR",
        }
    )
    return lookup


def parse_country(text: str | None) -> str | None:
    """The ISO code for a code or a German/English name ("lv", "Lettland", "Latvia"), or None."""
    if text is None:
        return None
    value = text.strip()
    if _ALPHA2.fullmatch(value.upper()) and value.upper() in country_codes():
        return value.upper()
    return _by_name().get(fold(value))


def is_valid_postcode(value: str | None, country: str | None) -> bool:
    """Tell whether a non-empty postcode fits the country's rule (free text where none)."""
    value = (value or "").strip()
    if not value or len(value) > POSTCODE_MAX:
        return False
    country = (country or DEFAULT_COUNTRY).upper()
    if country == "DE":
        return is_valid_german_postcode(value)
    pattern = _POSTCODE_PATTERNS.get(country)
    if pattern is not None:
        return bool(pattern.fullmatch(value))
    # Control characters and line breaks are never part of an address.
    return value.isprintable()


def phone_e164(value: str | None, country: str | None = DEFAULT_COUNTRY) -> str | None:
    """The number in E.164 ("+493915402398"), read with the country as default region.

    None when the text is not a valid number ("0391" alone, letters, a digit too many).
    "+49 (0)391 …", "0049 391 …" and "0391 540-2398" all give the same result.
    """
    text = (value or "").strip()
    if not text:
        return None
    region = (country or DEFAULT_COUNTRY).upper()
    try:
        number = phonenumbers.parse(text, region if region in country_codes() else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
