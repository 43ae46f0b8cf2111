"""The firm's onboarding contact is a person of the firm: picked (or typed without JavaScript),
checked on every write, shown on the firm's and the person's page, unlinked by erasure,
deletion and merges; the old free text stays and is shown as "bisher: …"."""

from __future__ import annotations

from datetime import date

import lxml.html
import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from crm.audit.models import AuditEntry
from crm.contacts import service as contacts
from crm.contacts.models import Person
from crm.extensions import db
from crm.placements import service
from crm.placements.models import FirmSupport
from crm.privacy import service as privacy
from crm.privacy.erasure import ALL_MENTIONS, ERASED
from tests import factories
from tests.conftest import build_app
from tests.factories import make_org, make_participant, make_person

# The revision before the onboarding person (the migration under test is the one after it).
BEFORE = "5b1e0c7d9a42"


def url(org_id: int) -> str:
    return f"/teilnehmende/vermittlungen/unternehmen/{org_id}/begleitung"


@pytest.fixture
def firm(db_session):
    """A firm with two people, a same-named person elsewhere, and its checklist's old text."""
    org = make_org(db_session, name="Pflegeheim Zyxonb")
    other = make_org(db_session, name="Fremdfirma Zyxonb")
    ina = make_person(db_session, first_name="Ina", last_name="Zyxanleit", org=org)
    ole = make_person(db_session, first_name="Ole", last_name="Zyxbegleit", org=org)
    outsider = make_person(db_session, first_name="Ina", last_name="Zyxanleit", org=other)
    db_session.add(
        FirmSupport(organisation_id=org.id, onboarding_contact="Frau Alttext, Station 2")
    )
    db_session.commit()
    return {"org": org, "other": other, "ina": ina, "ole": ole, "outsider": outsider}


def _row(db_session, org_id: int) -> FirmSupport:
    db_session.expire_all()
    return db_session.scalar(sa.select(FirmSupport).where(FirmSupport.organisation_id == org_id))


def _support_text(html: str) -> str:
    root = lxml.html.fromstring(html)
    return " ".join(root.get_element_by_id("onboarding-contact").text_content().split())


# --- the migration ------------------------------------------------------------------------------


def test_the_migration_keeps_the_old_free_text_and_links_nobody(make_database, tmp_path):
    application = build_app(make_database(), str(tmp_path))
    with application.app_context():
        upgrade(revision=BEFORE)
        # The organisation table is the same before and after: the service writes it.
        org_id = contacts.save_organisation(db.session, {"name": "Klinik Alt"}).id
        db.session.commit()
        now = "2026-01-01 00:00:00+00"
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO firm_support (organisation_id, training_status, training_on,"
                    " onboarding_contact, note, created_at, updated_at) VALUES (:org, 'held',"
                    " '2026-05-04', 'Frau Alt, Pflegedienstleitung', '', :now, :now)"
                ),
                {"org": org_id, "now": now},
            )
        upgrade()
        with db.engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT onboarding_contact, onboarding_person_id, training_status"
                    " FROM firm_support"
                )
            ).one()
        assert tuple(row) == ("Frau Alt, Pflegedienstleitung", None, "held")
        downgrade(revision=BEFORE)
        with db.engine.connect() as conn:
            text = conn.execute(sa.text("SELECT onboarding_contact FROM firm_support")).scalar()
        assert text == "Frau Alt, Pflegedienstleitung"


# --- picking and saving -------------------------------------------------------------------------


def test_a_picked_person_of_the_firm_is_saved_and_the_firm_page_links_to_them(
    client_as, db_session, firm
):
    staff = client_as("staff")
    page = staff.get(f"/kontakte/organisationen/{firm['org'].id}").get_data(as_text=True)
    # Until a person is picked, the old text shows as what it is.
    assert _support_text(page) == "bisher: Frau Alttext, Station 2"
    response = staff.post(
        url(firm["org"].id),
        data={
            "firm-training_status": "planned",
            "firm-training_on": "2026-12-20",
            "firm-onboarding_person": "Ina Zyxanleit",
            "firm-onboarding_person_id": str(firm["ina"].id),
            "firm-note": "Schulung im Dezember",
        },
    )
    assert response.status_code == 302
    row = _row(db_session, firm["org"].id)
    assert row.onboarding_person_id == firm["ina"].id
    # The old text stays in the row, no longer shown.
    assert row.onboarding_contact == "Frau Alttext, Station 2"
    page = staff.get(f"/kontakte/organisationen/{firm['org'].id}").get_data(as_text=True)
    assert _support_text(page) == "Ina Zyxanleit"
    assert f'href="/kontakte/personen/{firm["ina"].id}"' in page
    # The edit form shows the picked person, limited to the firm's people, and the way to add one.
    root = lxml.html.fromstring(page)
    assert root.get_element_by_id("firm-onboarding_person").get("value") == "Ina Zyxanleit"
    assert root.get_element_by_id("firm-onboarding_person_id").get("value") == str(firm["ina"].id)
    picker = root.get_element_by_id("firm-onboarding_person").getparent()
    assert picker.get("data-source").endswith(
        f"/suche/auswahl/person?organisation={firm['org'].id}"
    )
    new = root.get_element_by_id("new-onboarding-person").get("href")
    assert new.endswith(f"/kontakte/personen/neu?organisation={firm['org'].id}")
    # Emptying the picker unlinks the person; the old text shows again.
    staff.post(url(firm["org"].id), data={"firm-onboarding_person": ""})
    assert _row(db_session, firm["org"].id).onboarding_person_id is None


def test_a_person_of_another_firm_is_refused_in_german_and_nothing_typed_is_lost(
    client_as, db_session, firm
):
    staff = client_as("staff")
    response = staff.post(
        url(firm["org"].id),
        data={
            "firm-training_status": "held",
            "firm-training_on": "2026-05-04",
            # A tampered (or stale) id: the outsider has the same name as the firm's Ina.
            "firm-onboarding_person": "Ina Zyxanleit",
            "firm-onboarding_person_id": str(firm["outsider"].id),
            "firm-note": "Zyxnotiz bleibt",
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "arbeitet nicht bei diesem Unternehmen" in html
    root = lxml.html.fromstring(html)
    assert root.get_element_by_id("firm-onboarding_person").get("value") == "Ina Zyxanleit"
    assert root.get_element_by_id("firm-training_on").get("value") == "2026-05-04"
    assert "Zyxnotiz bleibt" in root.get_element_by_id("firm-note").text_content()
    row = _row(db_session, firm["org"].id)
    assert (row.onboarding_person_id, row.training_status) == (None, "")


def test_without_javascript_the_typed_name_must_find_exactly_one_person_of_the_firm(
    client_as, db_session, firm
):
    staff = client_as("staff")
    # "Ina Zyxanleit" exists twice, once here: the firm's own is found.
    ok = staff.post(url(firm["org"].id), data={"firm-onboarding_person": "zyxanleit"})
    assert ok.status_code == 302
    assert _row(db_session, firm["org"].id).onboarding_person_id == firm["ina"].id
    # By number, only someone of the firm.
    ok = staff.post(url(firm["org"].id), data={"firm-onboarding_person": f"#{firm['ole'].id}"})
    assert ok.status_code == 302
    assert _row(db_session, firm["org"].id).onboarding_person_id == firm["ole"].id
    for text, message in (
        (f"#{firm['outsider'].id}", "Keine Person dieses Unternehmens passt"),
        ("Niemandzyx", "Keine Person dieses Unternehmens passt"),
        ("Zyx", "Mehrere Personen dieses Unternehmens passen"),
        ("99999999999999999999", "Keine Person dieses Unternehmens passt"),
    ):
        response = staff.post(url(firm["org"].id), data={"firm-onboarding_person": text})
        assert response.status_code == 400, text
        assert message in response.get_data(as_text=True), text
    assert _row(db_session, firm["org"].id).onboarding_person_id == firm["ole"].id


@pytest.mark.parametrize("role", ["readonly"])
def test_users_who_may_not_edit_contacts_cannot_change_the_checklist(
    client_as, db_session, firm, role
):
    user = client_as(role)
    response = user.post(
        url(firm["org"].id),
        data={"firm-onboarding_person": "Ina Zyxanleit", "firm-onboarding_person_id": "1"},
    )
    assert response.status_code == 403
    assert _row(db_session, firm["org"].id).onboarding_person_id is None


def test_the_checklist_refuses_a_post_without_csrf_token(client_as, db_session, firm):
    staff = client_as("staff")
    response = staff.post(
        url(firm["org"].id),
        data={
            "firm-onboarding_person": "Ina Zyxanleit",
            "firm-onboarding_person_id": str(firm["ina"].id),
        },
        csrf=False,
    )
    assert response.status_code == 400
    assert _row(db_session, firm["org"].id).onboarding_person_id is None


def test_the_service_refuses_an_onboarding_person_who_does_not_work_at_the_firm(app_ctx, firm):
    with pytest.raises(service.PlacementError):
        service.save_firm_support(
            app_ctx,
            firm["org"],
            training_status="",
            training_on=None,
            onboarding_person=firm["outsider"],
        )
    row = service.save_firm_support(
        app_ctx, firm["org"], training_status="", training_on=None, onboarding_person=firm["ole"]
    )
    assert row.onboarding_person_id == firm["ole"].id


def test_the_picker_offers_only_the_firms_people(client_as, firm):
    staff = client_as("staff")
    base = "/suche/auswahl/person"
    limited = staff.get(f"{base}?organisation={firm['org'].id}&q=Ina zyx").get_data(as_text=True)
    assert f'data-value="{firm["ina"].id}"' in limited
    assert f'data-value="{firm["outsider"].id}"' not in limited
    everyone = staff.get(f"{base}?q=Ina zyx").get_data(as_text=True)
    assert f'data-value="{firm["outsider"].id}"' in everyone
    # A limit that is no number finds nobody (not everybody).
    for bad in ("abc", "-1", "99999999999999999999"):
        junk = staff.get(f"{base}?organisation={bad}&q=Ina").get_data(as_text=True)
        assert "data-value" not in junk, bad


# --- the person's page --------------------------------------------------------------------------


def test_the_person_page_names_the_firm_and_only_placements_the_user_may_see(
    client_as, db_session, firm
):
    office, far = factories.make_office(db_session), factories.make_office(db_session)
    counsellor = client_as("counsellor", office=office)
    mine = make_participant(db_session, office=office, last_name="Zyxmeine")
    theirs = make_participant(db_session, office=far, last_name="Zyxfremde")
    for p in (mine, theirs):
        service.save_placement(
            db_session,
            p,
            organisation=firm["org"],
            kind="job",
            status="active",
            starts_on=date(2026, 11, 2),
            today=date(2026, 11, 1),
        )
    service.save_firm_support(
        db_session, firm["org"], training_status="", training_on=None, onboarding_person=firm["ina"]
    )
    db_session.commit()
    person_url = f"/kontakte/personen/{firm['ina'].id}"

    html = counsellor.get(person_url).get_data(as_text=True)
    section = lxml.html.fromstring(html).get_element_by_id("onboarding")
    text = " ".join(section.text_content().split())
    assert "Pflegeheim Zyxonb" in text
    assert "Zyxmeine" in text
    assert "ab 02.11.2026" in text
    assert "Zyxfremde" not in html
    # Assistants never see participants: the firm, no placement.
    staff_html = client_as("staff").get(person_url).get_data(as_text=True)
    assert "Pflegeheim Zyxonb" in staff_html
    assert 'id="onboarding"' in staff_html
    assert "Zyxmeine" not in staff_html
    # Somebody else of the firm is nobody's onboarding contact.
    other = counsellor.get(f"/kontakte/personen/{firm['ole'].id}").get_data(as_text=True)
    assert 'id="onboarding"' not in other


# --- erasure, deletion, merge -------------------------------------------------------------------


def test_erasing_the_person_unlinks_the_checklist_and_the_firms_training_stays(app_ctx, firm):
    s = app_ctx
    row = service.save_firm_support(
        s,
        firm["org"],
        training_status="held",
        training_on=date(2026, 5, 4),
        onboarding_person=firm["ina"],
        note="Ina Zyxanleit begleitet die ersten Wochen",
    )
    s.flush()
    plan = privacy.erasure_preview(s, firm["ina"])
    assert "firm_support" in plan.categories
    assert f"firm_support:{row.id}:note" in {m.key for m in plan.mentions}

    privacy.erase_person(s, firm["ina"], confirmed=ALL_MENTIONS)
    s.expire_all()
    row = s.get(FirmSupport, row.id)
    assert row.onboarding_person_id is None
    assert (row.training_status, row.training_on) == ("held", date(2026, 5, 4))
    assert row.note == f"{ERASED} begleitet die ersten Wochen"
    assert row.onboarding_contact == "Frau Alttext, Station 2"


def test_deleting_the_person_leaves_the_checklist_without_a_contact(app_ctx, firm):
    s = app_ctx
    row = service.save_firm_support(
        s, firm["org"], training_status="planned", training_on=None, onboarding_person=firm["ole"]
    )
    s.flush()
    contacts.delete_person(s, s.get(Person, firm["ole"].id))
    s.expire_all()
    row = s.get(FirmSupport, row.id)
    assert row is not None
    assert row.onboarding_person_id is None
    assert row.training_status == "planned"


def test_merging_the_onboarding_contact_moves_the_role_to_the_kept_person(
    client_as, db_session, firm
):
    service.save_firm_support(
        db_session,
        firm["org"],
        training_status="",
        training_on=None,
        onboarding_person=firm["ole"],
    )
    keep = make_person(db_session, first_name="Ole", last_name="Zyxbegleit2")
    db_session.commit()
    response = client_as("staff").post(
        f"/kontakte/personen/{keep.id}/zusammenfuehren/{firm['ole'].id}",
        data={"keep": str(keep.id)},
    )
    assert response.status_code == 302
    row = _row(db_session, firm["org"].id)
    assert row.onboarding_person_id == keep.id
    moved = db_session.scalars(
        sa.select(AuditEntry.entity_id).where(
            AuditEntry.action == "merge_move", AuditEntry.entity_type == "firm_support"
        )
    )
    assert list(moved) == [row.id]
    # The kept person now works at the firm, so saving the checklist again is accepted.
    assert contacts.works_at(db_session, keep.id, firm["org"].id)
