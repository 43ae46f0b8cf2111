"""A done follow-up's note in a contact's history: its subject only for those who may see it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from crm.contacts import service as contacts
from crm.contacts.models import Activity
from crm.followups import service
from crm.followups.models import FollowUp
from crm.privacy import service as privacy
from crm.privacy.erasure import ALL_MENTIONS
from tests import factories

DONE_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SUBJECT = "Kündigung Frau Lindqvist besprechen"
OUTCOME = "Arbeitgeber kündigt zum Monatsende"


def _done(session: Any, assignee: Any, *, created_by: Any = None, **links: Any) -> FollowUp:
    fu = service.create_followup(
        session,
        subject=SUBJECT,
        due_date=date(2026, 11, 20),
        assignee=assignee,
        created_by=created_by or assignee,
        **links,
    )
    service.mark_done(session, fu, outcome=OUTCOME, by=assignee, now=DONE_AT)
    session.commit()
    return fu


def _timeline(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    start = html.index('id="timeline"')
    return html[start : html.index("</ol>", start)]


def test_marking_done_links_the_note_to_its_follow_up(db_session):
    assignee = factories.make_user(db_session)
    person = factories.make_person(db_session)
    fu = _done(db_session, assignee, person=person)
    note = db_session.scalars(sa.select(Activity).where(Activity.person_id == person.id)).one()
    assert note.followup_id == fu.id
    assert note.subject == f"Wiedervorlage erledigt: {SUBJECT}"


def test_a_colleague_sees_when_and_by_whom_but_not_what_on_the_person_page(client_as, db_session):
    colleague = client_as("counsellor")
    assignee = factories.make_user(db_session, display_name="Bea Zuständig")
    person = factories.make_person(db_session)
    fu = _done(db_session, assignee, person=person)
    fu.created_by_id = None  # its creator's account was deleted: still not the colleague's
    db_session.commit()

    entry = _timeline(colleague, f"/kontakte/personen/{person.id}")

    assert "Wiedervorlage erledigt" in entry
    assert "Bea Zuständig" in entry
    assert "20.11.2026" in entry
    assert SUBJECT not in entry
    assert OUTCOME not in entry
    assert "/wiedervorlagen/" not in entry


def test_the_assignee_the_creator_and_a_lead_read_the_note_on_the_person_page(
    client_as, db_session
):
    assignee = client_as("counsellor")
    creator = client_as("staff")
    lead = client_as("lead")
    person = factories.make_person(db_session)
    fu = _done(db_session, assignee.user, created_by=creator.user, person=person)

    for client in (assignee, creator, lead):
        entry = _timeline(client, f"/kontakte/personen/{person.id}")
        assert f"Wiedervorlage erledigt: {SUBJECT}" in entry
        assert OUTCOME in entry
        assert f'href="/wiedervorlagen/{fu.id}"' in entry


def test_the_organisation_page_hides_the_note_from_a_colleague_and_shows_it_to_the_assignee(
    client_as, db_session
):
    colleague = client_as("counsellor")
    assignee = client_as("counsellor", display_name="Bea Zuständig")
    lead = client_as("lead")
    org = factories.make_org(db_session)
    person = factories.make_person(db_session, org=org)
    _done(db_session, assignee.user, organisation=org)
    # A note on one of its people is in the organisation's history too.
    _done(db_session, assignee.user, person=person)
    url = f"/kontakte/organisationen/{org.id}"

    hidden = _timeline(colleague, url)
    assert hidden.count("Wiedervorlage erledigt") == 2
    assert "Bea Zuständig" in hidden
    assert SUBJECT not in hidden
    assert OUTCOME not in hidden
    for client in (assignee, lead):
        shown = _timeline(client, url)
        assert shown.count(f"Wiedervorlage erledigt: {SUBJECT}") == 2
        assert shown.count(OUTCOME) == 2


def test_an_old_unlinked_done_note_is_read_only_by_its_author_and_supervisors(
    client_as, db_session
):
    """Notes from before the link: their follow-up is unknown, so the subject prefix decides."""
    colleague = client_as("counsellor")
    author = client_as("counsellor")
    admin = client_as("admin")
    person = factories.make_person(db_session)
    for subject in (f"Wiedervorlage erledigt: {SUBJECT}", f"Follow-up done: {SUBJECT}"):
        contacts.log_activity(
            db_session,
            kind="note",
            occurred_at=DONE_AT,
            user_id=author.user.id,
            subject=subject,
            text=OUTCOME,
            person=person,
        )
    contacts.log_activity(
        db_session,
        kind="call",
        occurred_at=DONE_AT,
        user_id=author.user.id,
        subject="Rückruf wegen Praktikum",
        person=person,
    )
    db_session.commit()
    url = f"/kontakte/personen/{person.id}"

    hidden = _timeline(colleague, url)
    assert hidden.count("Wiedervorlage erledigt") == 2
    assert SUBJECT not in hidden
    assert OUTCOME not in hidden
    assert "Rückruf wegen Praktikum" in hidden
    for client in (author, admin):
        shown = _timeline(client, url)
        assert shown.count(SUBJECT) == 2
        assert shown.count(OUTCOME) == 2


def test_a_deleted_follow_up_leaves_its_note_unlinked_and_still_hidden(client_as, db_session):
    colleague = client_as("counsellor")
    assignee = factories.make_user(db_session)
    person = factories.make_person(db_session)
    fu = _done(db_session, assignee, person=person)
    db_session.execute(sa.delete(FollowUp).where(FollowUp.id == fu.id))
    db_session.commit()

    note = db_session.scalars(sa.select(Activity).where(Activity.person_id == person.id)).one()
    db_session.refresh(note)
    assert note.followup_id is None
    entry = _timeline(colleague, f"/kontakte/personen/{person.id}")
    assert "Wiedervorlage erledigt" in entry
    assert SUBJECT not in entry


def test_after_a_merge_and_an_erasure_the_firm_history_still_hides_the_note(client_as, db_session):
    colleague = client_as("counsellor")
    assignee = client_as("counsellor")
    org = factories.make_org(db_session)
    keep = factories.make_person(db_session, org=org)
    drop = factories.make_person(db_session, org=org)
    fu = _done(db_session, assignee.user, person=drop, organisation=org)
    contacts.merge_people(db_session, keep, drop, user=None)
    db_session.commit()

    note = db_session.scalars(sa.select(Activity).where(Activity.followup_id == fu.id)).one()
    assert note.person_id == keep.id
    assert SUBJECT not in _timeline(colleague, f"/kontakte/personen/{keep.id}")
    assert SUBJECT in _timeline(assignee, f"/kontakte/personen/{keep.id}")

    # Erasing her keeps the firm's note (without her) and its link to the follow-up.
    privacy.erase_person(db_session, keep, confirmed=ALL_MENTIONS)
    db_session.commit()
    db_session.refresh(note)
    assert (note.person_id, note.followup_id) == (None, fu.id)
    entry = _timeline(colleague, f"/kontakte/organisationen/{org.id}")
    assert "Wiedervorlage erledigt" in entry
    assert OUTCOME not in entry


def test_record_pages_need_at_most_one_more_query_however_many_done_notes_they_show(
    client_as, db_session, count_queries
):
    """One query reads the visibility of every linked follow-up on the page; none for leads."""
    colleague = client_as("counsellor")
    lead = client_as("lead")
    assignee = factories.make_user(db_session)
    org = factories.make_org(db_session)
    person = factories.make_person(db_session, org=org)
    db_session.commit()
    urls = (f"/kontakte/personen/{person.id}", f"/kontakte/organisationen/{org.id}")

    def counts(client: Any) -> list[int]:
        out = []
        for url in urls:
            with count_queries() as statements:
                assert client.get(url).status_code == 200
            out.append(len(statements))
        return out

    for client in (colleague, lead):
        client.get(urls[0])  # warm caches (kinds, translations)
    contacts.log_activity(db_session, kind="call", subject="Anruf", person=person)
    db_session.commit()
    before = {"colleague": counts(colleague), "lead": counts(lead)}
    _done(db_session, assignee, person=person)
    one = {"colleague": counts(colleague), "lead": counts(lead)}
    for _ in range(4):
        _done(db_session, assignee, person=person, organisation=org)
    five = {"colleague": counts(colleague), "lead": counts(lead)}

    assert one == five
    assert one["lead"] == before["lead"]
    assert one["colleague"] == [n + 1 for n in before["colleague"]]
