"""Foreign partners: country, postcode and phone rules per country, E.164 matching (issue 13)."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from crm.contacts import service
from crm.contacts.countries import (
    country_choices,
    is_valid_postcode,
    parse_country,
    phone_e164,
)
from crm.contacts.models import Organisation, Person
from crm.extensions import db
from tests.conftest import build_app
from tests.test_contacts_import import BASE, csv_bytes, start, upload_job

ORG_FORM = {
    "name": "Stadtverwaltung Daugavpils",
    "kind": "authority",
    "size_class": "",
    "street": "Kr. Valdemāra iela 1",
    "postcode": "LV-5401",
    "city": "Daugavpils",
    "country": "LV",
    "owner_id": "0",
}
PERSON_FORM = {"salutation": "", "last_name": "Berg", "first_name": "Anna", "owner_id": "0"}


@pytest.fixture
def staff(client_as):
    return client_as("staff")


def _orgs(session) -> list[Organisation]:
    return list(session.scalars(sa.select(Organisation).order_by(Organisation.id)))


# --- rules (pure) ---------------------------------------------------------------------------------


def test_countries_are_offered_with_german_names_germany_first_then_in_german_order():
    codes = [code for code, _name in country_choices("de")]
    names = dict(country_choices("de"))
    assert codes[0] == "DE"
    assert names["LV"] == "Lettland"
    # Umlauts sort as their base letter: Oman, Österreich, Pakistan.
    assert codes.index("OM") < codes.index("AT") < codes.index("PK")
    assert "EU" not in names
    assert "ZZ" not in names


@pytest.mark.parametrize(
    ("text", "code"),
    [("LV", "LV"), ("lv", "LV"), ("Lettland", "LV"), ("Latvia", "LV"), ("Österreich", "AT"),
     ("Oesterreich", "AT"), ("Deutschland", "DE"), ("Atlantis", None), ("", None)],
)  # fmt: skip
def test_a_country_is_read_from_a_code_or_a_german_or_english_name(text, code):
    assert parse_country(text) == code


@pytest.mark.parametrize(
    ("postcode", "country", "valid"),
    [("39104", "DE", True), ("LV-5401", "DE", False), ("LV-5401", "LV", True),
     ("5401", "LV", True), ("1010", "AT", True), ("10100", "AT", False),
     ("00-950", "PL", True), ("1012 AB", "NL", True), ("SW1A 1AA", "GB", True),
     ("x" * 17, "GB", False), ("12\n34", "FR", False)],
)  # fmt: skip
def test_postcodes_follow_the_rule_of_their_country(postcode, country, valid):
    assert is_valid_postcode(postcode, country) is valid


def test_the_spellings_of_one_german_number_have_one_e164_form():
    spellings = ["0391 540-2398", "+49 391 5402398", "+49 (0)391 5402398", "0049 391 5402398"]
    assert {phone_e164(s, "DE") for s in spellings} == {"+493915402398"}
    # A local number is read in the record's country.
    assert phone_e164("6540 1234", "LV") == "+37165401234"
    assert phone_e164("0391", "DE") is None
    assert phone_e164("ruft zurück", "DE") is None


# --- forms ---------------------------------------------------------------------------------------


def test_the_city_of_daugavpils_is_saved_with_its_latvian_postcode(db_session, staff):
    response = staff.post("/kontakte/organisationen/neu", data=ORG_FORM)
    assert response.status_code == 302, response.get_data(as_text=True)
    (org,) = _orgs(db_session)
    assert (org.postcode, org.country, org.city) == ("LV-5401", "LV", "Daugavpils")
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert '<dd class="col-sm-8" id="country">Lettland</dd>' in page


def test_a_latvian_postcode_is_still_refused_for_a_german_address(db_session, staff):
    response = staff.post("/kontakte/organisationen/neu", data={**ORG_FORM, "country": "DE"})
    assert response.status_code == 200
    assert "fünfstellige deutsche Postleitzahl" in response.get_data(as_text=True)
    assert _orgs(db_session) == []


def test_a_postcode_in_the_wrong_format_for_austria_gets_a_german_error(db_session, staff):
    data = {**ORG_FORM, "country": "AT", "postcode": "10100", "city": "Wien"}
    response = staff.post("/kontakte/organisationen/neu", data=data)
    assert response.status_code == 200
    assert "passt nicht zum Format in Österreich" in response.get_data(as_text=True)
    assert _orgs(db_session) == []


def test_an_unknown_country_code_is_refused(db_session, staff):
    response = staff.post("/kontakte/organisationen/neu", data={**ORG_FORM, "country": "XX"})
    assert response.status_code == 200
    assert _orgs(db_session) == []


def test_the_country_select_offers_germany_first_and_preselected(staff):
    page = staff.get("/kontakte/organisationen/neu").get_data(as_text=True)
    select = page.split('name="country"', 1)[1].split("</select>", 1)[0]
    assert select.index('value="DE"') < select.index('value="AF"')
    assert '<option selected value="DE">Deutschland</option>' in select


def test_a_phone_number_that_cannot_be_read_gets_a_german_error_and_nothing_is_lost(
    db_session, staff
):
    data = {**PERSON_FORM, "phone": "0391 54", "notes": "Rückruf erbeten"}
    response = staff.post("/kontakte/personen/neu", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Bitte eine gültige Telefonnummer eingeben" in html
    assert 'value="0391 54"' in html
    assert "Rückruf erbeten" in html
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 0


def test_a_phone_is_kept_as_typed_and_stored_in_e164_beside_it(db_session, staff):
    data = {**PERSON_FORM, "phone": "0391 540-2398", "mobile": "+371 2612 3456"}
    assert staff.post("/kontakte/personen/neu", data=data).status_code == 302
    person = db_session.scalar(sa.select(Person))
    assert (person.phone, person.phone_e164) == ("0391 540-2398", "+493915402398")
    assert person.mobile_e164 == "+37126123456"
    assert person.country == "DE"


def test_a_local_number_of_a_latvian_organisation_is_read_as_latvian(db_session, staff):
    response = staff.post("/kontakte/organisationen/neu", data={**ORG_FORM, "phone": "6540 1234"})
    assert response.status_code == 302
    (org,) = _orgs(db_session)
    assert org.phone_e164 == "+37165401234"


def test_editing_the_phone_keeps_the_e164_form_current(db_session):
    org = service.save_organisation(db_session, {"name": "A", "phone": "0391 5402398"})
    service.save_organisation(db_session, {"phone": "030 1234567"}, org)
    assert org.phone_e164 == "+49301234567"
    service.save_organisation(db_session, {"phone": ""}, org)
    assert org.phone_e164 == ""


# --- duplicates by phone -----------------------------------------------------------------------


def test_a_person_with_the_same_number_in_another_spelling_is_a_duplicate(db_session, staff):
    existing = service.save_person(
        db_session, {"first_name": "Anna", "last_name": "Berg", "phone": "+49 391 5402398"}
    )
    db_session.commit()
    data = {**PERSON_FORM, "last_name": "Berg-Meier", "mobile": "0391 540-2398"}
    response = staff.post("/kontakte/personen/neu", data=data)
    html = response.get_data(as_text=True)
    assert 'id="duplicate-warning"' in html
    assert f'href="/kontakte/personen/{existing.id}"' in html
    assert "gleiche Telefonnummer" in html
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 1


def test_an_organisation_with_the_same_number_is_a_duplicate_candidate(db_session):
    org = service.save_organisation(
        db_session, {"name": "Jobcenter Magdeburg", "phone": "+49 391 5402398"}
    )
    hits = service.find_organisation_duplicates(
        db_session, name="JC MD", phone="0391 540-2398", country="DE"
    )
    assert [(h.record.id, h.reasons) for h in hits] == [(org.id, ["phone"])]
    # Read as a Latvian number, the same digits are another number.
    assert (
        service.find_organisation_duplicates(
            db_session, name="JC MD", phone="0391 540-2398", country="LV"
        )
        == []
    )


# --- import ------------------------------------------------------------------------------------


def test_a_foreign_organisation_is_imported_with_its_country(staff, db_session):
    data = csv_bytes(
        "Firma;Straße;PLZ;Ort;Land;Telefon",
        [
            "Stadtverwaltung Daugavpils;Kr. Valdemāra iela 1;LV-5401;Daugavpils;Lettland;6540 1234",
            "Magistrat Wien;Rathausplatz 1;1010;Wien;AT;",
            "Bäckerei Groß;Markt 1;06108;Halle;;0345 123456",
        ],
    )
    job = upload_job(staff, db_session, "ausland.csv", data)
    assert job.mapping["Land"] == "country"
    start(staff, db_session, job)
    assert job.status == "done", job.message
    by_name = {o.name: o for o in _orgs(db_session)}
    daugavpils = by_name["Stadtverwaltung Daugavpils"]
    assert (daugavpils.country, daugavpils.postcode) == ("LV", "LV-5401")
    assert daugavpils.phone_e164 == "+37165401234"
    assert by_name["Magistrat Wien"].country == "AT"
    assert (by_name["Bäckerei Groß"].country, by_name["Bäckerei Groß"].phone_e164) == (
        "DE",
        "+49345123456",
    )


def test_an_unknown_country_or_a_postcode_of_another_country_rejects_the_row_in_german(
    staff, db_session
):
    data = csv_bytes(
        "Firma;PLZ;Land",
        ["Atlantis AG;12345;Atlantis", "Wiener Firma;10100;Österreich", "Gute GmbH;39104;DE"],
    )
    job = upload_job(staff, db_session, "ausland.csv", data)
    start(staff, db_session, job, action="dry_run")
    reasons = {number: r for number, _o, r in job.report["rows"]}
    assert reasons[1] == [["invalid_country", {"value": "Atlantis"}]]
    assert reasons[2] == [["invalid_postcode_country", {"value": "10100", "country": "AT"}]]
    page = staff.get(f"{BASE}{job.id}").get_data(as_text=True)
    assert "Unbekanntes Land „Atlantis“" in page
    assert "Ungültige Postleitzahl „10100“ für Österreich" in page


def test_the_import_matches_a_person_by_name_and_number_in_another_spelling(staff, db_session):
    anna = service.save_person(
        db_session, {"first_name": "Anna", "last_name": "Berg", "phone": "+49 391 5402398"}
    )
    other = service.save_person(
        db_session, {"first_name": "Ben", "last_name": "Kurz", "phone": "+49 391 5402398"}
    )
    db_session.commit()
    data = csv_bytes(
        "Vorname;Nachname;Telefon",
        ["Anna;Berg;0391 540-2398", "Carla;Kurz;0391 540-2398"],
    )
    job = upload_job(staff, db_session, "telefon.csv", data)
    start(staff, db_session, job)
    reasons = {number: r for number, _o, r in job.report["rows"]}
    assert reasons[1] == [["dup_phone", {"id": anna.id}]]
    # The same switchboard number alone does not make Carla Kurz one of the others.
    assert reasons[2][0] == ["new_person", {}]
    assert other.id != anna.id
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 3


def test_the_import_matches_an_organisation_by_name_and_number_when_the_postcode_differs(
    staff, db_session
):
    org = service.save_organisation(
        db_session, {"name": "Jobcenter Börde", "postcode": "39340", "phone": "03904 1234567"}
    )
    db_session.commit()
    data = csv_bytes("Firma;PLZ;Telefon", ["Jobcenter Börde;39345;+49 3904 1234567"])
    job = upload_job(staff, db_session, "jc.csv", data)
    start(staff, db_session, job)
    assert job.report["rows"][0][2] == [["dup_org_phone", {"id": org.id}]]
    assert len(_orgs(db_session)) == 1


# --- exports -----------------------------------------------------------------------------------


def test_the_csv_export_and_the_vcard_carry_the_country(db_session, staff):
    org = service.save_organisation(db_session, {**ORG_FORM, "owner_id": None})
    person = service.save_person(db_session, {"first_name": "Inese", "last_name": "Ozola"})
    service.add_affiliation(db_session, person, org, function="Leiterin")
    db_session.commit()
    response = staff.get("/kontakte/organisationen/export.csv")
    text = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    country_column = rows[0].index("Land")
    assert rows[1][country_column] == "LV"
    card = service.person_card(person, today=date(2026, 12, 6))
    assert "ADR;TYPE=WORK:;;Kr. Valdemāra iela 1;Daugavpils;;LV-5401;Lettland" in card


# --- migration ---------------------------------------------------------------------------------


def test_the_migration_gives_existing_rows_germany_and_normalises_their_numbers(
    make_database, tmp_path
):
    application = build_app(make_database(), str(tmp_path))
    with application.app_context():
        upgrade(revision="e5a1c7d20b94")
        now = "2026-01-01 00:00:00+00"
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO organisation (name, name_key, kind, sector, size_class, region,"
                    " street, postcode, city, phone, email, website, notes, search_text,"
                    " created_at, updated_at) VALUES ('Bäckerei Groß', 'baeckerei gross',"
                    " 'chamber', '', '', '', '', '06108', 'Halle', '0345 123456', '', '', '',"
                    " 'baeckerei gross halle', :now, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO person (salutation, title, first_name, last_name, name_key,"
                    " email, email_alt, phone, mobile, language, notes, search_text, token_nonce,"
                    " created_at, updated_at) VALUES ('', '', 'Anna', 'Berg', 'anna|berg', '',"
                    " '', '+49 (0)391 5402398', 'ruft zurück', 'de', '', 'anna berg', 'x',"
                    " :now, :now)"
                ),
                {"now": now},
            )
        upgrade()
        with db.engine.connect() as conn:
            org = conn.execute(
                sa.text("SELECT kind, postcode, country, phone, phone_e164 FROM organisation")
            ).one()
            person = conn.execute(
                sa.text("SELECT country, phone, phone_e164, mobile, mobile_e164 FROM person")
            ).one()
            kinds = set(conn.execute(sa.text("SELECT key FROM organisation_kind")).scalars())
        assert tuple(org) == ("chamber", "06108", "DE", "0345 123456", "+49345123456")
        assert tuple(person) == ("DE", "+49 (0)391 5402398", "+493915402398", "ruft zurück", "")
        assert {"employer", "works_council", "multiplier", "migrant_organisation", "funder",
                "university", "vocational_school", "partner_abroad", "ministry",
                "city_administration"} <= kinds  # fmt: skip
        # The rebuilt table still feeds the search index (SQLite) / vector (PostgreSQL).
        session = db.session
        found = session.scalars(
            service.organisation_query(session, service.ListFilters(q="baeckerei"))
        ).all()
        assert [o.name for o in found] == ["Bäckerei Groß"]
        session.remove()
        # The database refuses a kind that is not in the table.
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE organisation SET kind = 'unknown'"))
        downgrade(revision="-1")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT kind, phone FROM organisation")).one() == (
                "chamber",
                "0345 123456",
            )
        upgrade()
        db.engine.dispose()
