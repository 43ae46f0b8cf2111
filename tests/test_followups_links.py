"""A follow-up links to a person, organisation, participant or event picked in its form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.events.models import Event
from crm.followups.models import FollowUp
from tests import factories
from tests.factories import make_org, make_participant, make_person


@pytest.fixture
def records(db_session):
    office = factories.make_office(db_session)
    other = factories.make_office(db_session)
    event = Event(
        title="Jobmesse Schönebeck",
        starts_at=datetime(2026, 11, 3, 9, tzinfo=UTC),
        ends_at=datetime(2026, 11, 3, 15, tzinfo=UTC),
    )
    db_session.add(event)
    rec = dict(
        office=office,
        person=make_person(db_session, first_name="Olena", last_name="Kowalczyk"),
        organisation=make_org(db_session, name="Stadtwerke Genthin"),
        participant=make_participant(
            db_session, office=office, first_name="Samir", last_name="Quandil"
        ),
        foreign=make_participant(db_session, office=other, first_name="Samir", last_name="Quast"),
        event=event,
    )
    db_session.commit()
    return rec


def _post(client, **links):
    data = {
        "subject": "Nachfassen",
        "due_date": "2026-12-01",
        "assignee_id": str(client.user.id),
        "priority": "normal",
        **links,
    }
    return client.post("/wiedervorlagen/neu", data=data)


def _only_followup(db_session) -> FollowUp | None:
    return db_session.scalars(sa.select(FollowUp).where(FollowUp.subject == "Nachfassen")).first()


@pytest.mark.parametrize(
    ("kind", "column", "detail_text"),
    [
        ("person", "person_id", "Olena Kowalczyk"),
        ("organisation", "organisation_id", "Stadtwerke Genthin"),
        ("participant", "participant_id", "Samir Quandil"),
        ("event", "event_id", "Jobmesse Schönebeck"),
    ],
)
def test_a_record_chosen_in_the_picker_is_linked_and_shown(
    client_as, db_session, records, kind, column, detail_text
):
    client = client_as("counsellor", office=records["office"])
    record_id = records[kind].id
    # The picker's script fills the id and shows the record's name in the text field.
    response = _post(client, **{column: str(record_id), f"{kind}_q": detail_text})
    assert response.status_code == 302
    fu = _only_followup(db_session)
    assert getattr(fu, column) == record_id
    assert detail_text in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize(
    ("field", "text", "column", "kind"),
    [
        ("person_q", "kowalczyk", "person_id", "person"),
        ("organisation_q", "Stadtwerke Genth", "organisation_id", "organisation"),
        ("participant_q", "quandil", "participant_id", "participant"),
        ("event_q", "jobmesse schöne", "event_id", "event"),
    ],
)
def test_without_javascript_a_typed_name_that_finds_one_record_is_linked(
    client_as, db_session, records, field, text, column, kind
):
    client = client_as("counsellor", office=records["office"])
    assert _post(client, **{field: text}).status_code == 302
    assert getattr(_only_followup(db_session), column) == records[kind].id


def test_a_typed_name_that_finds_several_records_asks_to_choose(client_as, db_session, records):
    make_person(db_session, first_name="Olena", last_name="Kowalska")
    db_session.commit()
    client = client_as("counsellor", office=records["office"])
    response = _post(client, person_q="olena kowal")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Mehrere Datensätze passen" in html
    assert _only_followup(db_session) is None


def test_a_typed_name_that_finds_nothing_is_refused(client_as, db_session, records):
    client = client_as("counsellor", office=records["office"])
    response = _post(client, organisation_q="Gibtsnicht GmbH")
    assert response.status_code == 200
    assert "Kein passender Datensatz" in response.get_data(as_text=True)
    assert _only_followup(db_session) is None


def test_a_counsellor_cannot_link_a_participant_of_another_office(client_as, db_session, records):
    client = client_as("counsellor", office=records["office"])
    response = _post(client, participant_id=str(records["foreign"].id))
    assert response.status_code == 200
    assert _only_followup(db_session) is None
    # Nor by typing the name: the other office's "Samir Quast" is not found.
    assert _post(client, participant_q="quast").status_code == 200
    assert _only_followup(db_session) is None
    assert client.get(
        f"/wiedervorlagen/neu?participant_id={records['foreign'].id}"
    ).status_code == (404)


def test_staff_get_no_participant_picker_and_cannot_link_one(client_as, db_session, records):
    client = client_as("staff")
    page = client.get("/wiedervorlagen/neu").get_data(as_text=True)
    assert 'name="participant_q"' not in page
    assert 'name="person_q"' in page
    assert _post(client, participant_id=str(records["participant"].id)).status_code == 302
    assert _only_followup(db_session).participant_id is None


def test_the_form_offers_pickers_with_their_option_endpoints(client_as, records):
    page = client_as("counsellor", office=records["office"]).get("/wiedervorlagen/neu")
    html = page.get_data(as_text=True)
    for kind in ("person", "organisation", "participant", "event"):
        assert f'data-source="/suche/auswahl/{kind}"' in html


def test_viewing_a_follow_up_with_a_participant_is_audited_and_scoped(
    client_as, db_session, records
):
    client = client_as("counsellor", office=records["office"])
    response = _post(client, participant_id=str(records["participant"].id))
    fu = _only_followup(db_session)
    client.get(response.headers["Location"])
    views = db_session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.action == "view",
            AuditEntry.entity_type == "participant",
            AuditEntry.entity_id == records["participant"].id,
        )
    )
    assert views >= 1
    # A lead of the project sees it; the name is not shown to whoever may not see it.
    fu.assignee = factories.make_user(db_session, role="staff")
    db_session.commit()
    lead = client_as("lead")
    assert "Samir Quandil" in lead.get(f"/wiedervorlagen/{fu.id}").get_data(as_text=True)


def test_a_text_changed_after_choosing_is_what_counts(client_as, db_session, records):
    # Without JavaScript the hidden id stays when the user types another name over it.
    other = make_org(db_session, name="Kreiswerke Burg")
    db_session.commit()
    client = client_as("counsellor", office=records["office"])
    response = _post(
        client, organisation_id=str(records["organisation"].id), organisation_q="Kreiswerke Burg"
    )
    assert response.status_code == 302
    assert _only_followup(db_session).organisation_id == other.id


def test_the_follow_up_list_names_the_linked_participant_the_user_may_see(
    client_as, records, db_session
):
    """Case follow-ups carry only the number (TN-…) in their subject: the list names her."""
    c = client_as("counsellor", office=records["office"])
    for subject, participant in (
        ("Mit ihr", records["participant"]),
        ("Fremd", records["foreign"]),
    ):
        db_session.add(
            FollowUp(
                subject=subject,
                due_at=datetime(2030, 1, 7, 8, tzinfo=UTC),
                assignee_id=c.user.id,
                participant_id=participant.id,
            )
        )
    db_session.commit()
    html = c.get("/wiedervorlagen/").get_data(as_text=True)
    assert "Samir Quandil" in html
    assert f'href="/teilnehmende/{records["participant"].id}"' in html
    # Another office's participant stays unnamed, as on the follow-up's own page.
    assert "Quast" not in html


@pytest.mark.parametrize(
    ("kind", "page"),
    [
        ("participant", "/teilnehmende/{id}"),
        ("organisation", "/kontakte/organisationen/{id}"),
        ("person", "/kontakte/personen/{id}"),
    ],
)
def test_cancel_on_a_new_follow_up_leads_back_to_the_record_it_was_opened_from(
    client_as, records, kind, page
):
    c = client_as("counsellor", office=records["office"])
    record_id = records[kind].id
    url = f"/wiedervorlagen/neu?{kind}_id={record_id}"
    back = f'href="{page.format(id=record_id)}">Abbrechen</a>'
    assert back in c.get(url).get_data(as_text=True)
    # Still there after a refused save (no subject), which posts back to the same URL.
    refused = c.post(url, data={"subject": "", "assignee_id": str(c.user.id)})
    assert "Dieses Feld wird benötigt." in refused.get_data(as_text=True)
    assert back in refused.get_data(as_text=True)
    # Opened from the list, it leads back to the list; a forged id changes nothing.
    assert 'href="/wiedervorlagen/">Abbrechen</a>' in c.get("/wiedervorlagen/neu").get_data(
        as_text=True
    )
    assert c.get("/wiedervorlagen/neu?participant_id=x").status_code in (200, 404)
