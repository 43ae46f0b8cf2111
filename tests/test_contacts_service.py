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


def _broad_search_people(session):
    # 12 "Hansen"/"Hahn" people at firms of two kinds, plus some who do not match "ha".
    verband = org(session, name="Handwerkskammer", kind="association", city="Halle")
    firm = org(session, name="Bäckerei Ziegler", kind="employer", city="Zerbst")
    names = ["Hansen", "Hahn", "Haase", "Hartmann", "Hauser", "Hagen"]
    for i, last in enumerate(names * 2):
        p = person(session, first=f"Vorname{i:02d}", last=last)
        service.add_affiliation(session, p, verband if i % 2 else firm)
    for last in ("Ziegler", "Zander", "Albrecht"):
        person(session, first="Otto", last=last)
    session.commit()


def _page_names(rows):
    return [(p.last_name, p.first_name) for p in rows]


@pytest.mark.parametrize(
    "filters",
    [
        ListFilters(q="ha"),
        ListFilters(q="ha", direction="desc"),
        ListFilters(q="ha", kind="association"),
        ListFilters(q="ha", sort="first_name"),
        ListFilters(q="zz"),
    ],
    ids=["search", "descending", "with-a-filter", "other-sort", "no-hit"],
)
def test_a_broad_search_pages_like_the_plain_sorted_query(db_session, filters):
    _broad_search_people(db_session)
    everything = list(db_session.scalars(service.person_query(db_session, filters)))
    for page in (1, 2, 3):
        rows, total = service.list_page(
            db_session, Person, filters, page=page, per_page=5, count_limit=3
        )
        # Exact up to the cap; above it a lower bound that still shows whether more follow.
        if len(everything) <= 3:
            assert total == len(everything)
        else:
            assert total > 3
            assert (total > page * 5) == (len(everything) > page * 5)
        assert _page_names(rows) == _page_names(everything[(page - 1) * 5 : page * 5])


@pytest.mark.parametrize(
    "filters",
    [
        ListFilters(q="ha"),
        ListFilters(q="ha", direction="desc"),
        ListFilters(q="ha", kind="association"),
        ListFilters(q="ha", sort="first_name"),
        ListFilters(q="ha", sort="last_contact"),
        ListFilters(q="vorname0"),
    ],
    ids=["search", "descending", "with-a-filter", "other-sort", "nulls-first", "prefix"],
)
def test_a_search_with_few_hits_pages_like_the_plain_sorted_query(db_session, filters):
    # Below the count limit PostgreSQL sorts the hits themselves (service._sorted_hits).
    _broad_search_people(db_session)
    everything = list(db_session.scalars(service.person_query(db_session, filters)))
    for page in (1, 2, 3, 4):
        rows, total = service.list_page(
            db_session, Person, filters, page=page, per_page=5, count_limit=1000
        )
        assert total == len(everything)
        assert _page_names(rows) == _page_names(everything[(page - 1) * 5 : page * 5])


@pytest.mark.parametrize("window", [3, 8, 15, 3000])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_a_broad_search_pages_alike_whatever_part_of_the_names_it_looks_at_first(
    db_session, monkeypatch, window, direction
):
    # PostgreSQL looks for a broad search's page among the first names (service._name_window)
    # and sorts every hit when the page is not all there.
    monkeypatch.setattr(service, "NAME_WINDOW", window)
    _broad_search_people(db_session)
    filters = ListFilters(q="ha", direction=direction)
    everything = list(db_session.scalars(service.person_query(db_session, filters)))
    for page in (1, 2, 3):
        rows, _total = service.list_page(
            db_session, Person, filters, page=page, per_page=5, count_limit=3
        )
        assert _page_names(rows) == _page_names(everything[(page - 1) * 5 : page * 5])


@pytest.mark.parametrize("q", ["ha", "ha vorname0", "an", "er", "ziegler", "halle", "zz", "%"])
def test_the_walking_search_finds_exactly_what_the_word_index_finds(db_session, q):
    # A walk tests each row against the hits instead of fetching them in the ORDER BY.
    _broad_search_people(db_session)
    walked = service.person_query(db_session, ListFilters(q=q), walk_order=True)
    indexed = service.person_query(db_session, ListFilters(q=q))
    assert _page_names(db_session.scalars(walked)) == _page_names(db_session.scalars(indexed))


def test_a_search_below_the_count_limit_is_counted_exactly(db_session):
    _broad_search_people(db_session)
    rows, total = service.list_page(
        db_session, Person, ListFilters(q="hansen"), page=1, per_page=25, count_limit=1000
    )
    assert total == 2
    assert [p.last_name for p in rows] == ["Hansen", "Hansen"]


def test_a_broad_search_on_sqlite_walks_the_name_index_instead_of_sorting_every_hit(db_session):
    if db_session.get_bind().dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans its searches with the GIN index")
    broad = service.person_query(db_session, ListFilters(q="ha"), walk_order=True)
    narrow = service.person_query(db_session, ListFilters(q="ha"))

    def plan(stmt):
        sql = str(
            stmt.limit(25).compile(db_session.get_bind(), compile_kwargs={"literal_binds": True})
        )
        return " ".join(r[3] for r in db_session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))

    assert "ix_person_sort_name" in plan(broad)
    assert "TEMP B-TREE" not in plan(broad)
    assert "TEMP B-TREE FOR ORDER BY" in plan(narrow)


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

    service.merge_people(db_session, keep, drop, user=None)

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
    service.merge_organisations(db_session, keep, drop, user=None)
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


@pytest.mark.parametrize("people_arms", [200, 1], ids=["per-person", "one-union"])
def test_organisation_timeline_counts_and_pages_every_entry_once(
    db_session, monkeypatch, people_arms
):
    # Three people (one also at another firm), entries with the firm and a person at once,
    # ties on the same minute, and other firms' entries that must stay out.
    monkeypatch.setattr(service, "TIMELINE_PEOPLE_ARMS", people_arms)
    o, other = org(db_session), org(db_session, name="Andere GmbH")
    people = [person(db_session, first=f"P{i}", last="Test") for i in range(3)]
    for p in people:
        service.add_affiliation(db_session, p, o)
    service.add_affiliation(db_session, people[0], other)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    expected = []
    for i in range(40):
        who = people[i % 3]
        with_org = {0: o, 1: None, 2: other}[i % 4 % 3]
        a = service.log_activity(
            db_session,
            kind="note",
            occurred_at=base + timedelta(hours=i // 2),
            subject=f"#{i}",
            person=who if i % 5 else None,
            organisation=with_org if i % 5 else o,
        )
        expected.append(a)
    service.log_activity(db_session, kind="call", organisation=other, subject="fremd")
    service.log_activity(
        db_session, kind="call", person=person(db_session, last="Fremd"), subject="fremd"
    )
    expected.sort(key=lambda a: (a.occurred_at, a.id), reverse=True)
    seen = []
    for page in (1, 2, 3, 4, 5):
        items, total = service.organisation_timeline(db_session, o.id, page=page, per_page=9)
        assert total == 40
        seen += [a.subject for a in items]
    assert seen == [a.subject for a in expected]


def test_a_timeline_without_people_or_entries_is_empty(db_session):
    o = org(db_session)
    assert service.organisation_timeline(db_session, o.id) == ([], 0)
