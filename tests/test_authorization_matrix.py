"""Which tables, and which rows in them, each role may change through each destructive route.

Merge, delete and erase fan out into other domains. For every role the test snapshots every
table, performs the route, and compares: a row changed outside the allowed set (a new side
effect on another domain, or a role reaching data it has no rights to) fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from crm.contacts import service as contacts
from crm.contacts.models import Activity, Affiliation
from crm.events import service as events
from crm.followups.models import FollowUp
from crm.newsletters import service as newsletters
from crm.newsletters.models import ConsentEvent
from crm.participants import service as participants
from crm.participants.models import SupportItem
from tests import factories
from tests.factories import make_list, make_participant
from tests.table_snapshots import changed_rows, snapshot

ROLES = ("admin", "lead", "counsellor", "staff", "readonly")
# Written by every request or login, whatever the route: not a side effect of the route.
INFRASTRUCTURE = frozenset({"audit_entry", "login_session", "login_attempt"})
GRANTED = date(2026, 1, 5)


def _org(session, name, kind="employer"):
    return contacts.save_organisation(session, {"name": name, "kind": kind})


def _person(session, first, last, email):
    return contacts.save_person(session, {"first_name": first, "last_name": last, "email": email})


def _event(session, title, day, organiser_id=None):
    return events.create_event(
        session,
        events.EventData(
            kind="presentation",
            title=title,
            start_local=datetime.combine(day, time(9)),
            end_local=datetime.combine(day, time(10)),
            organiser_id=organiser_id,
        ),
    )


@pytest.fixture
def world(db_session) -> SimpleNamespace:
    """Ids of the records the routes act on, beside bystanders that must stay untouched."""
    s = db_session
    office = factories.make_office(s)
    counsellor = factories.make_user(s, role="counsellor", office=office)
    # Organisations: an employer and an association that participants' data name ...
    employer = _org(s, "Stahlbau Elbe GmbH")
    association = _org(s, "Verein Brücke e.V.", "association")
    # ... two duplicates nobody else refers to, and a bystander.
    bakery, bakery_dup = _org(s, "Bäckerei Schäfer"), _org(s, "Baeckerei Schaefer")
    bystander_org = _org(s, "Unbeteiligt GmbH")

    member = _person(s, "Karl", "Mitglied", "karl@example.org")
    member_aff = contacts.add_affiliation(s, member, association)
    need = contacts.add_need(s, association, occupation="Schweißer", count=2)
    org_activity = contacts.log_activity(s, kind="call", subject="Anruf", organisation=association)

    participant = make_participant(
        s, office=office, counsellor=counsellor, referring_organisation_id=association.id
    )
    release = participants.add_release(s, participant, organisation=association, granted_on=GRANTED)
    referral = participants.create_referral(
        s, participant, organisation=association, referred_on=GRANTED, direction="to"
    )
    bystander = make_participant(s, office=office, counsellor=counsellor, last_name="Daneben")
    bystander_release = participants.add_release(
        s, bystander, organisation=employer, granted_on=GRANTED
    )
    participants.add_session(s, bystander, held_on=GRANTED, minutes=60)

    erasable = make_participant(s, office=office, counsellor=counsellor, last_name="Vergessen")
    erasable_release = participants.add_release(
        s, erasable, organisation=bystander_org, granted_on=GRANTED
    )
    erasable_session = participants.add_session(s, erasable, held_on=GRANTED, minutes=90)

    organised = _event(s, "Vorstellung Verein", date(2027, 3, 10), organiser_id=association.id)
    lead_user = factories.make_user(s, role="staff")
    lead = events.capture_lead(
        s,
        organised,
        events.LeadData(first_name="Eva", last_name="Kontakt", organisation_name=association.name),
        captured_by=lead_user,
        assignee=lead_user,
        now=datetime.now(UTC),
    )

    # People: a duplicate pair with newsletter and event data, one person to erase.
    keep = _person(s, "Jürgen", "Müller", "juergen@example.org")
    drop = _person(s, "Juergen", "Mueller", "j.mueller@example.org")
    lst = make_list(s)
    drop_sub = newsletters.record_consent(s, person=drop, lst=lst, method="paper")
    invite = _event(s, "Fachtag", date(2027, 4, 1))
    drop_contact = events.set_contact(s, invite, drop, "invited")
    erase_me = _person(s, "Frieda", "Vergessen", "frieda@example.org")
    erase_sub = newsletters.record_consent(s, person=erase_me, lst=lst, method="paper")
    s.commit()
    about_association = {
        "org_activities": set(
            s.scalars(sa.select(Activity.id).where(Activity.organisation_id == association.id))
        ),
        "org_affiliations": set(
            s.scalars(
                sa.select(Affiliation.id).where(Affiliation.organisation_id == association.id)
            )
        ),
        "org_people": set(
            s.scalars(
                sa.select(Affiliation.person_id).where(
                    Affiliation.organisation_id == association.id
                )
            )
        ),
        "org_followups": set(
            s.scalars(sa.select(FollowUp.id).where(FollowUp.organisation_id == association.id))
        ),
    }
    ledger = {
        name: set(s.scalars(sa.select(ConsentEvent.id).where(ConsentEvent.person_id == pid)))
        for name, pid in (("drop_ledger", drop.id), ("erase_ledger", erase_me.id))
    }
    erasable_items = set(
        s.scalars(sa.select(SupportItem.id).where(SupportItem.participant_id == erasable.id))
    )
    ids = {
        "erasable_items": erasable_items,
        **about_association,
        **ledger,
        "employer": employer.id,
        "association": association.id,
        "bakery": bakery.id,
        "bakery_dup": bakery_dup.id,
        "bystander_org": bystander_org.id,
        "member_aff": member_aff.id,
        "need": need.id,
        "org_activity": org_activity.id,
        "participant": participant.id,
        "release": release.id,
        "referral": referral.id,
        "bystander": bystander.id,
        "bystander_release": bystander_release.id,
        "erasable": erasable.id,
        "erasable_release": erasable_release.id,
        "erasable_session": erasable_session.id,
        "organised": organised.id,
        "lead": lead.id,
        "lead_person": lead.person_id,
        "keep": keep.id,
        "drop": drop.id,
        "drop_sub": drop_sub.id,
        "drop_contact": drop_contact.id,
        "erase_me": erase_me.id,
        "erase_sub": erase_sub.id,
    }
    return SimpleNamespace(**ids)


# --- the routes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A destructive route: how to call it, who may, and which rows it may change."""

    name: str
    permitted: frozenset[str]
    call: Any  # (client, world) -> response
    # (world) -> {table: set of primary keys that may change}; "*" allows any row of the table.
    may_change: Any
    # (world) -> (table, primary key) that must have changed when a permitted role calls it.
    target: Any


def _keys(*ids: int) -> set[tuple[int]]:
    return {(i,) for i in ids}


ROUTES = [
    Route(
        "merge an association named in participants' data into an employer",
        frozenset({"admin", "lead"}),
        lambda c, w: c.post(
            f"/kontakte/organisationen/{w.employer}/zusammenfuehren/{w.association}",
            data={"keep": str(w.employer)},
        ),
        lambda w: {
            "organisation": _keys(w.employer, w.association),
            "affiliation": _keys(*w.org_affiliations),
            "activity": _keys(*w.org_activities),
            "followup": _keys(*w.org_followups),
            "qualification_need": _keys(w.need),
            "participant": _keys(w.participant),
            "referral": _keys(w.referral),
            "consent_release": _keys(w.release),
            "lead": _keys(w.lead),
            "event": _keys(w.organised),
            "person": _keys(*w.org_people),  # their search text names the organisation
        },
        lambda w: ("organisation", (w.association,)),
    ),
    Route(
        "merge two organisations nobody else refers to",
        frozenset({"admin", "lead", "staff"}),
        lambda c, w: c.post(
            f"/kontakte/organisationen/{w.bakery}/zusammenfuehren/{w.bakery_dup}",
            data={"keep": str(w.bakery)},
        ),
        lambda w: {"organisation": _keys(w.bakery, w.bakery_dup)},
        lambda w: ("organisation", (w.bakery_dup,)),
    ),
    Route(
        "merge two people",
        frozenset({"admin", "lead", "staff"}),
        lambda c, w: c.post(
            f"/kontakte/personen/{w.keep}/zusammenfuehren/{w.drop}", data={"keep": str(w.keep)}
        ),
        lambda w: {
            "person": _keys(w.keep, w.drop),
            "newsletter_subscription": _keys(w.drop_sub),
            "consent_event": _keys(*w.drop_ledger),
            "event_contact": _keys(w.drop_contact),
        },
        lambda w: ("person", (w.drop,)),
    ),
    Route(
        "delete an organisation named in participants' data",
        frozenset({"admin", "lead"}),
        lambda c, w: c.post(f"/kontakte/organisationen/{w.association}/loeschen"),
        lambda w: {
            "organisation": _keys(w.association),
            "affiliation": _keys(*w.org_affiliations),
            "activity": _keys(*w.org_activities),
            "followup": _keys(*w.org_followups),
            "qualification_need": _keys(w.need),
            "participant": _keys(w.participant),
            "referral": _keys(w.referral),
            "consent_release": _keys(w.release),
            "lead": _keys(w.lead),
            "event": _keys(w.organised),
            "person": _keys(*w.org_people),
        },
        lambda w: ("organisation", (w.association,)),
    ),
    Route(
        "delete an organisation nobody else refers to",
        frozenset({"admin", "lead", "counsellor", "staff"}),
        lambda c, w: c.post(f"/kontakte/organisationen/{w.bakery_dup}/loeschen"),
        lambda w: {"organisation": _keys(w.bakery_dup)},
        lambda w: ("organisation", (w.bakery_dup,)),
    ),
    Route(
        "delete a person",
        frozenset({"admin", "lead", "counsellor", "staff"}),
        lambda c, w: c.post(f"/kontakte/personen/{w.drop}/loeschen"),
        lambda w: {
            "person": _keys(w.drop),
            "newsletter_subscription": _keys(w.drop_sub),
            "consent_event": _keys(*w.drop_ledger),
            "event_contact": _keys(w.drop_contact),
        },
        lambda w: ("person", (w.drop,)),
    ),
    Route(
        "erase a participant (Art. 17)",
        frozenset({"admin"}),
        lambda c, w: c.post(
            f"/datenschutz/teilnehmende/{w.erasable}/loeschen", data={"confirm": "yes"}
        ),
        lambda w: {
            "participant": _keys(w.erasable),
            "consent_release": _keys(w.erasable_release),
            "counselling_session": _keys(w.erasable_session),
            "support_item": _keys(*w.erasable_items),
            # Erasure closes the participant's retention review, if one was open.
            "retention_review": "*",
            # ... and logs itself (ids only, for re-applying after a backup restore).
            "erasure_record": "*",
        },
        lambda w: ("participant", (w.erasable,)),
    ),
    Route(
        "erase a contact person (Art. 17)",
        frozenset({"admin"}),
        lambda c, w: c.post(
            f"/datenschutz/personen/{w.erase_me}/loeschen", data={"confirm": "yes"}
        ),
        lambda w: {
            "person": _keys(w.erase_me),
            "newsletter_subscription": _keys(w.erase_sub),
            "consent_event": _keys(*w.erase_ledger),
            "erasure_record": "*",
        },
        lambda w: ("person", (w.erase_me,)),
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_a_role_changes_only_the_rows_its_rights_cover_through_each_destructive_route(
    client_as, db_session, world, route, role
):
    client = client_as(role)
    before = snapshot(db_session, skip=INFRASTRUCTURE)

    response = route.call(client, world)

    assert response.status_code < 500, response.status_code
    changed = changed_rows(before, snapshot(db_session, skip=INFRASTRUCTURE))
    allowed = route.may_change(world) if role in route.permitted else {}
    outside = {
        table: keys
        for table, keys in changed.items()
        if table not in allowed or (allowed[table] != "*" and not keys <= allowed[table])
    }
    assert not outside, f"{role} changed rows outside what {route.name!r} may change: {outside}"
    table, key = route.target(world)
    if role in route.permitted:
        assert key in changed.get(table, set()), f"{role} could not {route.name}"
    else:
        assert response.status_code in (302, 400, 403), response.status_code
