"""Contacts service: umlaut search, duplicates, merge, last contact, timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.contacts import service
from crm.contacts.models import Activity, ContactList, ContactListMember, Organisation, Person
from crm.contacts.service import ListFilters


def org(session, name="Müller Bau GmbH", **kw):
    data = {"name": name, "kind": "employer", "city": "Magdeburg", "postcode": "39104", **kw}
    return service.save_organisation(session, data)


def person(session, first="Jürgen", last="Müller", **kw):
    return service.save_person(session, {"first_name": first, "last_name": last, **kw})


def _names(session, stmt):
    return sorted(
        o.name if isinstance(o, Organisation) else o.last_name for o in session.scalars(stmt)
    )


@pytest.mark.parametrize("query", ["Müller", "mueller", "MUELLER", "müll", "Muel"])
def test_umlauts_and_their_spelled_out_forms_find_the_same_organisation(db_session, query):
    org(db_session)
    org(db_session, name="Schmidt Logistik")
    found = _names(db_session, service.organisation_query(db_session, ListFilters(q=query)))
    assert found == ["Müller Bau GmbH"]


@pytest.mark.parametrize("query", ["Straße", "strasse", "STRASSE", "Straße Magdeburg"])
def test_sharp_s_matches_ss_in_any_case(db_session, query):
    org(db_session, name="Bildungswerk Straße der Zukunft")
    assert _names(db_session, service.organisation_query(db_session, ListFilters(q=query))) == [
        "Bildungswerk Straße der Zukunft"
    ]


def test_people_are_found_by_name_email_organisation_and_place(db_session):
    o = org(db_session, name="Haus der Wirtschaft", city="Schönebeck")
    p = person(db_session, first="Ayşe", last="Yılmaz", email="A.Yilmaz@Example.org")
    service.add_affiliation(db_session, p, o, function="Personal")
    person(db_session, first="Karl", last="Anders")
    for q in ("ayse", "yilmaz", "a.yilmaz@example", "haus wirtschaft", "schoenebeck"):
        found = _names(db_session, service.person_query(db_session, ListFilters(q=q)))
        assert found == ["Yılmaz"], q


def test_renaming_an_organisation_updates_its_peoples_search(db_session):
    o = org(db_session, name="Alter Name")
    p = person(db_session)
    service.add_affiliation(db_session, p, o)
    service.save_organisation(db_session, {"name": "Neuer Name"}, o)
    assert _names(db_session, service.person_query(db_session, ListFilters(q="neuer"))) == [
        "Müller"
    ]


def test_same_email_is_a_duplicate(db_session):
    existing = person(db_session, email="info@mueller-bau.de")
    hits = service.find_person_duplicates(db_session, emails=["INFO@mueller-bau.de "])
    assert [h.record.id for h in hits] == [existing.id]
    assert hits[0].reasons == ["email"]


def test_same_normalised_name_at_the_same_organisation_is_a_duplicate(db_session):
    o = org(db_session)
    p = person(db_session, first="Hans-Jürgen", last="Müller")
    service.add_affiliation(db_session, p, o)
    hits = service.find_person_duplicates(
        db_session, first_name="hans jürgen", last_name="MUELLER", organisation_id=o.id
    )
    assert [h.record.id for h in hits] == [p.id]
    other = org(db_session, name="Andere Firma")
    assert (
        service.find_person_duplicates(
            db_session, first_name="Hans-Jürgen", last_name="Müller", organisation_id=other.id
        )
        == []
    )


def test_same_organisation_name_and_postcode_is_a_duplicate(db_session):
    o = org(db_session, name="Müller Bau GmbH", postcode="39104")
    hits = service.find_organisation_duplicates(db_session, name="Mueller Bau", postcode="39104")
    assert [h.record.id for h in hits] == [o.id]
    assert (
        service.find_organisation_duplicates(db_session, name="Müller Bau", postcode="06108") == []
    )


def test_merging_people_keeps_activities_affiliations_tags_lists_and_is_audited(db_session):
    o1, o2 = org(db_session, name="Firma Eins"), org(db_session, name="Firma Zwei")
    keep = person(db_session, email="", tags=["Messe"])
    drop = person(db_session, email="juergen@example.org", phone="0391 1234", tags=["Newsletter"])
    service.add_affiliation(db_session, keep, o1)
    service.add_affiliation(db_session, drop, o2)
    service.log_activity(db_session, kind="call", person=drop, subject="Erstkontakt")
    lst = ContactList(name="Einladung Fachtag")
    db_session.add(lst)
    db_session.flush()
    db_session.add(ContactListMember(list_id=lst.id, person_id=drop.id))
    db_session.flush()
    drop_id = drop.id

    service.merge_people(db_session, keep, drop)

    assert db_session.get(Person, drop_id) is None
    assert keep.email == "juergen@example.org"
    assert keep.phone == "0391 1234"
    assert sorted(a.organisation.name for a in keep.affiliations) == ["Firma Eins", "Firma Zwei"]
    assert sorted(t.name for t in keep.tags) == ["Messe", "Newsletter"]
    assert db_session.scalar(sa.select(Activity.person_id)) == keep.id
    assert db_session.scalar(sa.select(ContactListMember.person_id)) == keep.id
    entry = db_session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "merge"))
    assert entry.entity_id == keep.id
    assert entry.changes["merged_id"] == drop_id


def test_merging_organisations_moves_people_and_activities(db_session):
    keep, drop = org(db_session, name="Eckert"), org(db_session, name="Eckert gGmbH", phone="0391")
    p = person(db_session)
    service.add_affiliation(db_session, p, drop)
    service.log_activity(db_session, kind="meeting", organisation=drop)
    service.merge_organisations(db_session, keep, drop)
    assert [a.person_id for a in keep.affiliations] == [p.id]
    assert keep.phone == "0391"
    assert db_session.scalar(sa.select(Activity.organisation_id)) == keep.id


def test_last_contact_follows_activities_of_the_organisation_and_its_people(db_session):
    o = org(db_session)
    p = person(db_session)
    service.add_affiliation(db_session, p, o)
    when = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    act = service.log_activity(db_session, kind="call", person=p, occurred_at=when)
    db_session.refresh(o)
    assert o.last_contact_at == when
    earlier = when - timedelta(days=30)
    service.log_activity(db_session, kind="note", organisation=o, occurred_at=earlier)
    db_session.refresh(o)
    assert o.last_contact_at == when
    service.delete_activity(db_session, act)
    db_session.refresh(o)
    assert o.last_contact_at == earlier


def test_no_contact_for_90_days_filter(db_session):
    now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    recent, stale, _never = (
        org(db_session, name="A"),
        org(db_session, name="B"),
        org(db_session, name="C"),
    )
    service.log_activity(
        db_session, kind="call", organisation=recent, occurred_at=now - timedelta(days=10)
    )
    service.log_activity(
        db_session, kind="call", organisation=stale, occurred_at=now - timedelta(days=91)
    )
    stmt = service.organisation_query(db_session, ListFilters(no_contact_days=90), now=now)
    assert _names(db_session, stmt) == ["B", "C"]


def test_organisation_timeline_merges_own_and_peoples_activities_newest_first(db_session):
    o = org(db_session)
    p = person(db_session)
    service.add_affiliation(db_session, p, o)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(30):
        service.log_activity(
            db_session,
            kind="note",
            occurred_at=base + timedelta(days=i),
            subject=f"#{i}",
            **({"person": p} if i % 2 else {"organisation": o}),
        )
    service.log_activity(db_session, kind="note", organisation=org(db_session, name="X"))
    items, total = service.organisation_timeline(db_session, o.id, page=1, per_page=25)
    assert total == 30
    assert [a.subject for a in items[:3]] == ["#29", "#28", "#27"]
    page2, _ = service.organisation_timeline(db_session, o.id, page=2, per_page=25)
    assert [a.subject for a in page2] == ["#4", "#3", "#2", "#1", "#0"]
