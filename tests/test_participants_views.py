"""Participant pages: access matrix (404 across offices, 403 for staff/read-only, no names
anywhere for them), view logging, sessions through the pages, referrals, checklist, warnings."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.dashboard.weeks import local_date
from crm.database import utcnow
from crm.participants import service
from crm.participants.models import CounsellingSession, Participant, Referral
from tests import factories
from tests.factories import make_participant, make_partner

UNIQUE = "Zyxwuvanowska"


@pytest.fixture
def office(db_session):
    return factories.make_office(db_session)


@pytest.fixture
def counsellor(client_as, office):
    return client_as("counsellor", office=office)


@pytest.fixture
def mine(db_session, counsellor, office):
    p = make_participant(
        db_session, office=office, counsellor=counsellor.user, last_name=UNIQUE, first_name="Olena"
    )
    db_session.commit()
    return p


def participant_routes(p, db_session) -> list[tuple[str, str]]:
    cs = service.add_session(db_session, p, held_on=date(2026, 1, 5), minutes=60)
    partner = make_partner(db_session)
    release = service.add_release(db_session, p, organisation=partner, granted_on=date(2026, 1, 1))
    referral = service.create_referral(
        db_session, p, organisation=partner, referred_on=date(2026, 1, 2), direction="to"
    )
    item = service.checklist(db_session, p)[0]
    db_session.commit()
    base = f"/teilnehmende/{p.id}"
    return [
        ("GET", base),
        ("GET", f"{base}/bearbeiten"),
        ("POST", f"{base}/bearbeiten"),
        ("POST", f"{base}/termine"),
        ("GET", f"{base}/termine/{cs.id}"),
        ("POST", f"{base}/termine/{cs.id}"),
        ("POST", f"{base}/termine/{cs.id}/loeschen"),
        ("GET", f"{base}/austritt"),
        ("POST", f"{base}/austritt"),
        ("POST", f"{base}/austritt/zuruecknehmen"),
        ("POST", f"{base}/freigaben"),
        ("POST", f"{base}/freigaben/{release.id}/widerrufen"),
        ("POST", f"{base}/ueberweisungen"),
        ("POST", f"{base}/ueberweisungen/{referral.id}/status"),
        ("POST", f"{base}/unterstuetzung/{item.id}"),
    ]


def test_a_counsellor_of_another_office_gets_404_on_every_participant_route(
    client_as, db_session, mine
):
    other = client_as("counsellor", office=factories.make_office(db_session))
    routes = participant_routes(mine, db_session)
    for method, url in routes:
        response = other.open(url, method=method, data={})
        assert response.status_code == 404, (method, url)
    missing = other.get("/teilnehmende/999999")
    assert missing.status_code == 404
    # Nothing changed through the refused requests.
    db_session.expire_all()
    assert (
        db_session.scalar(
            sa.select(sa.func.count(CounsellingSession.id)).where(
                CounsellingSession.participant_id == mine.id
            )
        )
        == 1
    )


def test_another_office_does_not_see_the_participant_in_list_or_search(client_as, db_session, mine):
    other = client_as("counsellor", office=factories.make_office(db_session))
    for url in ("/teilnehmende/", "/teilnehmende/?q=zyxwuvano", "/teilnehmende/offene-punkte"):
        page = other.get(url)
        assert page.status_code == 200
        assert UNIQUE not in page.get_data(as_text=True)


def test_the_own_office_and_leads_find_the_participant_by_name(client_as, counsellor, mine):
    for client in (counsellor, client_as("lead"), client_as("admin")):
        page = client.get("/teilnehmende/?q=zyxwuvan")
        assert f'data-participant-id="{mine.id}"' in page.get_data(as_text=True)
        assert client.get(f"/teilnehmende/{mine.id}").status_code == 200


@pytest.mark.parametrize("role", ["staff", "readonly"])
def test_staff_and_read_only_get_403_everywhere_and_see_no_names(client_as, db_session, mine, role):
    user = client_as(role, office=mine.office)
    routes = [
        ("GET", "/teilnehmende/"),
        ("GET", "/teilnehmende/neu"),
        ("POST", "/teilnehmende/neu"),
    ]
    routes += [("GET", "/teilnehmende/offene-punkte")] + participant_routes(mine, db_session)
    for method, url in routes:
        assert user.open(url, method=method, data={}).status_code == 403, (method, url)
    # Pages they may see never mention the participant.
    for url in (
        "/",
        "/kontakte/",
        "/kontakte/personen?q=zyxwuvano",
        "/kontakte/organisationen?q=zyxwuvano",
        "/wiedervorlagen/",
    ):
        page = user.get(url)
        assert page.status_code in (200, 302), url
        assert UNIQUE not in page.get_data(as_text=True), url
    nav = user.get("/kontakte/").get_data(as_text=True)
    assert 'href="/teilnehmende/"' not in nav


def test_every_view_of_a_record_is_logged_with_who_and_when(db_session, counsellor, mine):
    def views():
        return db_session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == "view",
                AuditEntry.entity_type == "participant",
                AuditEntry.entity_id == mine.id,
            )
        ).all()

    assert views() == []
    counsellor.get(f"/teilnehmende/{mine.id}")
    counsellor.get(f"/teilnehmende/{mine.id}")
    counsellor.get(f"/teilnehmende/{mine.id}/bearbeiten")
    entries = views()
    assert len(entries) == 3
    assert {e.actor_id for e in entries} == {counsellor.user.id}
    assert all(e.at is not None for e in entries)
    assert UNIQUE not in " ".join(e.summary for e in entries)


def test_creating_a_participant_through_the_form(db_session, counsellor, office):
    response = counsellor.post(
        "/teilnehmende/neu",
        data={
            "first_name": "Rahul",
            "last_name": "Menon",
            "country_of_origin": "Indien",
            "profession": "IT-Systemadministrator",
            "recognition_status": "in_progress",
            "language_level": "B1",
            "gender": "",
            "office_id": office.id,
            "counsellor_id": counsellor.user.id,
            "acquisition_channel": "job_fair",
            "first_contact_on": "2026-02-03",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    p = db_session.scalar(sa.select(Participant).where(Participant.last_name == "Menon"))
    assert p.office_id == office.id
    assert p.acquisition_channel == "job_fair"
    assert len(service.checklist(db_session, p)) == 10


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("turkey", "Türkei"), ("Tuerkei", "Türkei"), (" SY ", "Syrien"), ("Kurdistan", "Kurdistan")],
)
def test_a_known_country_of_origin_is_stored_under_one_name_for_the_reports(
    db_session, counsellor, office, typed, stored
):
    response = counsellor.post(
        "/teilnehmende/neu",
        data={
            "last_name": "Zyxherkunft",
            "country_of_origin": typed,
            "gender": "",
            "language_level": "",
            "office_id": office.id,
            "counsellor_id": counsellor.user.id,
            "recognition_status": "not_started",
            "acquisition_channel": "other",
            "first_contact_on": "2026-02-03",
        },
    )
    assert response.status_code == 302
    p = db_session.scalar(sa.select(Participant).where(Participant.last_name == "Zyxherkunft"))
    assert p.country_of_origin == stored


def test_the_country_of_origin_offers_the_country_names_to_pick(counsellor):
    html = counsellor.get("/teilnehmende/neu").get_data(as_text=True)
    assert 'list="countries-of-origin"' in html
    assert '<datalist id="countries-of-origin">' in html
    assert '<option value="Afghanistan"></option>' in html
    assert '<option value="Türkei"></option>' in html


def test_a_year_of_birth_in_the_future_is_refused_with_the_input_kept(
    db_session, frozen_time, counsellor, office
):
    response = counsellor.post(
        "/teilnehmende/neu",
        data={
            "first_name": "Zukunft",
            "last_name": "Tippfehler",
            "birth_year": "2090",
            "office_id": office.id,
            "counsellor_id": counsellor.user.id,
            "recognition_status": "not_started",
            "acquisition_channel": "other",
            "first_contact_on": "2026-02-03",
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Das Geburtsjahr darf nicht in der Zukunft liegen." in html
    assert 'value="Tippfehler"' in html
    assert (
        db_session.scalar(sa.select(Participant).where(Participant.last_name == "Tippfehler"))
        is None
    )


def test_a_counsellor_cannot_create_a_participant_in_another_office(db_session, counsellor, office):
    elsewhere = factories.make_office(db_session)
    db_session.commit()
    response = counsellor.post(
        "/teilnehmende/neu",
        data={
            "last_name": "Anderswo",
            "office_id": elsewhere.id,
            "counsellor_id": counsellor.user.id,
            "recognition_status": "not_started",
            "acquisition_channel": "other",
            "first_contact_on": "2026-02-03",
        },
    )
    assert response.status_code == 400
    assert (
        db_session.scalar(sa.select(Participant).where(Participant.last_name == "Anderswo")) is None
    )


def test_a_session_in_the_future_is_refused_and_counts_no_hours(
    db_session, frozen_time, counsellor, mine
):
    """Hours not yet given must not bring the entry (8 hours) forward or into the future."""
    url = f"/teilnehmende/{mine.id}/termine"
    response = counsellor.post(
        url,
        data={"session-held_on": "2026-11-22", "session-minutes": "9:00", "session-note": "Plan"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "dieses Datum liegt in der Zukunft" in html
    assert 'value="9:00"' in html
    assert "Plan</textarea>" in html
    db_session.expire_all()
    assert mine.total_minutes == 0
    assert mine.entry_on is None
    # Today's session is fine; moving it to tomorrow is refused like adding one.
    counsellor.post(url, data={"session-held_on": "2026-11-21", "session-minutes": "9:00"})
    db_session.expire_all()
    assert mine.entry_on == date(2026, 11, 21)
    edit = counsellor.post(
        f"{url}/{mine.sessions[0].id}", data={"held_on": "2026-11-22", "minutes": "9:00"}
    )
    assert edit.status_code == 400
    db_session.expire_all()
    assert mine.entry_on == date(2026, 11, 21)


def test_sessions_through_the_page_set_move_and_remove_the_entry(db_session, counsellor, mine):
    url = f"/teilnehmende/{mine.id}/termine"
    counsellor.post(url, data={"session-held_on": "2026-03-02", "session-minutes": "240"})
    counsellor.post(url, data={"session-held_on": "2026-03-09", "session-minutes": "240"})
    db_session.expire_all()
    assert mine.entry_on is None
    counsellor.post(url, data={"session-held_on": "2026-03-16", "session-minutes": "1"})
    db_session.expire_all()
    assert mine.entry_on == date(2026, 3, 16)
    page = counsellor.get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    assert 'data-entry-on="2026-03-16"' in page
    assert "16.03.2026" in page
    first = mine.sessions[0]
    counsellor.post(f"{url}/{first.id}", data={"held_on": "2026-03-02", "minutes": "241"})
    db_session.expire_all()
    assert mine.entry_on == date(2026, 3, 9)
    counsellor.post(f"{url}/{first.id}/loeschen")
    db_session.expire_all()
    assert mine.entry_on is None
    assert mine.total_minutes == 241


def test_a_referral_without_release_is_refused_on_the_page_and_allowed_with_one(
    db_session, counsellor, mine
):
    partner = make_partner(db_session, "Anerkennungsstelle Quxland")
    db_session.commit()
    data = {
        "referral-organisation": partner.name,
        "referral-referred_on": "2026-04-01",
        "referral-direction": "to",
        "referral-status": "sent",
        "referral-purpose": "Anerkennungsberatung",
    }
    refused = counsellor.post(f"/teilnehmende/{mine.id}/ueberweisungen", data=data)
    assert refused.status_code == 400
    assert 'id="referral-error"' in refused.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count(Referral.id))) == 0
    counsellor.post(
        f"/teilnehmende/{mine.id}/freigaben",
        data={
            "release-organisation": partner.name,
            "release-granted_on": "2026-03-01",
            "release-expires_on": "2027-02-28",
            "release-scope": "Zeugnisse und Kontaktdaten",
        },
    )
    allowed = counsellor.post(f"/teilnehmende/{mine.id}/ueberweisungen", data=data)
    assert allowed.status_code == 302
    assert db_session.scalar(sa.select(sa.func.count(Referral.id))) == 1


def test_the_checklist_saves_an_item_and_shows_the_progress(db_session, counsellor, mine):
    item = service.checklist(db_session, mine)[0]
    db_session.commit()
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/unterstuetzung/{item.id}",
        data={f"item{item.id}-status": "done", f"item{item.id}-due_on": "2026-05-01"},
    )
    assert response.status_code == 302
    page = counsellor.get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    assert '<progress id="support-progress" class="w-100 mb-3" max="10" value="1">' in page
    db_session.expire_all()
    assert item.status == "done"


def test_deadline_warnings_show_on_list_and_detail(db_session, frozen_time, counsellor, mine):
    # frozen_time before the login: a session cookie signed after the frozen moment counts
    # as from the future (itsdangerous refuses it), which logged the client out once the
    # real clock passed 21.11.2026 09:00.
    service.add_session(db_session, mine, held_on=date(2026, 9, 1), minutes=500)
    db_session.commit()
    listing = counsellor.get("/teilnehmende/?status=warnings").get_data(as_text=True)
    assert f'data-participant-id="{mine.id}"' in listing
    assert 'data-kind="entry_incomplete"' in listing
    detail = counsellor.get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    assert 'id="deadline-warnings"' in detail


def test_exit_form_records_exit_and_outcome(db_session, counsellor, mine):
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/austritt",
        data={"exit_on": "2026-06-30", "exit_outcome": "employment"},
    )
    assert response.status_code == 302
    db_session.expire_all()
    assert (mine.exit_on, mine.exit_outcome) == (date(2026, 6, 30), "employment")
    listing = counsellor.get("/teilnehmende/?status=exited").get_data(as_text=True)
    assert f'data-participant-id="{mine.id}"' in listing


def test_a_future_exit_is_refused_with_the_way_to_plan_it_and_keeps_the_input(
    db_session, counsellor, mine
):
    tomorrow = local_date(utcnow()) + timedelta(days=1)
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/austritt",
        data={
            "exit_on": tomorrow.isoformat(),
            "exit_outcome": "employment",
            "exit_note": "Zyxexitnote",
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "dieses Datum liegt in der Zukunft" in html
    assert "geplanten Übergang" in html
    assert "Zyxexitnote" in html
    db_session.expire_all()
    assert mine.exit_on is None


def test_the_list_page_runs_a_constant_number_of_queries(
    db_session, client_as, office, count_queries
):
    lead = client_as("lead")
    for _ in range(3):
        make_participant(db_session, office=office)
    db_session.commit()
    counts = []

    def count_page():
        with count_queries() as statements:
            assert lead.get("/teilnehmende/").status_code == 200
        assert statements, "the page ran no query: the counter is not listening"
        return len(statements)

    counts.append(count_page())
    for _ in range(5):
        make_participant(db_session, office=office)
    db_session.commit()
    counts.append(count_page())
    assert counts[0] == counts[1]


# --- the funder report's breakdown filters --------------------------------------------------------

REPORT_PERIOD = "kennzahl=beraten&von=2026-03-01&bis=2026-03-31"


def _listed_ids(page: str) -> set[int]:
    return {int(i) for i in re.findall(r'data-participant-id="(\d+)"', page)}


@pytest.fixture
def breakdown(db_session, office):
    """Three participants counselled in March 2026 who differ in every breakdown."""
    referrer = make_partner(db_session, name="Jobcenter Zyx")
    common = {"office": office, "sessions": ((date(2026, 3, 10), 60),)}
    people = {
        "syrian": make_participant(
            db_session,
            gender="female",
            country_of_origin="Côte d'Ivoire",
            acquisition_channel="job_fair",
            recognition_status="partial",
            birth_year=1990,
            referrer=referrer,
            **common,
        ),
        "unstated": make_participant(db_session, country_of_origin="", **common),
        "other": make_participant(
            db_session, gender="male", country_of_origin="Ukraine", birth_year=1960, **common
        ),
    }
    db_session.commit()
    return {"referrer": referrer, **people}


def test_the_reports_breakdown_filters_narrow_the_list_and_show_as_removable_chips(
    client_as, breakdown
):
    lead = client_as("lead")
    one = breakdown["syrian"].id
    referrer = breakdown["referrer"].id
    for query in (
        "geschlecht=female",
        "herkunft=C%C3%B4te+d%27Ivoire",
        "kanal=job_fair",
        f"zuweiser={referrer}",
        "anerkennung=partial",
        "altersgruppe=35-44",
    ):
        page = lead.get(f"/teilnehmende/?{REPORT_PERIOD}&{query}").get_data(as_text=True)
        assert _listed_ids(page) == {one}, query
        assert 'id="filter-chips"' in page, query
    page = lead.get(f"/teilnehmende/?{REPORT_PERIOD}&zuweiser={referrer}").get_data(as_text=True)
    assert "Jobcenter Zyx" in page
    # "Not stated": the report's row without a value.
    page = lead.get(f"/teilnehmende/?{REPORT_PERIOD}&ohne_angabe=herkunft").get_data(as_text=True)
    assert _listed_ids(page) == {breakdown["unstated"].id}
    page = lead.get(f"/teilnehmende/?{REPORT_PERIOD}&ohne_angabe=geschlecht&ohne_angabe=zuweiser")
    assert _listed_ids(page.get_data(as_text=True)) == {breakdown["unstated"].id}
    # A chip's link removes its filter and keeps the others.
    page = lead.get(f"/teilnehmende/?{REPORT_PERIOD}&geschlecht=male&kanal=other")
    chips = dict(
        re.findall(r'filter-chip">([^:<]+):.*?href="([^"]+)"', page.get_data(as_text=True), re.S)
    )
    assert set(chips) == {"Geschlecht", "Zugangsweg"}
    remove_gender = unescape(chips["Geschlecht"])
    assert "geschlecht" not in remove_gender
    assert "kanal=other" in remove_gender
    without_gender = lead.get(remove_gender).get_data(as_text=True)
    assert _listed_ids(without_gender) == {breakdown["unstated"].id, breakdown["other"].id}


@pytest.mark.parametrize(
    "query",
    [
        "geschlecht=xyz",
        "herkunft=" + "x" * 81,
        "zuweiser=-1",
        "zuweiser=99999999999999999999",
        "kanal=",
        "ohne_angabe=unbekannt",
        # The age group needs a period: it is the age in the year of entry.
        "altersgruppe=35-44",
        "kennzahl=beraten&von=2026-03-01&bis=2026-03-31&altersgruppe=99",
        "verbleib=employment",
    ],
)
def test_bad_breakdown_filters_are_ignored_without_an_error(client_as, breakdown, query):
    page = client_as("lead").get(f"/teilnehmende/?{query}")
    assert page.status_code == 200
    assert _listed_ids(page.get_data(as_text=True)) >= {breakdown["syrian"].id}


def test_pagination_the_filter_form_and_the_bulk_form_keep_the_report_filters(
    client_as, breakdown, monkeypatch
):
    from crm.participants import views

    monkeypatch.setattr(views, "PER_PAGE", 1)
    query = f"{REPORT_PERIOD}&ohne_angabe=zuweiser&anerkennung=not_started"
    page = client_as("lead").get(f"/teilnehmende/?{query}").get_data(as_text=True)
    assert "Seite 1 von 2" in page
    next_page = unescape(re.search(r'href="([^"]*seite=2[^"]*)"', page).group(1))
    for kept in ("kennzahl=beraten", "ohne_angabe=zuweiser", "anerkennung=not_started"):
        assert kept in next_page
        assert kept in unescape(re.search(r'name="filter" value="([^"]+)"', page).group(1))
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    assert ("ohne_angabe", "zuweiser") in hidden
    assert ("anerkennung", "not_started") in hidden


def test_the_list_with_every_report_filter_runs_a_constant_number_of_queries(
    db_session, client_as, office, breakdown, count_queries
):
    lead = client_as("lead")
    url = (
        f"/teilnehmende/?{REPORT_PERIOD}&geschlecht=female&kanal=job_fair"
        f"&zuweiser={breakdown['referrer'].id}&anerkennung=partial&altersgruppe=35-44"
        "&herkunft=C%C3%B4te+d%27Ivoire&ohne_angabe=geschlecht"
    )

    def count_page():
        with count_queries() as statements:
            assert lead.get(url).status_code == 200
        return len(statements)

    first = count_page()
    for _ in range(4):
        make_participant(
            db_session,
            office=office,
            sessions=((date(2026, 3, 12), 60),),
            acquisition_channel="job_fair",
            recognition_status="partial",
            birth_year=1991,
            country_of_origin="Côte d'Ivoire",
            referrer=breakdown["referrer"],
        )
    db_session.commit()
    assert count_page() == first


def test_the_list_from_the_report_says_how_many_erased_records_the_report_counts(
    client_as, db_session, breakdown
):
    from crm.database import utcnow

    breakdown["other"].erased_at = utcnow()
    db_session.commit()
    page = client_as("lead").get(f"/teilnehmende/?{REPORT_PERIOD}").get_data(as_text=True)
    assert breakdown["other"].id not in _listed_ids(page)
    assert re.search(r'id="erased-note">1 gelöscht', page)
    # Without the report's period, nothing is said about erased records.
    assert 'id="erased-note"' not in client_as("lead").get("/teilnehmende/").get_data(True)


def test_the_list_shows_a_team_s_participants_close_to_entry(client_as, db_session, office):
    lead = client_as("lead", office=office)
    counsellor = factories.make_user(db_session, role="counsellor", office=office)
    near = make_participant(db_session, office=office, counsellor=counsellor, last_name="Nahe")
    far = make_participant(db_session, office=office, counsellor=counsellor, last_name="Fern")
    entered = make_participant(db_session, office=office, counsellor=counsellor, last_name="Drin")
    service.add_session(db_session, near, held_on=date(2026, 3, 2), minutes=450)
    service.add_session(db_session, far, held_on=date(2026, 3, 2), minutes=300)
    service.add_session(db_session, entered, held_on=date(2026, 3, 2), minutes=500)
    db_session.commit()
    page = lead.get(f"/teilnehmende/?status=near_entry&beratung={counsellor.id}").get_data(
        as_text=True
    )
    assert f'data-participant-id="{near.id}"' in page
    assert f'data-participant-id="{far.id}"' not in page
    assert f'data-participant-id="{entered.id}"' not in page
    assert '<option value="near_entry" selected>' in page


def test_an_empty_participant_list_says_what_to_do_first(counsellor):
    page = counsellor.get("/teilnehmende/").get_data(as_text=True)
    empty = page.split('id="participants-empty"')[1].split("</div>")[0]
    assert "Noch keine Teilnehmenden." in empty
    assert 'href="/teilnehmende/neu"' in empty
    # A search without hits is not an empty install: it just says so.
    page = counsellor.get("/teilnehmende/?q=Niemand").get_data(as_text=True)
    assert "Keine Teilnehmenden gefunden." in page
    assert 'id="participants-empty"' not in page


def test_an_admin_without_any_office_is_sent_to_the_setup_from_the_participant_list(
    admin_client,
):
    page = admin_client.get("/teilnehmende/").get_data(as_text=True)
    empty = page.split('id="participants-empty"')[1].split("</div>")[0]
    assert 'href="/verwaltung/ersteinrichtung"' in empty
    assert "/teilnehmende/neu" not in empty
