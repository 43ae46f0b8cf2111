"""Audiences: static lists and saved filters, always only confirmed, reachable subscribers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.contacts.kinds import create_kind
from crm.contacts.models import ORG_KINDS, ContactList, ContactListMember
from crm.contacts.service import add_affiliation
from crm.newsletters import service
from crm.newsletters.audiences import (
    FilterSpecError,
    audience_recipients,
    clean_filter_spec,
    count_recipients,
)
from crm.newsletters.models import Audience
from tests.factories import make_list, make_org, make_person


def _ids(session, audience):
    return [row.person_id for row in session.execute(audience_recipients(session, audience))]


def test_recipients_exclude_unconsented_unsubscribed_bounced_and_addressless(db_session):
    lst = make_list(db_session)
    other = make_list(db_session)
    confirmed, pending, gone, bounced, no_mail, elsewhere, nothing = (
        make_person(db_session) for _ in range(7)
    )
    for p in (confirmed, gone, bounced, no_mail):
        service.record_consent(db_session, person=p, lst=lst, method="paper")
    service.request_subscription(db_session, lst, email=pending.email)
    service.unsubscribe(db_session, gone.id, lst.id, channel="staff")
    service.mark_bounced(db_session, bounced.id, lst.id, note="550 user unknown")
    no_mail.email = ""
    service.record_consent(db_session, person=elsewhere, lst=other, method="paper")
    audience = Audience(name="alle", list_id=lst.id, kind="subscribers")
    db_session.add(audience)
    db_session.flush()
    assert _ids(db_session, audience) == [confirmed.id]
    assert count_recipients(db_session, audience_recipients(db_session, audience)) == 1


def test_a_saved_filter_selects_people_at_associations_with_tag_and_region(db_session):
    lst = make_list(db_session)
    hdw = make_org(db_session, kind="association", region="Magdeburg", tags=["Haus der Wirtschaft"])
    firm = make_org(db_session, kind="employer", region="Magdeburg", tags=["Haus der Wirtschaft"])
    far = make_org(db_session, kind="association", region="Salzlandkreis")
    a, b, c, d = (make_person(db_session) for _ in range(4))
    add_affiliation(db_session, a, hdw)
    add_affiliation(db_session, b, firm)
    add_affiliation(db_session, c, far)
    add_affiliation(db_session, d, hdw)
    add_affiliation(db_session, d, firm)  # two matching organisations: still one row
    for p in (a, b, c, d):
        service.record_consent(db_session, person=p, lst=lst, method="existing_business_contact")
    spec = {"org_kinds": ["association"], "tags": ["Haus der Wirtschaft"], "regions": ["Magdeburg"]}
    audience = Audience(name="hdw", list_id=lst.id, kind="filter", filter_spec=spec)
    db_session.add(audience)
    db_session.flush()
    assert _ids(db_session, audience) == [a.id, d.id]
    audience.filter_spec = {"tags": ["Haus der Wirtschaft"]}
    assert _ids(db_session, audience) == [a.id, b.id, d.id]


def test_a_static_list_audience_uses_the_contact_list(db_session):
    lst = make_list(db_session)
    members = [make_person(db_session) for _ in range(3)]
    outsider = make_person(db_session)
    cl = ContactList(name="Einladungsliste Messe")
    db_session.add(cl)
    db_session.flush()
    for p in members[:2]:
        db_session.add(ContactListMember(list_id=cl.id, person_id=p.id))
    for p in [*members, outsider]:
        service.record_consent(db_session, person=p, lst=lst, method="paper")
    audience = Audience(name="statisch", list_id=lst.id, kind="static", contact_list_id=cl.id)
    db_session.add(audience)
    db_session.flush()
    assert _ids(db_session, audience) == [members[0].id, members[1].id]


@pytest.mark.parametrize(
    "raw",
    [
        {"sql": "1=1"},
        {"org_kinds": ["'; DROP TABLE person; --"]},
        {"tags": [1, 2]},
        {"regions": ["x" * 500]},
        "org_kinds",
    ],
)
def test_filter_specs_are_data_not_sql(raw):
    with pytest.raises(FilterSpecError):
        clean_filter_spec(raw, kinds=ORG_KINDS)


def test_the_live_count_endpoint_counts_with_the_form_values(client_as, db_session):
    lst = make_list(db_session)
    org = make_org(db_session, kind="association", region="Magdeburg")
    people = [make_person(db_session) for _ in range(3)]
    add_affiliation(db_session, people[0], org)
    for p in people:
        service.record_consent(db_session, person=p, lst=lst, method="paper")
    db_session.commit()
    c = client_as("readonly")
    r = c.get(f"/newsletter/zielgruppen/anzahl?list_id={lst.id}&kind=subscribers")
    assert b'data-count="3"' in r.data
    r = c.get(
        f"/newsletter/zielgruppen/anzahl?list_id={lst.id}&kind=filter&org_kinds=association"
        "&regions=Magdeburg"
    )
    assert b'data-count="1"' in r.data
    r = c.get(f"/newsletter/zielgruppen/anzahl?list_id={lst.id}&kind=filter&org_kinds=bogus")
    assert b"data-count" not in r.data
    assert r.status_code == 200


def test_kinds_admins_added_can_be_filtered_and_are_shown_by_their_label(client_as, db_session):
    lst = make_list(db_session)
    kind = create_kind(db_session, label="Botschaft")
    ministry = make_org(db_session, kind=kind.key)
    university = make_org(db_session, kind="university")
    for org in (ministry, university, make_org(db_session)):
        person = make_person(db_session, org=org)
        service.record_consent(db_session, person=person, lst=lst, method="paper")
    db_session.commit()
    c = client_as("admin")
    form = c.get("/newsletter/zielgruppen/neu").get_data(as_text=True)
    assert f'value="{kind.key}"' in form
    assert 'value="university"' in form
    r = c.get(
        f"/newsletter/zielgruppen/anzahl?list_id={lst.id}&kind=filter"
        f"&org_kinds={kind.key}&org_kinds=university"
    )
    assert b'data-count="2"' in r.data
    c.post(
        "/newsletter/zielgruppen/neu",
        data={"name": "Botschaften", "list_id": lst.id, "kind": "filter", "org_kinds": kind.key},
    )
    audience = db_session.scalar(sa.select(Audience).where(Audience.name == "Botschaften"))
    assert audience.filter_spec == {"org_kinds": [kind.key]}
    assert "Botschaft" in c.get("/newsletter/zielgruppen").get_data(as_text=True)


def test_merging_people_keeps_their_consent_history(db_session):
    from crm.contacts.service import merge_people
    from crm.newsletters.models import ConsentEvent, Subscription

    lst = make_list(db_session)
    keep, drop = make_person(db_session), make_person(db_session)
    service.record_consent(db_session, person=drop, lst=lst, method="paper")
    db_session.flush()
    merge_people(db_session, keep, drop, user=None)
    sub = db_session.scalar(sa.select(Subscription).where(Subscription.person_id == keep.id))
    assert sub.status == "confirmed"
    assert (
        db_session.scalar(sa.select(sa.func.count()).where(ConsentEvent.person_id == keep.id)) == 1
    )
