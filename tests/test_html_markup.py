"""The markup the Nu Html Checker refused, checked page by page without Java.

tests/test_html_validity.py runs vnu over every page; these pin each finding of issue 19 to
the page where it was found, so it is caught on a machine without the validator too.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Any

import lxml.html
import pytest
import sqlalchemy as sa
from flask import render_template_string

from crm import demo
from crm.accounts.models import User
from crm.contacts.models import Activity
from crm.events.models import Event, EventContact
from crm.followups.service import create_followup
from crm.newsletters.models import NewsletterList
from tests.conftest import login
from tests.newsletter_sending_helpers import make_campaign, started_campaign

# An htmx attribute that is not spelled data-hx-* (HTML knows no hx-* attributes).
BARE_HTMX = re.compile(r"""[\s"']hx-[a-z-]+=""")


@pytest.fixture
def admin(app, db_session) -> Any:
    """An admin's browser on demo data."""
    # The loader runs the import job and the mail sender, which read the app's settings.
    with app.app_context():
        demo.seed(db_session)
    db_session.commit()
    browser = app.test_client()
    assert login(browser, demo.DEMO_USERS[0][0], demo.DEMO_PASSWORD).status_code == 302
    return browser


def _page(browser: Any, url: str) -> tuple[str, Any]:
    response = browser.get(url)
    assert response.status_code == 200, url
    html = response.get_data(as_text=True)
    return html, lxml.html.fromstring(html)


def _repeated_ids(doc: Any) -> list[str]:
    return [i for i, n in Counter(doc.xpath("//@id")).items() if n > 1]


def test_an_event_page_with_several_forms_repeats_no_id(admin, db_session):
    event_id = db_session.scalar(
        sa.select(EventContact.event_id).order_by(EventContact.event_id).limit(1)
    ) or db_session.scalar(sa.select(Event.id).limit(1))

    html, doc = _page(admin, f"/termine/{event_id}")

    assert len(doc.xpath("//form[@method='post']")) >= 2
    assert _repeated_ids(doc) == []
    assert len(doc.xpath("//input[@name='csrf_token']")) >= 2  # every form still has its token


def test_a_follow_up_page_with_several_forms_repeats_no_id(admin, db_session):
    user = db_session.scalar(sa.select(User).where(User.email == demo.DEMO_USERS[0][0]))
    followup = create_followup(
        db_session, subject="Rückruf", due_date=date(2026, 12, 1), assignee=user
    )
    db_session.commit()

    html, doc = _page(admin, f"/wiedervorlagen/{followup.id}")

    assert len(doc.xpath("//form[@method='post']")) >= 2
    assert _repeated_ids(doc) == []


def test_htmx_attributes_are_written_as_data_hx_attributes(admin, db_session):
    newsletter = db_session.scalar(sa.select(NewsletterList).limit(1))
    make_campaign(db_session, newsletter)
    campaign, _ = started_campaign(db_session, 2)
    db_session.commit()

    for url in (
        "/kontakte/organisationen",
        "/newsletter/zielgruppen/neu",
        f"/newsletter/aussendungen/{campaign.id}/fortschritt",
    ):
        html, _ = _page(admin, url)
        assert "data-hx-get=" in html, url
        assert not BARE_HTMX.search(html), url


def test_the_sign_up_address_in_the_new_list_help_is_text_not_markup(admin):
    html, doc = _page(admin, "/newsletter/listen/neu")

    assert "/newsletter/anmelden/&lt;Kurzname&gt;" in html
    assert doc.xpath("//kurzname") == []
    assert "/newsletter/anmelden/<Kurzname>." in doc.get_element_by_id("slug-help").text_content()


def test_the_campaign_form_asks_for_a_newsletter_and_a_template_with_an_empty_first_option(
    admin,
):
    html, doc = _page(admin, "/newsletter/aussendungen/neu")

    for name in ("list_id", "template_id"):
        options = doc.xpath(f"//select[@name='{name}']/option")
        # The placeholder comes first, so the required select stays valid markup; the demo has
        # one newsletter and one template, which the form preselects.
        assert options[0].get("value") == ""
        assert options[0].get("selected") is None
        assert len(options) == 2
        assert options[1].get("selected") is not None


def test_a_campaign_without_a_chosen_newsletter_is_refused_with_a_field_error(admin, db_session):
    before = db_session.scalar(sa.select(sa.func.count()).select_from(NewsletterList))

    response = admin.post(
        "/newsletter/aussendungen/neu", data={"name": "Herbst", "list_id": "", "template_id": ""}
    )

    assert response.status_code == 200
    assert b"invalid-feedback" in response.data
    assert db_session.scalar(sa.select(sa.func.count()).select_from(NewsletterList)) == before


def test_the_organisation_street_autocompletes_as_the_first_address_line(admin):
    _, doc = _page(admin, "/kontakte/organisationen/neu")

    assert doc.xpath("//input[@name='street']/@autocomplete") == ["address-line1"]


def test_pagination_shows_the_missing_previous_and_next_pages_as_text(app):
    macro = (
        '{% from "_macros.html" import pagination %}{{ pagination(p, 10, 30, "contacts.people") }}'
    )
    with app.test_request_context():
        first = lxml.html.fromstring(render_template_string(macro, p=1))
        last = lxml.html.fromstring(render_template_string(macro, p=3))

    for doc in (first, last):
        assert doc.xpath("//*[@aria-disabled]") == []
        assert doc.xpath("//a[@href='#']") == []
    assert first.xpath("//li[1]/span/text()")
    assert first.xpath("//li[3]/a/@href")
    assert last.xpath("//li[1]/a/@href")
    assert last.xpath("//li[3]/span/text()")


def test_timeline_times_are_machine_readable_to_the_second(admin, db_session):
    activity = db_session.scalar(
        sa.select(Activity).where(Activity.person_id.is_not(None)).limit(1)
    )

    _, doc = _page(admin, f"/kontakte/personen/{activity.person_id}")

    stamps = doc.xpath("//ol[@id='timeline']//time/@datetime")
    assert stamps
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", s) for s in stamps)
