"""Person and organisation pages list their open follow-ups, coming events and subscriptions."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import pytest

from crm.events import service as events
from crm.followups import service as followups
from tests import factories

pytestmark = pytest.mark.usefixtures("frozen_time")


def _event(session: Any, title: str, day: date, **data: Any) -> Any:
    return events.create_event(
        session,
        events.EventData(
            kind="fair",
            title=title,
            start_local=datetime(day.year, day.month, day.day, 10),
            end_local=datetime(day.year, day.month, day.day, 16),
            **data,
        ),
    )


def _followup(session: Any, subject: str, assignee: Any, **links: Any) -> Any:
    return followups.create_followup(
        session, subject=subject, due_date=date(2026, 11, 25), assignee=assignee, **links
    )


def _subscribe(session: Any, person: Any, list_name: str) -> Any:
    from crm.newsletters.service import record_consent

    lst = factories.make_list(session, name=list_name)
    return record_consent(
        session,
        person=person,
        lst=lst,
        method="paper",
        consented_at=datetime.fromisoformat("2026-10-01T10:00:00+00:00"),
    )


def _section(html: str, section_id: str) -> str:
    """The HTML of one related-records section of a record page ("" when it is not there)."""
    match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', html, re.S)
    return match.group(0) if match else ""


def _person_with_everything(session: Any, user: Any) -> Any:
    person = factories.make_person(session, first_name="Jana", last_name="Kowalski")
    _followup(session, "Angebot nachfassen", user, person=person)
    done = _followup(session, "Erledigtes Telefonat", user, person=person)
    followups.mark_done(
        session, done, by=user, now=datetime.fromisoformat("2026-11-21T08:00:00+00:00")
    )
    coming = _event(session, "Jobmesse Magdeburg", date(2026, 12, 3))
    past = _event(session, "Vergangene Messe", date(2026, 10, 3))
    for ev in (coming, past):
        events.set_contact(session, ev, person, "invited")
    _subscribe(session, person, "Arbeitgeber-Newsletter")
    session.commit()
    return person


def test_person_page_lists_open_followups_coming_events_and_subscriptions(
    client_as: Any, db_session: Any
) -> None:
    client = client_as("lead")
    person = _person_with_everything(db_session, client.user)

    html = client.get(f"/kontakte/personen/{person.id}").get_data(as_text=True)

    open_followups = _section(html, "related-followups")
    assert "Offene Wiedervorlagen" in open_followups
    assert "Angebot nachfassen" in open_followups
    assert "Erledigtes Telefonat" not in open_followups
    coming = _section(html, "related-events")
    assert "Kommende Termine" in coming
    assert "Jobmesse Magdeburg" in coming
    assert "03.12.2026" in coming
    assert "Vergangene Messe" not in coming
    subscriptions = _section(html, "related-subscriptions")
    assert "Arbeitgeber-Newsletter" in subscriptions
    assert "bestätigt" in subscriptions
    assert "01.10.2026" in subscriptions


def test_organisation_page_lists_its_events_followups_and_its_peoples_subscriptions(
    client_as: Any, db_session: Any
) -> None:
    client = client_as("lead")
    org = factories.make_org(db_session, name="Bäckerei Sonnenschein")
    worker = factories.make_person(db_session, last_name="Brot", org=org)
    other_org = factories.make_org(db_session, name="Andere GmbH")
    _followup(db_session, "Bedarf klären", client.user, organisation=org)
    _followup(db_session, "Fremde Wiedervorlage", client.user, organisation=other_org)
    _event(db_session, "Tag der offenen Tür", date(2026, 12, 1), organiser_id=org.id)
    _event(db_session, "Fremder Termin", date(2026, 12, 1), organiser_id=other_org.id)
    _subscribe(db_session, worker, "Netzwerkbrief")
    db_session.commit()

    html = client.get(f"/kontakte/organisationen/{org.id}").get_data(as_text=True)

    assert "Bedarf klären" in _section(html, "related-followups")
    assert "Fremde Wiedervorlage" not in html
    assert "Tag der offenen Tür" in _section(html, "related-events")
    assert "Fremder Termin" not in html
    subscriptions = _section(html, "related-subscriptions")
    assert "Netzwerkbrief" in subscriptions
    assert worker.full_name in subscriptions


def test_counsellor_sees_only_followups_they_may_see_on_a_person_page(
    client_as: Any, db_session: Any
) -> None:
    client = client_as("counsellor")
    colleague = factories.make_user(db_session, role="counsellor")
    person = factories.make_person(db_session)
    _followup(db_session, "Meine Wiedervorlage", client.user, person=person)
    _followup(db_session, "Wiedervorlage der Kollegin", colleague, person=person)
    db_session.commit()

    html = client.get(f"/kontakte/personen/{person.id}").get_data(as_text=True)

    assert "Meine Wiedervorlage" in _section(html, "related-followups")
    assert "Wiedervorlage der Kollegin" not in html


def test_record_pages_send_the_same_number_of_queries_however_much_is_linked(
    client_as: Any, db_session: Any, count_queries: Any
) -> None:
    client = client_as("lead")
    org = factories.make_org(db_session)
    person = factories.make_person(db_session, org=org)
    db_session.commit()
    person_url = f"/kontakte/personen/{person.id}"
    org_url = f"/kontakte/organisationen/{org.id}"

    def counts() -> tuple[int, int]:
        with count_queries() as person_page:
            assert client.get(person_url).status_code == 200
        with count_queries() as org_page:
            assert client.get(org_url).status_code == 200
        return len(person_page), len(org_page)

    client.get(person_url)  # warm caches (kinds, translations)
    before = counts()
    for n in range(3):
        _followup(db_session, f"Wiedervorlage {n}", client.user, person=person, organisation=org)
        ev = _event(db_session, f"Messe {n}", date(2026, 12, 1 + n), organiser_id=org.id)
        events.set_contact(db_session, ev, person, "invited")
        _subscribe(db_session, person, f"Liste {n}")
    db_session.commit()

    assert counts() == before
