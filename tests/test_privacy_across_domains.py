"""Art. 15/17 across the domains merged later: newsletter consent records and event leads."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask import current_app

from crm.contacts.models import Person
from crm.contacts.service import save_person
from crm.events.service import EventData, LeadData, capture_lead, create_event
from crm.newsletters.service import (
    MailSettings,
    confirm_subscription,
    confirm_token,
    create_list,
    request_subscription,
)
from crm.privacy import access
from crm.privacy import service as privacy
from crm.privacy.erasure import ALL_MENTIONS
from tests import factories
from tests.test_privacy_erasure import traces

FIRST, LAST = "Wendelgard", "Oberpfuhlmeier"
EMAIL = "wendelgard.oberpfuhl@example.org"


def test_erasing_a_person_with_a_subscription_and_a_fair_lead_leaves_no_trace(app_ctx):
    s = app_ctx
    staff = factories.make_user(s, role="staff")
    lst = create_list(s, name="Newsletter Test", slug="test", consent_text="Ich willige ein.")
    result = request_subscription(
        s,
        lst,
        email=EMAIL,
        first_name=FIRST,
        last_name=LAST,
        ip="192.0.2.44",
        user_agent="Thunderbird",
    )
    settings = MailSettings.from_config(current_app.config)
    confirm_subscription(
        s,
        settings,
        confirm_token(settings, result.signup),
        ip="192.0.2.44",
        now=datetime(2026, 11, 2, tzinfo=UTC),
    )
    fair = create_event(
        s,
        EventData(
            kind="fair",
            title="Jobmesse Magdeburg",
            start_local=datetime(2026, 11, 5, 9),
            end_local=datetime(2026, 11, 5, 16),
        ),
    )
    capture_lead(
        s,
        fair,
        LeadData(
            first_name=FIRST,
            last_name=LAST,
            email=EMAIL,
            organisation_name="Elbe Logistik",
            note=f"{LAST} sucht Azubis",
            followup_due=date(2026, 11, 20),
        ),
        captured_by=staff,
        assignee=staff,
        now=datetime(2026, 11, 5, 10, tzinfo=UTC),
    )
    s.flush()
    person = s.scalar(sa.select(Person).where(Person.email == EMAIL))
    assert traces(s, LAST)  # the data is really there before

    privacy.erase_person(s, person, confirmed=ALL_MENTIONS)
    s.flush()
    for needle in (LAST, FIRST, EMAIL, "192.0.2.44"):
        assert traces(s, needle) == [], needle


def test_erasing_a_person_also_deletes_an_unconfirmed_sign_up_of_their_address(app_ctx):
    s = app_ctx
    lst = create_list(s, name="Newsletter Offen", slug="offen", consent_text="Ja.")
    request_subscription(s, lst, email=EMAIL, first_name=FIRST, last_name=LAST, ip="192.0.2.61")
    person = save_person(s, {"first_name": FIRST, "last_name": LAST, "email": EMAIL})
    assert traces(s, "192.0.2.61")

    privacy.erase_person(s, person)
    s.flush()
    for needle in (LAST, FIRST, EMAIL, "192.0.2.61"):
        assert traces(s, needle) == [], needle


def test_the_access_report_of_a_person_includes_a_waiting_sign_up_and_leads(app_ctx):
    s = app_ctx
    staff = factories.make_user(s, role="staff")
    lst = create_list(s, name="Newsletter Export", slug="export", consent_text="Ja.")
    request_subscription(s, lst, email=EMAIL, first_name=FIRST, last_name=LAST, ip="192.0.2.9")
    fair = create_event(
        s,
        EventData(
            kind="fair",
            title="Messe",
            start_local=datetime(2026, 11, 5, 9),
            end_local=datetime(2026, 11, 5, 16),
        ),
    )
    capture_lead(
        s,
        fair,
        LeadData(first_name=FIRST, last_name=LAST, email=EMAIL),
        captured_by=staff,
        assignee=staff,
        now=datetime(2026, 11, 5, 10, tzinfo=UTC),
    )
    s.flush()
    person = s.scalar(sa.select(Person).where(Person.email == EMAIL))
    report = access.build_report(
        s, [access.RecordRef("person", person.id)], config=current_app.config
    ).as_json()
    sections = {x["key"]: x["entries"] for x in report["sections"]}
    # The unconfirmed sign-up is no subscription yet, but it is data about the address.
    assert "newsletter_subscriptions" not in sections
    assert "newsletter_consent_records" not in sections
    (signup,) = sections["newsletter_signups"]
    values = {f["key"]: f["value"] for f in signup["fields"]}
    assert values["email"] == EMAIL
    assert values["ip"] == "192.0.2.9"
    assert len(sections["event_leads"]) == 1
