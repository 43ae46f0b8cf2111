"""Art. 15: free text that names the person without a link is listed for the admin to review
before the copy leaves the office, and never copied into the report itself."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import lxml.html
from flask_babel import force_locale

from crm.events.minutes import save_minutes
from crm.participants import service as ps
from crm.privacy import erasure
from tests import factories

LAST = "Wiśniewska-Obuya"
OTHER = "Herr Dariusz Feldkamp"
MINUTES = f"Frau {LAST} hat die Stelle angetreten. {OTHER} wartet noch auf den Bescheid."


def _minutes_naming_her(db_session):
    admin = factories.make_user(db_session, role="admin")
    participant = factories.make_participant(db_session, first_name="Halina", last_name=LAST)
    event = factories.make_event(db_session, title="Abstimmung mit dem Jobcenter")
    minutes = save_minutes(
        db_session,
        event,
        MINUTES,
        user=admin,
        now=datetime(2026, 11, 2, tzinfo=UTC),
        base_version=0,
    )
    db_session.commit()
    return participant, event, minutes


def _review(html: str) -> lxml.html.HtmlElement | None:
    found = lxml.html.fromstring(html).xpath('//*[@id="mention-review"]')
    return found[0] if found else None


def test_minutes_that_name_her_are_listed_for_review_beside_the_report_with_a_link_to_the_event(
    client_as, db_session
):
    participant, event, minutes = _minutes_naming_her(db_session)
    html = (
        client_as("admin")
        .get(f"/datenschutz/auskunft/bericht?r=participant:{participant.id}")
        .get_data(as_text=True)
    )
    review = _review(html)
    (item,) = review.xpath('.//li[@data-table="event_minutes"]')
    assert item.get("data-id") == str(minutes.id)
    assert "Protokoll eines Termins" in item.text_content()
    assert item.xpath(".//a/@href") == [f"/termine/{event.id}#protokoll"]
    # Only on screen: the printed report is what the person receives.
    assert "no-print" in review.get("class")
    report = lxml.html.fromstring(html).xpath('//article[contains(@class, "access-report")]')[0]
    assert OTHER not in report.text_content()


def test_the_record_page_of_access_and_erasure_lists_the_same_mentions(client_as, db_session):
    participant, _event, minutes = _minutes_naming_her(db_session)
    html = (
        client_as("admin")
        .get(f"/datenschutz/teilnehmende/{participant.id}/auskunft")
        .get_data(as_text=True)
    )
    assert _review(html).xpath('.//li[@data-table="event_minutes"]/@data-id') == [str(minutes.id)]


def test_the_json_never_contains_the_text_of_others(client_as, db_session):
    participant, _event, _minutes = _minutes_naming_her(db_session)
    admin = client_as("admin")
    body = admin.get(f"/datenschutz/auskunft/bericht.json?r=participant:{participant.id}")
    assert OTHER not in body.get_data(as_text=True)
    assert "Feldkamp" not in body.get_data(as_text=True)


def test_her_own_notes_are_in_the_report_and_not_listed_again_for_review(client_as, db_session):
    participant = factories.make_participant(db_session, first_name="Halina", last_name=LAST)
    ps.add_session(
        db_session, participant, held_on=date(2026, 3, 2), minutes=30, note=f"Gespräch mit {LAST}"
    )
    db_session.commit()
    html = (
        client_as("admin")
        .get(f"/datenschutz/auskunft/bericht?r=participant:{participant.id}")
        .get_data(as_text=True)
    )
    review = _review(html)
    assert review.xpath('.//*[@id="mention-review-none"]')
    assert "Kein Text außerhalb der Auskunft nennt die Person." in review.text_content()


def test_a_mention_linked_to_another_of_her_ticked_records_is_not_listed_for_review(
    client_as, db_session
):
    """Her contact record's note names her: it is in the report through that record."""
    person = factories.make_person(
        db_session, first_name="Halina", last_name=LAST, notes=f"Frau {LAST} ruft zurück."
    )
    participant = factories.make_participant(db_session, first_name="Halina", last_name=LAST)
    db_session.commit()
    admin = client_as("admin")
    alone = admin.get(f"/datenschutz/auskunft/bericht?r=participant:{participant.id}")
    listed = _review(alone.get_data(as_text=True)).xpath('.//li[@data-table="person"]/@data-id')
    assert set(listed) == {str(person.id)}
    both = f"r=person:{person.id}&r=participant:{participant.id}"
    html = admin.get(f"/datenschutz/auskunft/bericht?{both}").get_data(as_text=True)
    assert not _review(html).xpath(".//li")


def test_every_table_the_mention_scan_reads_has_a_german_name_in_the_lists(app):
    """The erasure preview listed "consent_event #1" and "survey_recipient #12"."""
    with app.test_request_context(), force_locale("de"):
        unnamed = [t for t in erasure._prose_columns() if erasure.table_label(t) == t]
        assert unnamed == []
        assert erasure.table_label("consent_event") == "Einwilligungsnachweis"
        assert erasure.table_label("survey_recipient") == "Empfänger*in einer Bedarfsanalyse"
        assert erasure.table_label("newsletter_delivery") == "Newsletter-Zustellung"


def test_the_lookup_tells_a_former_participant_by_her_labelled_first_contact_and_exit(
    client_as, db_session
):
    """The matches showed "Schönebeck; 02.02.2026" without saying what the date was."""
    factories.make_participant(
        db_session,
        first_name="Halina",
        last_name=LAST,
        first_contact_on=date(2026, 2, 2),
        sessions=((date(2026, 2, 2), 60),),
        exit_on=date(2026, 6, 2),
        outcome="employment",
    )
    db_session.commit()
    html = client_as("admin").get(f"/datenschutz/auskunft?q={LAST}").get_data(as_text=True)
    text = " ".join(lxml.html.fromstring(html).xpath('//*[@id="candidates-table"]')[0].itertext())
    assert "Erstkontakt am 02.02.2026" in text
    assert "Austritt am 02.06.2026" in text


def test_a_record_without_any_filled_field_says_so_instead_of_an_empty_table(client_as, db_session):
    """Her ESF Plus record existed with nothing filled in: a heading over nothing."""
    from crm.esf.models import EsfRecord

    participant = factories.make_participant(db_session, first_name="Halina", last_name=LAST)
    db_session.add(EsfRecord(participant_id=participant.id))
    db_session.commit()
    html = (
        client_as("admin")
        .get(f"/datenschutz/auskunft/bericht?r=participant:{participant.id}")
        .get_data(as_text=True)
    )
    (section,) = lxml.html.fromstring(html).xpath('//*[@id="data-esf"]')
    assert "Der Datensatz ist angelegt, enthält aber keine Angaben." in section.text_content()
    assert not section.xpath(".//table")


def test_the_datenschutz_page_leads_to_the_retention_periods_and_the_audit_log(
    client_as, db_session
):
    admin = client_as("admin")
    page = lxml.html.fromstring(admin.get("/datenschutz/").get_data(as_text=True))
    links = {a.get("id"): (a.get("href"), a.text_content()) for a in page.iter("a") if a.get("id")}
    assert links["retention-link"] == ("/datenschutz/aufbewahrung/", "Aufbewahrungsfristen")
    assert links["audit-link"] == ("/verwaltung/protokoll/", "Änderungsprotokoll")
    for href, _label in (links["retention-link"], links["audit-link"]):
        assert admin.get(href).status_code == 200


def test_a_newsletter_sent_to_her_shows_the_subject_she_received_not_its_template(
    client_as, db_session
):
    """The report said "Juni-Ausgabe ({{ liste }}: Neues im Juni)"."""
    from crm.newsletters.models import Campaign, Delivery

    person = factories.make_person(db_session, last_name=LAST, email="halina@example.org")
    lst = factories.make_list(db_session, name="Haus der Wirtschaft")
    campaign = Campaign(name="Juni-Ausgabe", list_id=lst.id, subject="{{ liste }}: Neues im Juni")
    db_session.add(campaign)
    db_session.flush()
    db_session.add(
        Delivery(
            campaign_id=campaign.id,
            person_id=person.id,
            email="halina@example.org",
            status="sent",
            sent_at=datetime(2026, 6, 2, 8, 0, tzinfo=UTC),
        )
    )
    db_session.commit()
    data = (
        client_as("admin")
        .get(f"/datenschutz/auskunft/bericht.json?r=person:{person.id}")
        .get_json()
    )
    (section,) = [s for s in data["sections"] if s["key"] == "newsletter_deliveries"]
    assert section["entries"][0]["title"] == "Juni-Ausgabe (Haus der Wirtschaft: Neues im Juni)"
    assert "{{" not in json.dumps(data, ensure_ascii=False)


def test_the_report_warns_the_admin_while_the_controller_is_still_the_placeholder(
    client_as, db_session
):
    """The copy for the person said "(Name und Anschrift bitte in der Verwaltung eintragen)"."""
    participant = factories.make_participant(db_session, first_name="Halina", last_name=LAST)
    db_session.commit()
    admin = client_as("admin")
    url = f"/datenschutz/auskunft/bericht?r=participant:{participant.id}"
    root = lxml.html.fromstring(admin.get(url).get_data(as_text=True))
    (warning,) = root.xpath('//*[@id="controller-missing"]')
    assert "no-print" in warning.get("class")
    assert warning.xpath(".//a/@href") == ["/datenschutz/auskunft/texte"]
    form = lxml.html.fromstring(admin.get("/datenschutz/auskunft/texte").get_data(as_text=True))
    texts = {t.get("name"): (t.text or "") for t in form.iter("textarea")}
    texts["controller"] = "Netzwerk Integration e. V., Breiter Weg 1, 39104 Magdeburg."
    assert admin.post("/datenschutz/auskunft/texte", data=texts).status_code == 302
    page = admin.get(url).get_data(as_text=True)
    assert 'id="controller-missing"' not in page
    assert "Breiter Weg 1" in page


def test_back_from_the_report_leads_to_the_same_matches(client_as, db_session):
    participant = factories.make_participant(db_session, first_name="Halina", last_name=LAST)
    db_session.commit()
    admin = client_as("admin")
    html = admin.get(
        f"/datenschutz/auskunft/bericht?q=Halina&r=participant:{participant.id}"
    ).get_data(as_text=True)
    (back,) = lxml.html.fromstring(html).xpath('//*[@id="back-to-lookup"]/@href')
    assert back == "/datenschutz/auskunft?q=Halina"
    assert LAST in admin.get(back).get_data(as_text=True)
