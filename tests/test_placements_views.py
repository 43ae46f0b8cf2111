"""Placement pages: permissions (staff and read-only get 403, another office 404), CSRF, the
forms keeping what was typed, the firm's page, the need's suggestions and the exit's placement."""

from __future__ import annotations

import re
from datetime import date

import lxml.html
import pytest
import sqlalchemy as sa

from crm.contacts import service as contacts
from crm.participants import service as participants
from crm.placements import service
from crm.placements.models import Placement
from tests import factories
from tests.factories import make_org, make_participant

UNIQUE = "Zyxplacewa"


@pytest.fixture
def office(db_session):
    return factories.make_office(db_session)


@pytest.fixture
def counsellor(client_as, office):
    return client_as("counsellor", office=office)


@pytest.fixture
def setup(db_session, counsellor, office):
    firm = make_org(db_session, name="Klinikum Zyx")
    p = make_participant(
        db_session,
        office=office,
        counsellor=counsellor.user,
        last_name=UNIQUE,
        profession="Pflegefachkraft",
    )
    participants.add_release(
        db_session, p, organisation=firm, granted_on=date(2026, 1, 10), scope="Vermittlung"
    )
    need = contacts.add_need(
        db_session, firm, occupation="Pflegefachkraft", count=2, surveyed_on=date(2026, 1, 5)
    )
    pl = service.save_placement(
        db_session,
        p,
        organisation=firm,
        kind="internship",
        status="active",
        starts_on=date(2026, 2, 1),
        ends_on=date(2026, 3, 31),
        today=date(2026, 1, 20),
    )
    db_session.commit()
    return {"firm": firm, "p": p, "need": need, "pl": pl}


def routes(s) -> list[tuple[str, str]]:
    return [
        ("GET", "/teilnehmende/vermittlungen/"),
        ("GET", f"/teilnehmende/vermittlungen/neu/{s['p'].id}"),
        ("POST", f"/teilnehmende/vermittlungen/neu/{s['p'].id}"),
        ("GET", f"/teilnehmende/vermittlungen/{s['pl'].id}/bearbeiten"),
        ("POST", f"/teilnehmende/vermittlungen/{s['pl'].id}/bearbeiten"),
        ("GET", f"/teilnehmende/vermittlungen/bedarf/{s['need'].id}"),
        ("POST", f"/teilnehmende/vermittlungen/bedarf/{s['need'].id}/vermitteln"),
    ]


@pytest.mark.parametrize("role", ["staff", "readonly"])
def test_staff_and_read_only_get_403_on_every_placement_page(client_as, setup, role):
    user = client_as(role)
    for method, url in routes(setup):
        assert user.open(url, method=method, data={}).status_code == 403, (method, url)


def test_staff_see_the_firm_page_without_placements_or_matching(client_as, setup):
    page = client_as("staff").get(f"/kontakte/organisationen/{setup['firm'].id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert UNIQUE not in html
    assert 'id="org-placements"' not in html
    assert "/vermittlungen/bedarf/" not in html


def test_another_offices_counsellor_gets_404_and_sees_the_placement_only_counted(
    client_as, setup, db_session
):
    other = client_as("counsellor", office=factories.make_office(db_session))
    assert other.get(f"/teilnehmende/vermittlungen/{setup['pl'].id}/bearbeiten").status_code == 404
    assert other.get(f"/teilnehmende/vermittlungen/neu/{setup['p'].id}").status_code == 404
    html = other.get(f"/kontakte/organisationen/{setup['firm'].id}").get_data(as_text=True)
    assert UNIQUE not in html
    assert 'id="hidden-placements"' in html
    matches = other.get(f"/teilnehmende/vermittlungen/bedarf/{setup['need'].id}")
    assert UNIQUE not in matches.get_data(as_text=True)
    listing = other.get("/teilnehmende/vermittlungen/")
    assert UNIQUE not in listing.get_data(as_text=True)


def test_posts_without_a_csrf_token_are_refused(counsellor, setup, db_session):
    before = db_session.scalar(sa.select(sa.func.count(Placement.id)))
    for method, url in routes(setup):
        if method == "POST":
            response = counsellor.post(url, data={"participant_id": setup["p"].id}, csrf=False)
            assert response.status_code == 400, url
    assert db_session.scalar(sa.select(sa.func.count(Placement.id))) == before


def test_the_counsellor_adds_a_placement_and_an_internship_without_end_keeps_the_input(
    counsellor, setup, db_session
):
    url = f"/teilnehmende/vermittlungen/neu/{setup['p'].id}"
    data = {
        "organisation": "Klinikum Zyx",
        "organisation_id": "",
        "need_id": "",
        "kind": "internship",
        "status": "planned",
        "starts_on": "2026-04-01",
        "ends_on": "",
        "note": "Probearbeit Zyxnote",
    }
    response = counsellor.post(url, data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Zyxnote" in html
    assert "Klinikum Zyx" in html
    # The missing end is named at the end field, not as a vague error at the kind.
    doc = lxml.html.fromstring(html)
    assert (
        "Ein Praktikum braucht sein Enddatum."
        in doc.get_element_by_id("ends_on-errors").text_content()
    )
    assert not doc.xpath('//*[@id="kind-errors"]')
    response = counsellor.post(url, data={**data, "ends_on": "2026-05-31"})
    assert response.status_code == 302
    pl = db_session.scalar(sa.select(Placement).where(Placement.note == "Probearbeit Zyxnote"))
    assert (pl.kind, pl.ends_on, pl.organisation_id) == (
        "internship",
        date(2026, 5, 31),
        setup["firm"].id,
    )
    assert pl.followup_id is not None


def test_the_release_link_of_a_fitting_need_opens_the_release_form_with_the_firm(
    counsellor, setup, db_session
):
    other = make_org(db_session, name="Pflegeheim Zyxrelease")
    db_session.commit()
    html = counsellor.get(f"/teilnehmende/{setup['p'].id}?freigabe_fuer={other.id}").get_data(
        as_text=True
    )
    doc = lxml.html.fromstring(html)
    form = doc.get_element_by_id("release-organisation").getparent().getparent()
    assert form.getparent().tag == "details"
    assert form.getparent().get("open") is not None
    assert doc.get_element_by_id("release-organisation").get("value") == "Pflegeheim Zyxrelease"
    assert doc.get_element_by_id("release-organisation_id").get("value") == str(other.id)


def test_the_release_form_asks_for_the_firm_or_partner_it_names(counsellor, setup):
    """Releases mostly name the employer; the field was labelled "Partner" only."""
    html = counsellor.get(f"/teilnehmende/{setup['p'].id}").get_data(as_text=True)
    doc = lxml.html.fromstring(html)
    label = doc.xpath('//label[@for="release-organisation"]')[0].text_content()
    assert label == "Unternehmen oder Partner"


@pytest.mark.parametrize("bad", ["3000000000", "x", "-1", "0", ""])
def test_a_bad_release_link_shows_the_page_with_the_release_form_closed(counsellor, setup, bad):
    response = counsellor.get(f"/teilnehmende/{setup['p'].id}?freigabe_fuer={bad}")
    assert response.status_code == 200
    doc = lxml.html.fromstring(response.get_data(as_text=True))
    assert doc.get_element_by_id("release-organisation").get("value") == ""


@pytest.mark.parametrize("bad", ["3000000000", "x", "-1", "2026-13-01"])
def test_bad_input_on_the_forms_and_filters_never_gives_500(counsellor, setup, bad):
    url = f"/teilnehmende/vermittlungen/neu/{setup['p'].id}"
    data = {
        "organisation": bad,
        "organisation_id": bad,
        "need_id": bad,
        "kind": bad,
        "status": bad,
        "starts_on": bad,
        "ends_on": bad,
    }
    assert counsellor.post(url, data=data).status_code == 400
    for arg in ("art", "status", "geschaeftsstelle", "von", "bis", "seite"):
        assert counsellor.get(f"/teilnehmende/vermittlungen/?{arg}={bad}").status_code == 200
    response = counsellor.post(
        f"/teilnehmende/vermittlungen/bedarf/{setup['need'].id}/vermitteln",
        data={"participant_id": bad},
    )
    assert response.status_code in (302, 400, 404)


def test_the_need_page_suggests_the_participant_and_one_click_plans_the_placement(
    counsellor, setup, db_session
):
    page = counsellor.get(f"/teilnehmende/vermittlungen/bedarf/{setup['need'].id}")
    html = page.get_data(as_text=True)
    assert UNIQUE in html
    assert "Pflegefachkraft" in html
    response = counsellor.post(
        f"/teilnehmende/vermittlungen/bedarf/{setup['need'].id}/vermitteln",
        data={"participant_id": setup["p"].id},
    )
    assert response.status_code == 302
    pl = db_session.scalar(sa.select(Placement).where(Placement.need_id == setup["need"].id))
    assert (pl.participant_id, pl.status) == (setup["p"].id, "planned")


def test_the_participant_page_shows_placements_and_fitting_needs(counsellor, setup):
    html = counsellor.get(f"/teilnehmende/{setup['p'].id}").get_data(as_text=True)
    assert f'data-placement-id="{setup["pl"].id}"' in html
    assert 'id="fitting-needs"' in html
    # The same label as in the placement form's need select.
    assert "Pflegefachkraft · 2 Personen · erfasst 05.01.2026" in html


def test_each_fitting_need_on_the_participant_page_offers_the_next_step(
    counsellor, setup, db_session
):
    """With a release for the firm: plan the placement; without one: record the release."""
    other = make_org(db_session, name="Pflegeheim Zyx")
    unreleased = contacts.add_need(
        db_session, other, occupation="Pflegefachkraft", count=1, surveyed_on=date(2026, 1, 5)
    )
    db_session.commit()
    html = counsellor.get(f"/teilnehmende/{setup['p'].id}").get_data(as_text=True)
    fitting = html.split('id="fitting-needs"', 1)[1].split("</ul>", 1)[0]
    assert f'action="/teilnehmende/vermittlungen/bedarf/{setup["need"].id}/vermitteln"' in fitting
    assert f'action="/teilnehmende/vermittlungen/bedarf/{unreleased.id}/vermitteln"' not in fitting
    release_link = f"/teilnehmende/{setup['p'].id}?freigabe_fuer={other.id}#freigaben"
    assert f'href="{release_link}"' in fitting

    response = counsellor.post(
        f"/teilnehmende/vermittlungen/bedarf/{setup['need'].id}/vermitteln",
        data={"participant_id": str(setup["p"].id)},
    )
    assert response.status_code == 302
    assert db_session.scalar(
        sa.select(Placement).where(
            Placement.participant_id == setup["p"].id, Placement.need_id == setup["need"].id
        )
    )


def test_the_exit_form_names_the_placement(counsellor, setup, db_session):
    url = f"/teilnehmende/{setup['p'].id}/austritt"
    assert f'value="{setup["pl"].id}"' in counsellor.get(url).get_data(as_text=True)
    response = counsellor.post(
        url,
        data={
            "exit_on": "2026-04-01",
            "exit_outcome": "employment",
            "exit_placement_id": str(setup["pl"].id),
            "exit_note": "",
        },
    )
    assert response.status_code == 302
    db_session.expire_all()
    assert (
        participants.get_participant(db_session, counsellor.user, setup["p"].id).exit_placement_id
        == setup["pl"].id
    )


def test_the_exit_form_of_a_participant_without_placements_links_to_adding_one(
    counsellor, office, db_session
):
    """An exit into work names its placement: without one, the form says how to add it."""
    p = make_participant(db_session, office=office, counsellor=counsellor.user)
    db_session.commit()
    html = counsellor.get(f"/teilnehmende/{p.id}/austritt").get_data(as_text=True)
    assert 'id="exit_placement_id"' not in html
    assert f'href="/teilnehmende/vermittlungen/neu/{p.id}"' in html
    assert "Noch keine Vermittlung erfasst" in html


# --- lasting support ----------------------------------------------------------------------------


def test_the_firms_checklist_is_saved_and_shown_and_bad_input_keeps_what_was_typed(
    client_as, setup, db_session
):
    from crm.placements.models import FirmSupport

    contact = factories.make_person(
        db_session, first_name="Frau", last_name="Zyxonboard", org=setup["firm"]
    )
    db_session.commit()
    staff = client_as("staff")
    url = f"/teilnehmende/vermittlungen/unternehmen/{setup['firm'].id}/begleitung"
    picked = {
        "firm-onboarding_person": "Frau Zyxonboard",
        "firm-onboarding_person_id": str(contact.id),
    }
    bad = staff.post(
        url, data={"firm-training_status": "planned", "firm-training_on": "2026-13-45", **picked}
    )
    assert bad.status_code == 400
    assert "Zyxonboard" in bad.get_data(as_text=True)
    ok = staff.post(
        url, data={"firm-training_status": "held", "firm-training_on": "2026-05-04", **picked}
    )
    assert ok.status_code == 302
    row = db_session.scalar(sa.select(FirmSupport))
    assert (row.training_status, row.training_on) == ("held", date(2026, 5, 4))
    assert row.onboarding_person_id == contact.id
    html = staff.get(f"/kontakte/organisationen/{setup['firm'].id}").get_data(as_text=True)
    assert "Zyxonboard" in html
    readonly = client_as("readonly")
    assert readonly.post(url, data={"firm-training_status": "held"}).status_code == 403


def test_a_support_item_gets_a_responsible_person_and_pages_without_the_field_keep_it(
    counsellor, setup, db_session
):
    from crm.participants.models import SupportItem

    item = participants.checklist(db_session, setup["p"])[0]
    url = f"/teilnehmende/{setup['p'].id}/unterstuetzung/{item.id}"
    prefix = f"item{item.id}-"
    data = {f"{prefix}status": "in_progress", f"{prefix}due_on": "2026-06-01"}
    me = str(counsellor.user.id)
    assert counsellor.post(url, data={**data, f"{prefix}responsible_id": me}).status_code == 302
    db_session.expire_all()
    assert db_session.get(SupportItem, item.id).responsible_id == counsellor.user.id
    assert counsellor.post(url, data={**data, "next": "offene-punkte"}).status_code == 302
    db_session.expire_all()
    assert db_session.get(SupportItem, item.id).responsible_id == counsellor.user.id
    stranger = factories.make_user(db_session, role="counsellor")
    db_session.commit()
    counsellor.post(url, data={**data, f"{prefix}responsible_id": str(stranger.id)})
    db_session.expire_all()
    assert db_session.get(SupportItem, item.id).responsible_id is None


@pytest.mark.parametrize(
    "url",
    [
        "/teilnehmende/vermittlungen/",
        "/kontakte/organisationen/{firm}",
        "/teilnehmende/vermittlungen/bedarf/{need}",
        "/teilnehmende/{p}",
    ],
)
def test_the_placement_pages_run_a_constant_number_of_queries(
    db_session, client_as, setup, count_queries, url
):
    lead = client_as("lead")
    firm, need = setup["firm"], setup["need"]
    need.count = 100  # stays open, so the participant page shows it in both rounds
    url = url.format(firm=firm.id, need=need.id, p=setup["p"].id)

    def add(n):
        for _ in range(n):
            p = make_participant(db_session, profession="Pflegefachkraft")
            participants.add_release(
                db_session, p, organisation=firm, granted_on=date(2026, 1, 10), scope="x"
            )
            service.save_placement(
                db_session,
                p,
                organisation=firm,
                kind="internship",
                status="active",
                starts_on=date(2026, 2, 1),
                ends_on=date(2026, 3, 31),
                need=need,
                today=date(2026, 1, 20),
            )
            service.save_placement(
                db_session,
                setup["p"],
                organisation=make_org(db_session),
                kind="job",
                status="planned",
                starts_on=date(2026, 2, 1),
                today=date(2026, 1, 20),
            )
        db_session.commit()

    def count_page():
        with count_queries() as statements:
            assert lead.get(url).status_code == 200
        assert statements
        return len(statements)

    add(1)
    first = count_page()
    add(4)
    assert count_page() == first


def test_the_funder_reports_link_lists_placements_started_in_the_period_and_not_cancelled(
    client_as, setup, db_session
):
    p, firm = setup["p"], setup["firm"]
    # setup's internship started on 1.2. and runs to 31.3.; these start on 1.3. and 1.4.
    for status, starts_on in (("active", date(2026, 3, 1)), ("cancelled", date(2026, 3, 2))):
        db_session.add(
            Placement(
                participant_id=p.id,
                organisation_id=firm.id,
                kind="job",
                status=status,
                starts_on=starts_on,
            )
        )
    db_session.commit()
    lead = client_as("lead")
    running = lead.get("/teilnehmende/vermittlungen/?von=2026-03-01&bis=2026-03-31")
    assert "3 Vermittlungen" in running.get_data(as_text=True)
    started = lead.get(
        "/teilnehmende/vermittlungen/?kennzahl=begonnen&von=2026-03-01&bis=2026-03-31"
    ).get_data(as_text=True)
    assert "1 Vermittlung<" in started
    assert 'id="report-filter"' in started
    assert 'name="kennzahl" value="begonnen"' in started
    job = lead.get(
        "/teilnehmende/vermittlungen/?kennzahl=begonnen&art=internship&von=2026-03-01&bis=2026-03-31"
    )
    assert "0 Vermittlungen" in job.get_data(as_text=True)


def test_the_report_link_says_how_many_placements_of_erased_participants_it_counts(
    client_as, setup, db_session
):
    from crm.database import utcnow

    setup["p"].erased_at = utcnow()
    db_session.commit()
    page = client_as("lead").get(
        "/teilnehmende/vermittlungen/?kennzahl=begonnen&von=2026-02-01&bis=2026-02-28"
    )
    html = page.get_data(as_text=True)
    assert "0 Vermittlungen" in html
    assert re.search(r'id="erased-note">1 Vermittlung gelöschter', html)


def test_the_placement_form_loads_the_picked_firms_needs_without_saving(client_as, db_session):
    firm = make_org(db_session, name="Bedarfsfirma")
    contacts.add_need(
        db_session, firm, occupation="Pflegefachkraft", count=3, surveyed_on=date(2026, 11, 1)
    )
    db_session.commit()
    url = f"/teilnehmende/vermittlungen/bedarfsauswahl?organisation_id={firm.id}"
    options = client_as("counsellor").get(url).get_data(as_text=True)
    assert "Pflegefachkraft · 3 Personen · erfasst 01.11.2026" in options
    assert 'id="need_id"' in options
    # No firm (or a number the database cannot hold): only "none".
    empty = client_as("counsellor").get(
        "/teilnehmende/vermittlungen/bedarfsauswahl?organisation_id=99999999999999999999"
    )
    assert empty.status_code == 200
    assert "Pflegefachkraft" not in empty.get_data(as_text=True)
    assert client_as("readonly").get(url).status_code == 403


def test_two_needs_of_one_occupation_read_differently_wherever_a_need_is_offered(
    client_as, db_session
):
    """Same occupation, same firm: the labels used to be the same ("Pflegefachkraft (2)")."""
    office = factories.make_office(db_session)
    counsellor = client_as("counsellor", office=office)
    firm = make_org(db_session, name="Zwillingsbedarf GmbH")
    now = contacts.add_need(
        db_session,
        firm,
        occupation="Pflegefachkraft",
        count=2,
        time_frame="now",
        surveyed_on=date(2026, 11, 3),
    )
    later = contacts.add_need(
        db_session,
        firm,
        occupation="Pflegefachkraft",
        count=1,
        needed_since=date(2026, 9, 1),
        qualification_level="skilled",
        surveyed_on=date(2026, 6, 2),
    )
    # Alike in every part: only their number tells them apart.
    twins = [
        contacts.add_need(
            db_session, firm, occupation="Helfer/in", count=1, surveyed_on=date(2026, 1, 5)
        )
        for _ in range(2)
    ]
    p = make_participant(db_session, office=office, counsellor=counsellor.user)
    db_session.commit()
    expected = {
        str(now.id): "Pflegefachkraft · 2 Personen · ab sofort · erfasst 03.11.2026",
        str(later.id): "Pflegefachkraft · 1 Person · gesucht seit 01.09.2026"
        " · Berufsabschluss (Fachkraft) · erfasst 02.06.2026",
        **{str(n.id): f"Helfer/in · 1 Person · erfasst 05.01.2026 · Nr. {n.id}" for n in twins},
    }

    def options(html: str) -> dict[str, str]:
        root = lxml.html.fromstring(html)
        return {
            o.get("value"): " ".join(o.text_content().split())
            for o in root.get_element_by_id("need_id").iter("option")
            if o.get("value")
        }

    # The fragment the placement form loads when the firm is picked (htmx) ...
    fragment = counsellor.get(
        f"/teilnehmende/vermittlungen/bedarfsauswahl?organisation_id={firm.id}"
    ).get_data(as_text=True)
    assert options(fragment) == expected
    # ... the full page without JavaScript, once the typed firm is resolved ...
    posted = counsellor.post(
        f"/teilnehmende/vermittlungen/neu/{p.id}",
        data={"organisation": firm.name, "kind": "job", "status": "planned", "starts_on": ""},
    )
    assert posted.status_code == 400
    assert options(posted.get_data(as_text=True)) == expected
    # ... and the edit page of a placement at the firm.
    pl = service.save_placement(
        db_session,
        p,
        organisation=firm,
        kind="job",
        status="planned",
        starts_on=date(2026, 12, 1),
        need=later,
        today=date(2026, 11, 20),
    )
    db_session.commit()
    edit = counsellor.get(f"/teilnehmende/vermittlungen/{pl.id}/bearbeiten")
    assert options(edit.get_data(as_text=True)) == expected
    select = lxml.html.fromstring(edit.get_data(as_text=True)).get_element_by_id("need_id")
    assert select.value == str(later.id)
