"""Folding and normalisation of names, e-mails, postcodes and phone numbers.

Everything here is pure and database-free: the search index, duplicate detection, the importer
and the forms all call the same functions, so "Müller" and "Mueller" meet in every path.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = [
    "fold",
    "fold_plain",
    "is_valid_german_postcode",
    "normalize_email",
    "normalize_phone",
    "organisation_key",
    "person_key",
    "search_terms",
    "sort_key",
]

# German umlauts are spelled out (not stripped) because that is how Germans type them on a
# keyboard without umlauts: "Müller" is written "Mueller", never "Muller".
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ẞ": "ss"})

# Letters that NFKD does not decompose into base letter + combining mark.
_NO_DECOMPOSITION = str.maketrans(
    {
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "ø": "o",
        "ı": "i",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ħ": "h",
    }
)

_WHITESPACE = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w]+|_")


@functools.lru_cache(maxsize=65536)
def fold(text: str | None) -> str:
    """Fold text for search and duplicate matching: lower case, umlauts spelled out, no accents."""
    # Cached: an import folds the same town, firm and first names thousands of times.
    if not text:
        return ""
    if text.isascii():
        # Plain ASCII (most names, all e-mails) needs no Unicode normalisation: the fast
        # path is a third quicker for the import (bench finding 5) and gives the same result.
        return _WHITESPACE.sub(" ", text.lower()).strip()
    # NFC first so that a decomposed "u + combining diaeresis" (macOS file names, some PDFs)
    # is translated like the precomposed "ü".
    text = unicodedata.normalize("NFC", text).casefold()
    text = text.translate(_GERMAN).translate(_NO_DECOMPOSITION)
    if not text.isascii():
        # Only what is left after spelling out the umlauts needs the decomposition
        # ("Müller" is ASCII by now, "Ayşe" is not): the same result, without the
        # per-character loop for most German names.
        text = "".join(
            ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
        )
    return _WHITESPACE.sub(" ", text).strip()


# Umlauts as their base letter: how a name is written where no umlaut can be typed or printed
# (a passport's or visa's Latin line, a foreign keyboard): "Müller" -> "Muller".
_PLAIN_VOWELS = str.maketrans({"ä": "a", "ö": "o", "ü": "u"})


@functools.lru_cache(maxsize=65536)
def fold_plain(text: str | None) -> str:
    """Fold like fold(), but with umlauts as their base letter: "Schäfer" -> "schafer"."""
    if not text or text.isascii():
        return fold(text)
    # NFC first, as in fold(): a decomposed "u + combining diaeresis" must meet "ü" here.
    return fold(unicodedata.normalize("NFC", text).casefold().translate(_PLAIN_VOWELS))


@functools.lru_cache(maxsize=65536)
def _sort_words(text: str | None) -> tuple[str, ...]:
    # DIN 5007-1 ("Wörterbuch"): umlauts count as their base letter (ä = a), unlike fold(),
    # which spells them out for search; ß is "ss" (casefold), other accents are stripped.
    if not text:
        return ()
    if not text.isascii():
        text = unicodedata.normalize("NFC", text).casefold().translate(_NO_DECOMPOSITION)
        text = "".join(
            ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
        )
    return tuple(w for w in _NOT_WORD.split(text.casefold()) if w)


def sort_key(*parts: str | None, length: int = 200) -> str:
    """Return the DIN 5007-1 sort key of a name given in sort order (e.g. last, first)."""
    # Words of one part are joined by "-" and the parts by " ", which sorts below "-" and
    # every letter: "Berg, Zoe" comes before "Berg-Mann, Anna" and "Berg Mann, Anna".
    # Only ASCII is left for Latin names, so binary order (SQLite, COLLATE "C") is the
    # dictionary order on both databases.
    return " ".join("-".join(_sort_words(p)) for p in parts).rstrip()[:length]


def _words(text: str | None) -> list[str]:
    return [w for w in _NOT_WORD.split(fold(text)) if w]


def person_key(first: str | None, last: str | None) -> str:
    """Return the duplicate-matching key of a person's name ("" if both parts are empty)."""
    # Hyphens and spaces are equivalent ("Hans-Peter" = "Hans Peter"); the separator between
    # the parts keeps "Anna Lena|Berg" apart from "Anna|Lena Berg".
    first_words, last_words = _words(first), _words(last)
    if not first_words and not last_words:
        return ""
    return f"{' '.join(first_words)}|{' '.join(last_words)}"


# Legal forms are compared on the folded, dot-free form: "e.V." -> "ev", "GmbH & Co. KG" ->
# "gmbh und co kg". Longer forms come first so "gmbh und co kg" wins over "kg".
_LEGAL_FORMS: tuple[tuple[str, ...], ...] = tuple(
    sorted(
        (
            tuple(form.split())
            for form in (
                "gmbh und co kg",
                "gmbh und co kgaa",
                "gmbh und co ohg",
                "ag und co kg",
                "ag und co ohg",
                "ug haftungsbeschraenkt und co kg",
                "ug und co kg",
                "se und co kg",
                "ev und co kg",
                "gesellschaft mit beschraenkter haftung",
                "ug haftungsbeschraenkt",
                "eingetragener verein",
                "ev",
                "e v",
                "e k",
                "ggmbh",
                "gmbh",
                "mbh",
                "gag",
                "ag",
                "kgaa",
                "kg",
                "ohg",
                "gbr",
                "ug",
                "eg",
                "se",
                "partg",
                "partgmbb",
                "ltd",
                "inc",
                "llc",
                "gug",
                "aoer",
                "kdoer",
                "ek",
                "ekfm",
                "ekfr",
            )
        ),
        key=len,
        reverse=True,
    )
)


@functools.lru_cache(maxsize=65536)
def organisation_key(name: str | None) -> str:
    """Return the duplicate-matching key of an organisation name without its legal form."""
    text = fold(name).replace("&", " und ").replace("+", " und ")
    # Dots vanish without a gap so abbreviations stay one word ("e.V." -> "ev", "Co." -> "co").
    words = [w for w in _NOT_WORD.split(text.replace(".", "")) if w]
    stripped = True
    while stripped:
        stripped = False
        for form in _LEGAL_FORMS:
            # Keep at least one word: an organisation literally called "AG" stays "ag".
            if len(words) > len(form) and tuple(words[-len(form) :]) == form:
                words = words[: -len(form)]
                stripped = True
                break
    return " ".join(words)


def normalize_email(value: str | None) -> str | None:
    """Return the e-mail address stripped and in lower case, or None if it is blank."""
    if value is None:
        return None
    value = value.strip()
    if value[:7].lower() == "mailto:":
        value = value[7:].strip()
    # The local part is case-sensitive in theory only; every real mail server treats
    # "Max.Mueller@" and "max.mueller@" alike, and duplicates must match.
    return value.lower() or None


_POSTCODE = re.compile(r"[0-9]{5}")


def is_valid_german_postcode(value: str | None) -> bool:
    """Tell whether the value is a five-digit German postcode between 01001 and 99998."""
    if value is None:
        return False
    value = value.strip()
    # An explicit ASCII pattern: str.isdigit() would accept "¹²³⁴⁵" or Arabic-Indic digits.
    return bool(_POSTCODE.fullmatch(value)) and 1001 <= int(value) <= 99998


_TRUNK_ZERO = re.compile(r"^(\+\d{1,3})\s*\(0\)")
_DIGIT_GROUPS = re.compile(r"\d+")


def normalize_phone(value: str | None) -> str | None:
    """Return the phone number as "+", digits and single spaces between the typed groups."""
    if value is None:
        return None
    value = value.strip()
    # "+49 (0)391 …" is a common German notation; the "(0)" must not be dialled after +49.
    value = _TRUNK_ZERO.sub(r"\1 ", value)
    groups = _DIGIT_GROUPS.findall(value)
    if not groups:
        return None
    international = value.startswith("+")
    if not international and groups[0].startswith("00") and len(groups[0]) > 2:
        # "0049 391 …" is the same number as "+49 391 …"; one spelling lets duplicates match.
        groups[0] = groups[0][2:]
        international = True
    return ("+" if international else "") + " ".join(groups)


_MAX_TERMS = 8


def search_terms(text: str | None, *, max_terms: int = _MAX_TERMS) -> list[str]:
    """Split a search query into distinct folded words, in order, for a prefix search."""
    # Only letters and digits survive, so the terms are safe to put into an FTS5 MATCH or a
    # LIKE pattern; the limit keeps a pasted paragraph from becoming a huge query.
    terms: list[str] = []
    for word in _words(text):
        if word not in terms:
            terms.append(word)
        if len(terms) == max_terms:
            break
    return terms
