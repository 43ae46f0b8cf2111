"""vCard 3.0 export of a person."""

from __future__ import annotations

import re

import vobject

from crm.contacts.vcard import CardOrganisation, person_vcard

LONG_NOTE = "Bedarf an Fachkräften für Schweißarbeiten, Montage; Lager.\n" * 4


def card(**overrides: object) -> str:
    values: dict[str, object] = {
        "salutation": "Frau",
        "title": "Dr.",
        "first_name": "Anneliese",
        "last_name": "Groß-Müller",
        "emails": ["a.gross@baeckerei-gross.de", "info@baeckerei-gross.de"],
        "phones": ["0345 123456", ("mobile", "+49 170 1234567")],
        "organisations": [
            CardOrganisation(
                name="Bäckerei Groß; Filiale Süd",
                function="Inhaberin, Ausbilderin",
                street="Marktstraße 3",
                postcode="06108",
                city="Halle (Saale)",
            )
        ],
        "note": LONG_NOTE,
    }
    values.update(overrides)
    return person_vcard(**values)  # type: ignore[arg-type]


def unfold(text: str) -> list[str]:
    """Parse content lines as a vCard reader would: unfold, then split at CRLF."""
    assert text.endswith("\r\n")
    return text[:-2].replace("\r\n ", "").split("\r\n")


def properties(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unfold(text):
        name, _, value = line.partition(":")
        found.setdefault(name, []).append(value)
    return found


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def split_components(value: str) -> list[str]:
    return [unescape(part) for part in re.split(r"(?<!\\);", value)]


def test_vcard_is_version_3_with_crlf_line_ends_only() -> None:
    text = card()
    lines = unfold(text)
    assert lines[:2] == ["BEGIN:VCARD", "VERSION:3.0"]
    assert lines[-1] == "END:VCARD"
    assert "\n" not in text.replace("\r\n", "")


def test_vcard_holds_name_organisation_function_and_contact_details() -> None:
    props = properties(card())
    assert split_components(props["N"][0]) == ["Groß-Müller", "Anneliese", "", "Frau Dr.", ""]
    assert props["FN"] == ["Dr. Anneliese Groß-Müller"]
    assert unescape(props["ORG"][0]) == "Bäckerei Groß; Filiale Süd"
    assert unescape(props["TITLE"][0]) == "Inhaberin, Ausbilderin"
    assert props["EMAIL;TYPE=INTERNET"] == [
        "a.gross@baeckerei-gross.de",
        "info@baeckerei-gross.de",
    ]
    assert props["TEL;TYPE=WORK,VOICE"] == ["0345 123456"]
    assert props["TEL;TYPE=CELL,VOICE"] == ["+49 170 1234567"]
    assert split_components(props["ADR;TYPE=WORK"][0]) == [
        "",
        "",
        "Marktstraße 3",
        "Halle (Saale)",
        "",
        "06108",
        "Deutschland",
    ]


def test_special_characters_are_escaped_and_come_back_unchanged() -> None:
    props = properties(card())
    assert r"Groß\; Filiale" in props["ORG"][0]
    assert r"Inhaberin\, Ausbilderin" in props["TITLE"][0]
    assert unescape(props["NOTE"][0]) == LONG_NOTE.strip()
    text = card(note="Pfad C:\\Daten\r\nzweite Zeile")
    assert unescape(properties(text)["NOTE"][0]) == "Pfad C:\\Daten\nzweite Zeile"


def test_long_lines_are_folded_at_75_octets_without_splitting_characters() -> None:
    text = card(note="ä" * 200 + "€" * 50)
    physical = text.split("\r\n")[:-1]
    assert any(line.startswith(" ") for line in physical)
    for line in physical:
        assert len(line.encode("utf-8")) <= 75
    # Each physical line is valid UTF-8 on its own: no character was cut in two.
    for line in physical:
        line.encode("utf-8").decode("utf-8")
    assert unescape(properties(text)["NOTE"][0]) == "ä" * 200 + "€" * 50


def test_folding_never_separates_a_backslash_from_what_it_escapes() -> None:
    text = card(note=";" * 100)
    for line in text.split("\r\n"):
        assert not re.search(r"(?<!\\)(\\\\)*\\$", line)


def test_salutation_divers_is_not_written_as_a_name_prefix() -> None:
    props = properties(card(salutation="divers", title=None))
    assert split_components(props["N"][0])[3] == ""


def test_missing_details_leave_their_lines_out() -> None:
    text = person_vcard(
        salutation=None,
        title=None,
        first_name="Peter",
        last_name="Lehmann",
        emails=[],
        phones=[],
    )
    names = [line.split(":")[0].split(";")[0] for line in unfold(text)]
    assert names == ["BEGIN", "VERSION", "PRODID", "N", "FN", "END"]


def test_contact_without_a_name_gets_a_display_name_from_the_organisation() -> None:
    props = properties(card(first_name="", last_name=None, title=None))
    assert unescape(props["FN"][0]) == "Bäckerei Groß; Filiale Süd"


def parsed(text: str) -> vobject.base.Component:
    """The one vCard in text, as vobject (an independent reader) parses and validates it."""
    cards = list(vobject.readComponents(text, validate=True))
    assert len(cards) == 1
    cards[0].validate(raiseException=True)
    return cards[0]


TWO_ORGANISATIONS = [
    CardOrganisation("Bäckerei Groß", "Inhaberin", "Marktstraße 3", "06108", "Halle (Saale)"),
    CardOrganisation("Handwerkskammer Halle", "Prüferin, Vorstand", "", "", ""),
]


def test_every_organisation_is_exported_with_its_function_in_order() -> None:
    card_ = parsed(card(organisations=TWO_ORGANISATIONS))
    assert [o.value for o in card_.contents["org"]] == [
        ["Bäckerei Groß"],
        ["Handwerkskammer Halle"],
    ]
    assert [t.value for t in card_.contents["title"]] == ["Inhaberin", "Prüferin, Vorstand"]
    assert len(card_.contents["adr"]) == 1


def test_the_note_is_exported_and_reads_back_unchanged() -> None:
    card_ = parsed(card(note="Rückruf erbeten; Montag, 9 Uhr\nzweite Zeile"))
    assert card_.note.value == "Rückruf erbeten; Montag, 9 Uhr\nzweite Zeile"


def test_country_is_germany_only_for_a_german_postcode() -> None:
    german = parsed(card()).adr.value
    assert german.country == "Deutschland"
    assert german.code == "06108"
    foreign = CardOrganisation("Firma Wien", "", "Ring 1", "1010", "Wien")
    assert parsed(card(organisations=[foreign])).adr.value.country == ""


def test_every_card_variant_parses_and_validates_with_vobject() -> None:
    variants = [
        card(),
        card(organisations=TWO_ORGANISATIONS),
        card(organisations=[], note=None),
        card(first_name="", last_name=None, title=None),
        card(note="ä" * 200 + ";" * 50 + "€" * 50),
        person_vcard(salutation=None, title=None, first_name="", last_name="", emails=[]),
    ]
    for text in variants:
        parsed(text)
