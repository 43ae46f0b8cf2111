"""The funder report for any period: figures, breakdowns, XLSX with small-number protection,
saved definitions, permissions and bad periods."""

from __future__ import annotations

import io
import random
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.audit.models import AuditEntry
from crm.contacts.models import QualificationNeed
from crm.dashboard import funder
from crm.dashboard.models import ReportDefinition
from crm.placements.models import Placement
from tests import factories
from tests.dashboard_helpers import entered_on, make_participant, office_and_counsellor

HALF = funder.Period(date(2026, 1, 1), date(2026, 6, 30))
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _data(s):
    """Three participants counselled in the first half of 2026, two outside it."""
    office, counsellor = office_and_counsellor(s, "Förderstelle")
    firm = factories.make_org(s, name="Muster GmbH")
    a = entered_on(
        s,
        date(2026, 2, 2),
        office=office,
        counsellor=counsellor,
        exit_on=date(2026, 5, 4),
        outcome="employment",
        birth_year=1988,
        gender="female",
        country_of_origin="Syrien",
        recognition_status="in_progress",
    )
    b = entered_on(
        s,
        date(2026, 3, 2),
        office=office,
        counsellor=counsellor,
        exit_on=date(2026, 6, 1),
        outcome="qualification",
        birth_year=2003,
        gender="male",
        country_of_origin="Ukraine",
    )
    make_participant(
        s,
        office=office,
        counsellor=counsellor,
        first_contact_on=date(2026, 4, 1),
        sessions=((date(2026, 4, 2), 90),),
        gender="female",
        country_of_origin="Syrien",
    )
    entered_on(s, date(2024, 3, 4), office=office, counsellor=counsellor)
    entered_on(s, date(2026, 8, 3), office=office, counsellor=counsellor)
    s.add_all(
        [
            Placement(
                participant_id=a.id,
                organisation_id=firm.id,
                kind="job",
                status="active",
                starts_on=date(2026, 5, 10),
            ),
            Placement(
                participant_id=b.id,
                organisation_id=firm.id,
                kind="apprenticeship",
                status="cancelled",
                starts_on=date(2026, 5, 10),
            ),
            Placement(
                participant_id=b.id,
                organisation_id=firm.id,
                kind="internship",
                status="planned",
                starts_on=date(2026, 7, 1),
                ends_on=date(2026, 9, 30),
            ),
            QualificationNeed(
                organisation_id=firm.id,
                occupation="Pflegefachkraft",
                count=4,
                surveyed_on=date(2026, 3, 1),
            ),
            QualificationNeed(
                organisation_id=firm.id,
                occupation="Elektriker",
                count=2,
                surveyed_on=date(2025, 3, 1),
            ),
        ]
    )
    s.flush()
    return office, counsellor


def _report(s, period=HALF):
    lead = factories.make_user(s, role="lead")
    return funder.funder_report(s, period, user=lead, now=NOW)


def test_the_report_counts_counselled_entries_exits_placements_and_needs_of_the_period(app_ctx):
    _data(app_ctx)
    r = _report(app_ctx)
    assert (r.counselled, r.entries, r.exits) == (3, 2, 2)
    assert r.exits_by_outcome["employment"] == 1
    assert r.exits_by_outcome["qualification"] == 1
    assert r.qualifications == 1
    # The cancelled apprenticeship and the July internship are not placements of the half-year.
    assert r.placements_by_kind == {
        "job": 1,
        "apprenticeship": 0,
        "internship": 0,
        "qualification": 0,
        "recognition": 0,
    }
    assert (r.needs_rows, r.needs_people) == (1, 4)
    assert r.events_held == 0
    assert r.campaigns_sent == 0


def test_breakdowns_group_by_gender_age_group_at_entry_country_and_office(app_ctx):
    office, counsellor = _data(app_ctx)
    r = _report(app_ctx)
    by = {
        dim: {row.key: (row.counselled, row.entries, row.exits) for row in rows}
        for dim, rows in r.breakdowns.items()
    }
    assert by["gender"] == {"female": (2, 1, 1), "male": (1, 1, 1)}
    assert by["age_group"] == {"35-44": (1, 1, 1), "<25": (1, 1, 1), None: (1, 0, 0)}
    assert by["country"] == {"Syrien": (2, 1, 1), "Ukraine": (1, 1, 1)}
    assert by["office"] == {office.id: (3, 2, 2)}
    assert by["counsellor"] == {counsellor.id: (3, 2, 2)}
    assert by["recognition"] == {"in_progress": (1, 1, 1), "not_started": (2, 1, 1)}
    assert [row.label for row in r.breakdowns["office"]] == ["Förderstelle"]


def test_the_report_sends_as_many_statements_for_many_participants_as_for_one(
    app_ctx, count_queries
):
    office, counsellor = office_and_counsellor(app_ctx, "Zählstelle")
    entered_on(app_ctx, date(2026, 2, 2), office=office, counsellor=counsellor, birth_year=1990)
    lead = factories.make_user(app_ctx, role="lead")
    app_ctx.flush()
    with count_queries() as one:
        funder.funder_report(app_ctx, HALF, user=lead, now=NOW)
    for i in range(12):
        other, someone = office_and_counsellor(app_ctx)
        entered_on(
            app_ctx,
            date(2026, 3, 2 + i),
            office=other,
            counsellor=someone,
            birth_year=1960 + 3 * i,
            gender=("female", "male", "diverse")[i % 3],
            country_of_origin=f"Land {i}",
        )
    app_ctx.flush()
    with count_queries() as many:
        funder.funder_report(app_ctx, HALF, user=lead, now=NOW)
    assert len(many) == len(one)


@pytest.mark.parametrize(("n", "shown"), [(0, "< 3"), (1, "< 3"), (2, "< 3"), (3, 3), (17, 17)])
def test_counts_below_the_threshold_are_shown_as_less_than_three(n, shown):
    assert funder.protect(n, 3) == shown


def test_the_periods_presets_and_custom_dates():
    today = date(2026, 12, 6)
    assert funder.period_for("half", today) == funder.Period(date(2026, 7, 1), date(2026, 12, 31))
    assert funder.period_for("100d", today).days == 100
    assert funder.period_for(
        "term", today, project_start="2025-01-01", project_end="2027-12-31"
    ) == funder.Period(date(2025, 1, 1), date(2027, 12, 31))
    for bad in (
        {"preset": "term"},
        {"preset": "custom", "start": "2026-13-01", "end": "2026-12-01"},
        {"preset": "custom", "start": "2026-12-01", "end": "2026-01-01"},
        {"preset": "custom", "start": "1900-01-01", "end": "2026-01-01"},
        {"preset": "nonsense"},
    ):
        preset = bad.pop("preset")
        with pytest.raises(funder.PeriodError):
            funder.period_for(preset, today, **bad)


# --- pages --------------------------------------------------------------------------------------


def test_only_leads_and_admins_open_the_funder_report(client_as, db_session):
    for role in ("counsellor", "staff", "readonly"):
        assert client_as(role).get("/auswertung/foerderbericht").status_code == 403
        assert client_as(role).get("/auswertung/foerderbericht.xlsx").status_code == 403
    for role in ("lead", "admin"):
        html = client_as(role).get("/auswertung/").get_data(as_text=True)
        assert "/auswertung/foerderbericht" in html
        assert client_as(role).get("/auswertung/foerderbericht").status_code == 200


def test_the_page_shows_the_half_years_figures(client_as, db_session, frozen_time):
    _data(db_session)
    db_session.commit()
    frozen_time.move_to(datetime(2026, 5, 15, 9, 0))
    html = client_as("lead").get("/auswertung/foerderbericht?zeitraum=half").get_data(as_text=True)
    assert "01.01.2026 – 30.06.2026" in html
    assert '<tr data-key="counselled"><th scope="row" class="fw-normal">' in html
    assert 'id="funder-by-age_group"' in html


@pytest.mark.parametrize(
    "query",
    [
        "zeitraum=custom&von=2026-13-01&bis=2026-12-01",
        "zeitraum=custom&von=2026-12-01&bis=2026-01-01",
        "zeitraum=custom&von=&bis=",
        "zeitraum=term",
        "zeitraum=custom&von=0000-01-01&bis=99999-01-01",
    ],
)
def test_a_bad_period_gives_a_german_message_and_keeps_what_was_typed(client_as, query):
    response = client_as("lead").get(f"/auswertung/foerderbericht?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="period-error"' in html
    assert "Stattdessen" in html
    if "13-01" in query:
        assert 'value="2026-13-01"' in html


@pytest.mark.parametrize(
    "query", ["zeitraum=term", "zeitraum=custom&von=2026-12-01&bis=2026-01-01"]
)
def test_after_a_bad_period_the_downloads_fetch_the_period_shown(client_as, frozen_time, query):
    """A new install has no project term: „Projektlaufzeit“ shows this calendar year, and
    its XLSX button must download that year instead of failing with 400."""
    client = client_as("lead")
    html = client.get(f"/auswertung/foerderbericht?{query}").get_data(as_text=True)
    for link_id in ("funder-report-xlsx", "funder-pseudonymised"):
        href = unescape(re.search(rf'id="{link_id}" href="([^"]+)"', html).group(1))
        assert "von=2026-01-01" in href
        assert "bis=2026-12-31" in href
        download = client.get(href)
        assert download.status_code == 200
        assert download.mimetype.endswith("spreadsheetml.sheet")


def test_the_xlsx_has_one_sheet_per_breakdown_with_small_numbers_hidden(client_as, db_session):
    _data(db_session)
    db_session.commit()
    c = client_as("lead")
    response = c.get(
        "/auswertung/foerderbericht.xlsx?zeitraum=custom&von=2026-01-01&bis=2026-06-30"
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert len(book.sheetnames) == 1 + len(funder.DIMENSIONS)
    totals = {row[0]: row[1] for row in book.worksheets[0].iter_rows(values_only=True)}
    assert totals["Beraten"] == 3
    assert totals["Eintritte"] == "< 3"
    gender = list(book["Geschlecht"].iter_rows(values_only=True))
    assert gender[0] == ("Geschlecht", "Beraten", "Eintritte", "Austritte")
    assert all(cell == "< 3" for row in gender[1:] for cell in row[1:])
    assert (
        db_session.scalar(
            sa.select(sa.func.count()).where(AuditEntry.entity_type == "funder_report")
        )
        == 1
    )


def test_a_definition_is_saved_listed_audited_and_deleted(client_as, db_session):
    c = client_as("lead")
    response = c.post(
        "/auswertung/foerderbericht/definitionen",
        data={
            "name": "Zwischenbericht Stadt",
            "preset": "custom",
            "start_on": "2026-01-01",
            "end_on": "2026-06-30",
        },
    )
    assert response.status_code == 302
    assert "von=2026-01-01" in response.headers["Location"]
    c.post(
        "/auswertung/foerderbericht/definitionen",
        data={"name": "ESF-Halbjahresmeldung", "preset": "half"},
    )
    html = c.get("/auswertung/foerderbericht").get_data(as_text=True)
    assert "Zwischenbericht Stadt" in html
    assert "ESF-Halbjahresmeldung" in html
    definition = db_session.scalar(
        sa.select(ReportDefinition).where(ReportDefinition.name == "Zwischenbericht Stadt")
    )
    assert db_session.scalar(
        sa.select(sa.func.count()).where(
            AuditEntry.entity_type == "report_definition", AuditEntry.entity_id == definition.id
        )
    )
    definition_id = definition.id
    assert (
        c.post(f"/auswertung/foerderbericht/definitionen/{definition_id}/loeschen").status_code
        == 302
    )
    db_session.expire_all()
    assert db_session.get(ReportDefinition, definition_id) is None


def test_bad_definitions_are_refused_with_german_errors_and_nothing_typed_is_lost(
    client_as, db_session
):
    c = client_as("lead")
    c.post("/auswertung/foerderbericht/definitionen", data={"name": "Stadt", "preset": "year"})
    for data, message in (
        ({"name": "Stadt", "preset": "year"}, "existiert bereits"),
        ({"name": "Neu", "preset": "custom", "start_on": "2026-05-01"}, "ersten und einen letzten"),
        (
            {"name": "Neu2", "preset": "custom", "start_on": "2026-05-01", "end_on": "2026-01-01"},
            "vor",
        ),
        ({"name": "", "preset": "year"}, "Namen"),
        ({"name": "X", "preset": "weekly"}, "gültige"),
    ):
        response = c.post("/auswertung/foerderbericht/definitionen", data=data)
        assert response.status_code == 400, data
        html = response.get_data(as_text=True)
        assert message in html, (data, html[:0])
        if data["name"]:
            assert f'value="{data["name"]}"' in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ReportDefinition)) == 1


def test_definitions_are_not_saved_or_deleted_without_csrf_or_by_staff(client_as, db_session):
    lead = client_as("lead")
    lead.post(
        "/auswertung/foerderbericht/definitionen",
        data={"name": "Ohne Token", "preset": "year"},
        csrf=False,
    )
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ReportDefinition)) == 0
    lead.post("/auswertung/foerderbericht/definitionen", data={"name": "Bleibt", "preset": "year"})
    definition = db_session.scalar(sa.select(ReportDefinition))
    url = f"/auswertung/foerderbericht/definitionen/{definition.id}/loeschen"
    lead.post(url, csrf=False)
    staff = client_as("staff")
    assert staff.post(url).status_code == 403
    assert (
        staff.post(
            "/auswertung/foerderbericht/definitionen", data={"name": "Staff", "preset": "year"}
        ).status_code
        == 403
    )
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ReportDefinition)) == 1


# --- links to the participant list ---------------------------------------------------------------

LINK = re.compile(r'<a href="(/teilnehmende/(?:vermittlungen/)?\?[^"]+)">(\d+)</a>')
LIST_COUNT = re.compile(r'id="(?:participant-count|placement-total)">(\d+)')


def _random_participants(s, rng):
    offices = [office_and_counsellor(s) for _ in range(2)]
    referrer = factories.make_org(s, name="Zuweisende Stelle")
    for _ in range(rng.randint(12, 20)):
        office, counsellor = rng.choice(offices)
        first = date(2026, 1, 1) + timedelta(days=rng.randint(-60, 300))
        sessions = tuple(
            (first + timedelta(days=rng.randint(0, 200)), rng.choice((60, 481)))
            for _ in range(rng.randint(0, 3))
        )
        kwargs = {
            "gender": rng.choice(("", "female", "male", "diverse")),
            "country_of_origin": rng.choice(("", "Syrien", "Côte d'Ivoire")),
            "birth_year": rng.choice((None, 1970, 1995, 2004)),
            "referrer": rng.choice((None, referrer)),
        }
        if rng.random() < 0.4:
            kwargs["exit_on"] = first + timedelta(days=rng.randint(1, 300))
            kwargs["outcome"] = rng.choice(("employment", "qualification", "moved_away", ""))
        p = make_participant(
            s,
            office=office,
            counsellor=counsellor,
            first_contact_on=first,
            sessions=sessions,
            **kwargs,
        )
        if rng.random() < 0.4:
            s.add(
                Placement(
                    participant_id=p.id,
                    organisation_id=referrer.id,
                    kind=rng.choice(("job", "apprenticeship")),
                    status=rng.choice(("planned", "active", "cancelled")),
                    starts_on=first + timedelta(days=rng.randint(0, 200)),
                )
            )
    # On the period's first and last day: the edges must count in the report and the list.
    office, counsellor = offices[0]
    entered_on(s, date(2026, 7, 31), office=office, counsellor=counsellor)
    entered_on(
        s,
        date(2026, 2, 1),
        office=office,
        counsellor=counsellor,
        exit_on=date(2026, 7, 31),
        outcome="employment",
    )
    s.commit()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_linked_number_equals_the_count_of_the_list_it_links_to(client_as, db_session, seed):
    _random_participants(db_session, random.Random(seed))
    c = client_as("lead")
    html = c.get(
        "/auswertung/foerderbericht?zeitraum=custom&von=2026-02-01&bis=2026-07-31"
    ).get_data(as_text=True)
    links = LINK.findall(html)
    assert len(links) >= 20
    assert any("/vermittlungen/" in url for url, _shown in links)
    assert any("ohne_angabe=" in url for url, _shown in links)
    for url, shown in links:
        listed = c.get(unescape(url)).get_data(as_text=True)
        assert 'id="report-filter"' in listed, url
        assert LIST_COUNT.search(listed).group(1) == shown, url


def test_rare_values_are_hidden_in_the_pseudonymised_rows():
    fields = ("pseudonym", "birth_year", "country_of_origin", "exit_on")
    rows = [
        ("a", 1980, "Syrien", None),
        ("b", 1980, "Syrien", None),
        ("c", 1980, "Syrien", None),
        ("d", 1991, "Lettland", None),
    ]
    assert funder.protect_rows(fields, rows, 3) == [
        ("a", 1980, "Syrien", None),
        ("b", 1980, "Syrien", None),
        ("c", 1980, "Syrien", None),
        ("d", "< 3", "< 3", None),
    ]


def test_the_pseudonymised_export_of_the_period_hides_rare_values_and_is_audited(
    client_as, db_session
):
    _data(db_session)
    db_session.commit()
    c = client_as("lead")
    response = c.get(
        "/auswertung/foerderbericht/pseudonymisiert.xlsx?zeitraum=custom&von=2026-01-01&bis=2026-06-30"
    )
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert rows[0][0] == "Pseudonym"
    assert len(rows) == 1 + 3
    birth_years = [r[2] for r in rows[1:]]
    assert 1988 not in birth_years
    assert 2003 not in birth_years
    assert "< 3" in birth_years
    assert (
        db_session.scalar(
            sa.select(sa.func.count()).where(
                AuditEntry.entity_type == "participant", AuditEntry.action == "export"
            )
        )
        == 1
    )
    assert (
        client_as("staff").get("/auswertung/foerderbericht/pseudonymisiert.xlsx").status_code == 403
    )


def test_the_project_term_preset_uses_the_configured_term(app, client_as, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_PROJECT_START", "2025-01-01")
    monkeypatch.setitem(app.config, "CRM_PROJECT_END", "2027-12-31")
    html = client_as("lead").get("/auswertung/foerderbericht?zeitraum=term").get_data(as_text=True)
    assert "01.01.2025 – 31.12.2027" in html
    assert 'id="period-error"' not in html
