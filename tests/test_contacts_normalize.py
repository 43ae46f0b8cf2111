"""Folding and normalisation used by search, duplicate detection and the importer."""

from __future__ import annotations

import pytest

from crm.contacts.normalize import (
    fold,
    is_valid_german_postcode,
    normalize_email,
    normalize_phone,
    organisation_key,
    person_key,
    search_terms,
)


def test_mueller_and_müller_fold_to_the_same_key() -> None:
    assert fold("Müller") == fold("Mueller") == fold("MÜLLER") == "mueller"


def test_strasse_with_sharp_s_folds_like_spelled_out_form() -> None:
    assert fold("Straße") == fold("Strasse") == fold("STRAẞE") == "strasse"


def test_umlauts_in_decomposed_form_fold_like_precomposed() -> None:
    decomposed = "Mu\u0308ller"  # as macOS writes file names
    assert fold(decomposed) == "mueller"


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Ärztekammer Öhringen Übach", "aerztekammer oehringen uebach"),
        ("Renée Çelik", "renee celik"),
        ("Łukasz Wałęsa", "lukasz walesa"),
        ("Søren Ærø", "soren aero"),
        ("Ayşe Yıldız", "ayse yildiz"),
        ("  Anna \t  Lena\n Berg ", "anna lena berg"),
    ],
)
def test_accents_are_removed_and_whitespace_collapsed(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_of_nothing_is_an_empty_string() -> None:
    assert fold(None) == ""
    assert fold("") == ""


def test_person_key_ignores_case_umlaut_spelling_and_hyphens() -> None:
    assert person_key("Hans-Jürgen", "Müller") == person_key("hans jürgen", "MUELLER")
    assert person_key("Hans-Jürgen", "Müller") == "hans juergen|mueller"


def test_person_key_keeps_first_and_last_name_apart() -> None:
    assert person_key("Anna Lena", "Berg") != person_key("Anna", "Lena Berg")


def test_person_key_of_a_nameless_person_is_empty() -> None:
    assert person_key(None, "  ") == ""


@pytest.mark.parametrize(
    "name",
    [
        "Müller Metallbau GmbH",
        "Mueller Metallbau",
        "MÜLLER METALLBAU gGmbH",
        "Müller Metallbau GmbH & Co. KG",
        "Müller Metallbau GmbH und Co. KG",
        "Müller-Metallbau AG",
        "Müller Metallbau KG",
        "Müller Metallbau e.V.",
        "Müller Metallbau e. V.",
        "Müller Metallbau UG (haftungsbeschränkt)",
        "Müller Metallbau Gesellschaft mit beschränkter Haftung",
        "Müller Metallbau e.K.",
        "Müller Metallbau, GmbH",
    ],
)
def test_organisation_key_drops_legal_form_and_punctuation(name: str) -> None:
    assert organisation_key(name) == "mueller metallbau"


def test_organisation_key_keeps_words_that_only_look_like_legal_forms() -> None:
    assert organisation_key("AG") == "ag"
    assert organisation_key("AG Arbeit und Leben") == "ag arbeit und leben"
    assert organisation_key("Schmidt & Partner") == organisation_key("Schmidt und Partner")


def test_organisation_key_treats_gesellschaft_fuer_mbh_as_the_same_firm() -> None:
    assert organisation_key("Gesellschaft für Arbeit mbH") == "gesellschaft fuer arbeit"


def test_email_is_stripped_and_lowered_entirely() -> None:
    assert normalize_email("  Max.Mueller@Firma.DE ") == "max.mueller@firma.de"
    assert normalize_email("mailto:Info@Example.org") == "info@example.org"


def test_blank_email_becomes_none() -> None:
    assert normalize_email("   ") is None
    assert normalize_email(None) is None


@pytest.mark.parametrize("code", ["01067", "39218", "06108", " 99998 ", "01001"])
def test_five_digit_german_postcodes_are_valid(code: str) -> None:
    assert is_valid_german_postcode(code)


@pytest.mark.parametrize(
    "code",
    ["1067", "390104", "00999", "99999", "00000", "3921a", "39 218", "", None, "¹²³⁴⁵", "٣٩٢١٨"],
)
def test_other_postcodes_are_invalid(code: str | None) -> None:
    assert not is_valid_german_postcode(code)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("0391 / 123 45-67", "0391 123 45 67"),
        ("+49 (0)391 1234567", "+49 391 1234567"),
        ("+49(0)3471-123-0", "+49 3471 123 0"),
        ("0049 391 1234567", "+49 391 1234567"),
        ("Tel.: 03928 456700", "03928 456700"),
        ("(0391) 12345", "0391 12345"),
    ],
)
def test_phone_numbers_keep_plus_digits_and_their_grouping(raw: str, normalised: str) -> None:
    assert normalize_phone(raw) == normalised


def test_phone_without_digits_becomes_none() -> None:
    assert normalize_phone("keine Angabe") is None
    assert normalize_phone(None) is None


def test_search_query_is_split_into_folded_distinct_terms() -> None:
    assert search_terms("  Müller, Schönebeck müller ") == ["mueller", "schoenebeck"]


def test_search_terms_contain_only_letters_and_digits() -> None:
    # Safe for FTS5 MATCH: no quotes, stars, colons or operators survive.
    assert search_terms('j.mueller@firma.de "OR" NEAR(* -x:') == [
        "j",
        "mueller",
        "firma",
        "de",
        "or",
        "near",
        "x",
    ]


def test_search_terms_are_limited_in_number() -> None:
    assert len(search_terms(" ".join(f"wort{i}" for i in range(50)))) == 8
    assert search_terms("") == []
