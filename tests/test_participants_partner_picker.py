"""Referring organisation, releases and referrals name their partner with the record picker
(a chosen organisation id), or, without JavaScript, by a typed name that finds exactly one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.participants.models import ConsentRelease, Participant, Referral
from tests import factories
from tests.factories import make_participant, make_partner


@pytest.fixture
def office(db_session):
    return factories.make_office(db_session)


@pytest.fixture
def counsellor(client_as, office):
    return client_as("counsellor", office=office)


@pytest.fixture
def mine(db_session, counsellor, office):
    p = make_participant(db_session, office=office, counsellor=counsellor.user, last_name="Qorvani")
    db_session.commit()
    return p


def _new_participant(c, office, **extra):
    data = {
        "last_name": "Vandrovska",
        "first_name": "Ilse",
        "office_id": str(office.id),
        "counsellor_id": str(c.user.id),
        "first_contact_on": "2026-11-02",
        "recognition_status": "not_started",
        "language_level": "",
        "gender": "",
        "acquisition_channel": "other",
        **extra,
    }
    return c.post("/teilnehmende/neu", data=data)


def _created(db_session):
    return db_session.scalar(sa.select(Participant).where(Participant.last_name == "Vandrovska"))


def _release(c, p, **extra):
    data = {
        "release-granted_on": "2026-03-01",
        "release-expires_on": "2027-02-28",
        "release-scope": "Zeugnisse",
        **extra,
    }
    return c.post(f"/teilnehmende/{p.id}/freigaben", data=data)


def _referral(c, p, **extra):
    data = {
        "referral-referred_on": "2026-04-01",
        "referral-direction": "from",
        "referral-status": "sent",
        "referral-purpose": "Anerkennungsberatung",
        **extra,
    }
    return c.post(f"/teilnehmende/{p.id}/ueberweisungen", data=data)


def test_the_referring_organisation_picked_by_id_is_stored_even_when_names_are_alike(
    db_session, counsellor, office
):
    first = make_partner(db_session, "Migrationsberatung Burg")
    make_partner(db_session, "Migrationsberatung Burg")
    db_session.commit()
    typed = _new_participant(counsellor, office, referring_organisation="Migrationsberatung Burg")
    assert typed.status_code == 400
    page = typed.get_data(as_text=True)
    # What was typed stays in the form, with a German explanation.
    assert 'value="Migrationsberatung Burg"' in page
    assert "Mehrere Organisationen" in page
    assert _created(db_session) is None
    picked = _new_participant(
        counsellor,
        office,
        referring_organisation="Migrationsberatung Burg",
        referring_organisation_id=str(first.id),
    )
    assert picked.status_code == 302, picked.get_data(as_text=True)
    assert _created(db_session).referring_organisation_id == first.id


def test_without_javascript_a_typed_name_of_one_organisation_is_linked(
    db_session, counsellor, office
):
    partner = make_partner(db_session, "Jobcenter Jerichower Land")
    db_session.commit()
    response = _new_participant(counsellor, office, referring_organisation="jobcenter jerichower")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _created(db_session).referring_organisation_id == partner.id


def test_a_changed_text_overrules_the_previously_chosen_id(db_session, counsellor, office):
    # A user without JavaScript edits the name; the hidden id still names the old choice.
    old = make_partner(db_session, "Caritas Genthin")
    new = make_partner(db_session, "Diakonie Stendal")
    db_session.commit()
    response = _new_participant(
        counsellor,
        office,
        referring_organisation="Diakonie Stendal",
        referring_organisation_id=str(old.id),
    )
    assert response.status_code == 302
    assert _created(db_session).referring_organisation_id == new.id


@pytest.mark.parametrize(
    "bad_id", ["abc", "-3", "0", "99999999999999999999999", "1e3", "\x00", "9" * 400]
)
def test_a_malformed_organisation_id_falls_back_to_the_typed_name(
    db_session, counsellor, office, bad_id
):
    partner = make_partner(db_session, "Volkshochschule Zerbst")
    db_session.commit()
    response = _new_participant(
        counsellor,
        office,
        referring_organisation="Volkshochschule Zerbst",
        referring_organisation_id=bad_id,
    )
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert _created(db_session).referring_organisation_id == partner.id


def test_an_unknown_id_with_an_unknown_name_is_refused_and_kept(db_session, counsellor, office):
    response = _new_participant(
        counsellor,
        office,
        referring_organisation="Gibtesnicht Verein",
        referring_organisation_id="987654",
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'value="Gibtesnicht Verein"' in page
    assert "Keine Organisation" in page


def test_clearing_the_name_removes_the_referring_organisation(db_session, counsellor, mine):
    partner = make_partner(db_session, "Arbeitsagentur Burg")
    mine.referring_organisation_id = partner.id
    db_session.commit()
    form = counsellor.get(f"/teilnehmende/{mine.id}/bearbeiten").get_data(as_text=True)
    assert 'value="Arbeitsagentur Burg"' in form
    assert (
        f'name="referring_organisation_id" id="referring_organisation_id" value="{partner.id}"'
        in form
    )
    assert 'data-source="/suche/auswahl/organisation"' in form
    assert 'list="partner-names"' not in form
    data = {
        "last_name": mine.last_name,
        "first_name": mine.first_name,
        "office_id": str(mine.office_id),
        "counsellor_id": str(mine.counsellor_id),
        "first_contact_on": "2026-01-05",
        "recognition_status": "not_started",
        "acquisition_channel": "other",
        "referring_organisation": "",
        "referring_organisation_id": str(partner.id),
    }
    response = counsellor.post(f"/teilnehmende/{mine.id}/bearbeiten", data=data)
    assert response.status_code == 302
    db_session.expire_all()
    assert mine.referring_organisation_id is None


def test_the_participant_page_links_the_referring_organisation_and_partners(
    db_session, counsellor, mine
):
    partner = make_partner(db_session, "Bildungswerk Havelberg")
    mine.referring_organisation_id = partner.id
    db_session.commit()
    release = {"release-organisation": partner.name, "release-organisation_id": str(partner.id)}
    assert _release(counsellor, mine, **release).status_code == 302
    referral = {"referral-organisation": partner.name, "referral-organisation_id": str(partner.id)}
    assert _referral(counsellor, mine, **referral).status_code == 302
    page = counsellor.get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    link = f'<a href="/kontakte/organisationen/{partner.id}">Bildungswerk Havelberg</a>'
    assert f'id="referring-organisation">{link}' in page
    assert page.count(link) == 3  # referrer, release, referral
    # Both partner fields on the page are pickers, each with its own listbox.
    assert 'id="release-organisation-listbox"' in page
    assert 'id="referral-organisation-listbox"' in page


def test_release_and_referral_store_the_picked_partner_among_namesakes(
    db_session, counsellor, mine
):
    first = make_partner(db_session, "Netzwerk Integration")
    second = make_partner(db_session, "Netzwerk Integration")
    db_session.commit()
    typed = _release(counsellor, mine, **{"release-organisation": "Netzwerk Integration"})
    assert typed.status_code == 400
    assert "Zeugnisse</textarea>" in typed.get_data(as_text=True)
    picked = {
        "release-organisation": "Netzwerk Integration",
        "release-organisation_id": str(second.id),
    }
    assert _release(counsellor, mine, **picked).status_code == 302
    referral = {
        "referral-organisation": "Netzwerk Integration",
        "referral-organisation_id": str(second.id),
    }
    assert _referral(counsellor, mine, **referral).status_code == 302
    assert db_session.scalars(sa.select(ConsentRelease.organisation_id)).all() == [second.id]
    assert db_session.scalars(sa.select(Referral.organisation_id)).all() == [second.id]
    assert first.id != second.id


def test_a_referral_with_only_a_chosen_id_is_refused_as_empty(db_session, counsellor, mine):
    # The text is required: an id alone (no name shown) is not what a user sees and means.
    partner = make_partner(db_session)
    db_session.commit()
    response = _referral(counsellor, mine, **{"referral-organisation_id": str(partner.id)})
    assert response.status_code == 400
    assert db_session.scalar(sa.select(sa.func.count(Referral.id))) == 0


def test_a_counsellor_of_another_office_cannot_record_a_referral(db_session, client_as, mine):
    partner = make_partner(db_session)
    other = client_as("counsellor", office=factories.make_office(db_session))
    response = _referral(
        other,
        mine,
        **{"referral-organisation": partner.name, "referral-organisation_id": str(partner.id)},
    )
    assert response.status_code == 404
    assert db_session.scalar(sa.select(sa.func.count(Referral.id))) == 0


def test_staff_cannot_use_the_partner_picker_on_participants(db_session, client_as, mine):
    partner = make_partner(db_session)
    staff = client_as("staff")
    response = _release(
        staff,
        mine,
        **{"release-organisation": partner.name, "release-organisation_id": str(partner.id)},
    )
    assert response.status_code == 403
    assert db_session.scalar(sa.select(sa.func.count(ConsentRelease.id))) == 0
