"""Kinds of organisation managed by admins under Verwaltung (issue 13)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.contacts import kinds, service
from crm.contacts.models import Organisation, OrganisationKind

BASE = "/kontakte/organisationsarten"
ORG_FORM = {"name": "Gemeinde Partnerstadt", "size_class": "", "owner_id": "0", "country": "DE"}


def _kind(session, key: str) -> OrganisationKind:
    return session.scalar(sa.select(OrganisationKind).where(OrganisationKind.key == key))


def _kind_options(html: str) -> list[str]:
    select = html.split('name="kind"', 1)[1].split("</select>", 1)[0]
    return [part.split('"', 1)[0] for part in select.split('value="')[1:]]


def test_the_seeded_kinds_include_the_new_partner_kinds(db_session):
    labels = kinds.kind_labels(db_session)
    assert labels["employer"] == "Arbeitgeber"
    assert {labels[k] for k in ("works_council", "multiplier", "migrant_organisation")} == {
        "Betriebsrat",
        "Multiplikator/in",
        "Migrantenorganisation",
    }
    assert {labels[k] for k in ("funder", "university", "vocational_school")} == {
        "Fördermittelgeber",
        "Hochschule",
        "Berufsschule",
    }
    assert labels["partner_abroad"] == "Partner im Ausland"


@pytest.mark.parametrize("role", ["lead", "counsellor", "staff", "readonly"])
def test_only_admins_may_open_or_change_the_kinds(client_as, db_session, role):
    client = client_as(role)
    assert client.get(BASE).status_code == 403
    assert client.post(BASE, data={"label": "Heimlich", "sort_order": "0"}).status_code == 403
    employer = _kind(db_session, "employer")
    assert client.get(f"{BASE}/{employer.id}").status_code == 403
    assert client.post(f"{BASE}/{employer.id}/loeschen").status_code == 403
    assert _kind(db_session, "heimlich") is None


def test_the_administration_page_links_to_the_kinds_for_admins(admin_client):
    assert f'href="{BASE}"' in admin_client.get("/verwaltung").get_data(as_text=True)


def test_an_admin_adds_a_kind_that_the_organisation_form_and_the_filter_offer(
    admin_client, db_session
):
    response = admin_client.post(BASE, data={"label": "Partnerkommune", "sort_order": "0"})
    assert response.status_code == 302
    kind = _kind(db_session, "partnerkommune")
    assert (kind.label, kind.active) == ("Partnerkommune", True)
    form = admin_client.get("/kontakte/organisationen/neu").get_data(as_text=True)
    assert "partnerkommune" in _kind_options(form)
    created = admin_client.post(
        "/kontakte/organisationen/neu", data={**ORG_FORM, "kind": "partnerkommune"}
    )
    assert created.status_code == 302
    org = db_session.scalar(sa.select(Organisation))
    assert org.kind == "partnerkommune"
    listed = admin_client.get("/kontakte/organisationen?art=partnerkommune").get_data(as_text=True)
    assert "Gemeinde Partnerstadt" in listed
    assert "<td>Partnerkommune</td>" in listed


def test_a_label_that_exists_already_is_refused_in_german(admin_client, db_session):
    response = admin_client.post(BASE, data={"label": "betriebsrat", "sort_order": "0"})
    assert response.status_code == 400
    assert "Eine Art mit dieser Bezeichnung gibt es schon." in response.get_data(as_text=True)


def test_renaming_a_kind_keeps_its_key_and_the_organisations_that_have_it(admin_client, db_session):
    org = service.save_organisation(db_session, {"name": "IHK Magdeburg", "kind": "chamber"})
    db_session.commit()
    chamber = _kind(db_session, "chamber")
    response = admin_client.post(
        f"{BASE}/{chamber.id}",
        data={"label": "Kammer (IHK/HWK)", "sort_order": "70", "active": "y"},
    )
    assert response.status_code == 302
    db_session.refresh(org)
    assert org.kind == "chamber"
    page = admin_client.get(f"/kontakte/organisationen/{org.id}").get_data(as_text=True)
    assert "Kammer (IHK/HWK)" in page


def test_a_deactivated_kind_is_not_offered_but_its_organisations_keep_it(admin_client, db_session):
    org = service.save_organisation(
        db_session, {"name": "Hochschule Magdeburg", "kind": "university"}
    )
    db_session.commit()
    university = _kind(db_session, "university")
    admin_client.post(f"{BASE}/{university.id}", data={"label": "Hochschule", "sort_order": "5"})
    db_session.refresh(university)
    assert university.active is False
    assert "university" not in _kind_options(
        admin_client.get("/kontakte/organisationen/neu").get_data(as_text=True)
    )
    # Editing the organisation neither loses nor refuses its kind.
    edit = admin_client.get(f"/kontakte/organisationen/{org.id}/bearbeiten").get_data(as_text=True)
    assert "university" in _kind_options(edit)
    saved = admin_client.post(
        f"/kontakte/organisationen/{org.id}/bearbeiten",
        data={**ORG_FORM, "name": org.name, "kind": "university"},
    )
    assert saved.status_code == 302
    # Another organisation cannot be given the inactive kind.
    refused = admin_client.post(
        "/kontakte/organisationen/neu", data={**ORG_FORM, "kind": "university"}
    )
    assert refused.status_code == 200
    assert db_session.scalar(sa.select(sa.func.count(Organisation.id))) == 1


def test_a_kind_in_use_is_never_deleted(admin_client, db_session):
    service.save_organisation(db_session, {"name": "Betriebsrat Enercon", "kind": "works_council"})
    db_session.commit()
    works_council = _kind(db_session, "works_council")
    response = admin_client.post(f"{BASE}/{works_council.id}/loeschen")
    assert response.status_code == 302
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "kann nicht gelöscht werden" in page
    assert _kind(db_session, "works_council") is not None


def test_an_unused_kind_can_be_deleted_but_not_the_default_kinds(admin_client, db_session):
    funder = _kind(db_session, "funder")
    assert admin_client.post(f"{BASE}/{funder.id}/loeschen").status_code == 302
    assert _kind(db_session, "funder") is None
    other = _kind(db_session, "other")
    admin_client.post(f"{BASE}/{other.id}/loeschen")
    assert _kind(db_session, "other") is not None


def test_an_import_reads_a_kind_by_its_admin_label(client_as, db_session):
    from tests.test_contacts_import import csv_bytes, start, upload_job

    staff = client_as("staff")
    data = csv_bytes(
        "Firma;Organisationsart",
        ["Betriebsrat Enercon;Betriebsrat", "Uni Magdeburg;university", "Irgendwas;Unbekannt"],
    )
    job = upload_job(staff, db_session, "arten.csv", data)
    start(staff, db_session, job)
    assert job.status == "done", job.message
    got = dict(db_session.execute(sa.select(Organisation.name, Organisation.kind)).all())
    assert got == {
        "Betriebsrat Enercon": "works_council",
        "Uni Magdeburg": "university",
        "Irgendwas": "other",
    }
