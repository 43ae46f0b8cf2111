"""Branch offices: admin pages, rules, the CLI, users in several offices and their scope."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from crm.accounts import service as accounts
from crm.accounts.models import Office, User, user_office
from crm.audit.models import AuditEntry
from crm.offices import service
from tests import factories
from tests.factories import make_participant

ROLES = ("admin", "lead", "counsellor", "staff", "readonly")


def _text(response) -> str:
    return response.get_data(as_text=True)


def _office(session, name: str) -> Office | None:
    return session.scalar(sa.select(Office).where(Office.name == name))


# --- rules --------------------------------------------------------------------------------------


def test_the_first_office_becomes_the_head_office_with_one_entry_and_exit_a_week(app_ctx):
    first = service.create_office(app_ctx, "  Magdeburg ", street="Breiter Weg 1", city="Magdeburg")
    second = service.create_office(app_ctx, "Burg", weekly_entries=2, weekly_exits=0.5)
    assert first.name == "Magdeburg"
    assert first.is_head_office
    assert not second.is_head_office
    assert (first.weekly_entries, first.weekly_exits) == (1, 1)
    assert (second.weekly_entries, second.weekly_exits) == (2, 0.5)
    assert first.address == "Breiter Weg 1, Magdeburg"


@pytest.mark.parametrize("name", ["Magdeburg", "magdeburg", " MAGDEBURG "])
def test_two_offices_cannot_share_a_name(app_ctx, name):
    service.create_office(app_ctx, "Magdeburg")
    with pytest.raises(service.OfficeError):
        service.create_office(app_ctx, name)


@pytest.mark.parametrize("target", [-1, 10000, float("nan"), float("inf")])
def test_a_weekly_target_outside_0_to_9999_is_refused(app_ctx, target):
    with pytest.raises(service.OfficeError):
        service.create_office(app_ctx, "Burg", weekly_entries=target)


def test_an_office_with_participants_or_users_is_never_deleted(app_ctx):
    with_participant = service.create_office(app_ctx, "Genthin")
    make_participant(app_ctx, office=with_participant)
    with_user = service.create_office(app_ctx, "Burg")
    outreach = service.create_office(app_ctx, "Aschersleben")
    accounts.set_offices(app_ctx, factories.make_user(app_ctx), None, [outreach])
    unused = service.create_office(app_ctx, "Schönebeck")
    factories.make_user(app_ctx, office=with_user)
    for office in (with_participant, with_user, outreach):
        with pytest.raises(service.OfficeError):
            service.delete_office(app_ctx, office)
    service.delete_office(app_ctx, unused)
    assert set(app_ctx.scalars(sa.select(Office.name))) == {"Genthin", "Burg", "Aschersleben"}


# --- admin pages --------------------------------------------------------------------------------


OFFICE_PAGES = [
    ("get", "/verwaltung/geschaeftsstellen"),
    ("get", "/verwaltung/geschaeftsstellen/neu"),
    ("post", "/verwaltung/geschaeftsstellen/neu"),
    ("get", "/verwaltung/geschaeftsstellen/{id}"),
    ("post", "/verwaltung/geschaeftsstellen/{id}"),
    ("post", "/verwaltung/geschaeftsstellen/{id}/aktiv"),
    ("post", "/verwaltung/geschaeftsstellen/{id}/loeschen"),
    ("get", "/verwaltung/ersteinrichtung/geschaeftsstellen"),
    ("post", "/verwaltung/ersteinrichtung/benutzer"),
    ("post", "/verwaltung/ersteinrichtung/ziele"),
    ("post", "/verwaltung/ersteinrichtung/mail"),
    ("get", "/verwaltung/ersteinrichtung/mail/status"),
]


@pytest.mark.parametrize("role", ["lead", "counsellor", "staff", "readonly"])
@pytest.mark.parametrize(("method", "path"), OFFICE_PAGES)
def test_only_admins_set_up_offices_everyone_else_gets_403(
    client_as, db_session, role, method, path
):
    office = factories.make_office(db_session, name="Burg")
    c = client_as(role)
    data = {"name": "Übernommen", "weekly_entries": "1", "weekly_exits": "1"}
    url = path.format(id=office.id)
    response = c.get(url) if method == "get" else c.post(url, data=data)
    assert response.status_code == 403
    db_session.refresh(office)
    assert office.name == "Burg"
    assert office.is_active


def test_an_admin_creates_renames_and_deactivates_an_office_and_each_change_is_audited(
    admin_client, db_session
):
    c = admin_client
    r = c.post(
        "/verwaltung/geschaeftsstellen/neu",
        data={
            "name": "Aschersleben",
            "street": "Markt 1",
            "postcode": "06449",
            "city": "Aschersleben",
            "weekly_entries": "2",
            "weekly_exits": "1,5",
        },
    )
    assert r.status_code == 302
    office = _office(db_session, "Aschersleben")
    assert (office.postcode, office.weekly_entries, office.weekly_exits) == ("06449", 2, 1.5)

    r = c.post(
        f"/verwaltung/geschaeftsstellen/{office.id}",
        data={"name": "Aschersleben-Staßfurt", "weekly_entries": "1", "weekly_exits": "1"},
    )
    assert r.status_code == 302
    assert c.post(f"/verwaltung/geschaeftsstellen/{office.id}/aktiv").status_code == 302
    db_session.refresh(office)
    assert office.name == "Aschersleben-Staßfurt"
    assert not office.is_active
    assert "deaktiviert" in _text(c.get("/verwaltung/geschaeftsstellen"))

    entries = db_session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "office", AuditEntry.entity_id == office.id
        )
    ).all()
    assert [e.action for e in entries] == ["create", "update", "update"]
    assert entries[1].changes["values"]["name"] == ["Aschersleben", "Aschersleben-Staßfurt"]
    assert entries[2].changes["values"]["is_active"] == [True, False]


def test_the_office_form_answers_bad_input_in_german_without_saving(admin_client, db_session):
    factories.make_office(db_session, name="Burg")
    c = admin_client
    for data, message in (
        ({"name": "burg", "weekly_entries": "1", "weekly_exits": "1"}, "gibt es schon"),
        ({"name": "Neu", "weekly_entries": "1e3", "weekly_exits": "1"}, "z. B. 2,5"),
        ({"name": "Neu", "weekly_entries": "-1", "weekly_exits": "1"}, "von 0 bis 9999"),
        ({"name": "Neu\x00", "weekly_entries": "1", "weekly_exits": "1"}, "(NUL)"),
    ):
        r = c.post("/verwaltung/geschaeftsstellen/neu", data=data)
        assert r.status_code == 400
        assert message in _text(r), data
    assert db_session.scalar(sa.select(sa.func.count(Office.id))) == 1


def test_an_office_form_without_csrf_token_is_refused(admin_client, db_session):
    r = admin_client.post(
        "/verwaltung/geschaeftsstellen/neu",
        data={"name": "Burg", "weekly_entries": "1", "weekly_exits": "1"},
        csrf=False,
    )
    assert r.status_code == 400
    assert _office(db_session, "Burg") is None


def test_deleting_an_office_in_use_is_refused_on_the_page(admin_client, db_session):
    office = factories.make_office(db_session, name="Genthin")
    make_participant(db_session, office=office)
    db_session.commit()
    r = admin_client.post(f"/verwaltung/geschaeftsstellen/{office.id}/loeschen")
    assert r.status_code == 302
    assert _office(db_session, "Genthin") is not None
    page = _text(admin_client.get("/verwaltung/geschaeftsstellen"))
    assert "Deaktivieren Sie sie" in page


def test_the_office_page_lists_the_staff_working_there(admin_client, db_session):
    burg, genthin = (
        factories.make_office(db_session, name="Burg"),
        factories.make_office(db_session, name="Genthin"),
    )
    home = factories.make_user(db_session, display_name="Bernd Berater", office=burg)
    outreach = factories.make_user(db_session, display_name="Olga Outreach", office=genthin)
    accounts.set_offices(db_session, outreach, genthin, [burg])
    factories.make_user(db_session, display_name="Gerda Genthin", office=genthin)
    db_session.commit()
    page = _text(admin_client.get(f"/verwaltung/geschaeftsstellen/{burg.id}"))
    staff = page.split('id="office-users"')[1].split("</ul>")[0]
    assert home.display_name in staff
    assert outreach.display_name in staff
    assert "Gerda Genthin" not in staff


def test_a_missing_office_is_not_found(admin_client):
    assert admin_client.get("/verwaltung/geschaeftsstellen/999999").status_code == 404
    assert admin_client.post("/verwaltung/geschaeftsstellen/999999/aktiv").status_code == 404


# --- users in several offices -------------------------------------------------------------------


def test_an_admin_gives_a_user_a_home_office_and_further_offices(admin_client, db_session):
    burg, genthin, mdb = (
        factories.make_office(db_session, name=n) for n in ("Burg", "Genthin", "Magdeburg")
    )
    user = factories.make_user(db_session, role="counsellor", office=mdb)
    db_session.commit()
    r = admin_client.post(
        f"/verwaltung/benutzer/{user.id}",
        data={
            "email": user.email,
            "display_name": user.display_name,
            "role": "counsellor",
            "office_id": burg.id,
            "other_office_ids": [genthin.id, burg.id],
        },
    )
    assert r.status_code == 302
    db_session.refresh(user)
    assert user.office_id == burg.id
    assert user.office_ids == sorted([burg.id, genthin.id])
    changes = [
        e.changes
        for e in db_session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.entity_type == "user_account", AuditEntry.entity_id == user.id
            )
        )
        if e.changes and "offices" in e.changes.get("fields", [])
    ]
    assert changes == [
        {"fields": ["offices"], "values": {"offices": [[mdb.id], sorted([burg.id, genthin.id])]}}
    ]


def test_a_new_user_works_in_the_chosen_offices(admin_client, db_session):
    burg, genthin = (
        factories.make_office(db_session, name="Burg"),
        factories.make_office(db_session, name="Genthin"),
    )
    db_session.commit()
    r = admin_client.post(
        "/verwaltung/benutzer/neu",
        data={
            "email": "neu@example.org",
            "display_name": "Nora Neu",
            "role": "counsellor",
            "office_id": burg.id,
            "other_office_ids": [genthin.id],
        },
    )
    assert r.status_code == 200
    user = db_session.scalar(sa.select(User).where(User.email == "neu@example.org"))
    assert user.office_ids == sorted([burg.id, genthin.id])
    rows = db_session.execute(sa.select(user_office).where(user_office.c.user_id == user.id)).all()
    assert len(rows) == 2


@pytest.fixture
def three_offices(db_session):
    """A counsellor in offices A (home) and B; participants in A, B and C."""
    a, b, c = (factories.make_office(db_session, name=n) for n in ("Amt A", "Amt B", "Amt C"))
    counsellor = factories.make_user(db_session, role="counsellor", office=a)
    accounts.set_offices(db_session, counsellor, a, [b])
    others = {o.name: factories.make_user(db_session, role="counsellor", office=o) for o in (b, c)}
    people = {
        "A": make_participant(db_session, office=a, counsellor=counsellor, last_name="Aalto"),
        "B": make_participant(db_session, office=b, counsellor=others["Amt B"], last_name="Brandt"),
        "C": make_participant(db_session, office=c, counsellor=others["Amt C"], last_name="Cerny"),
    }
    db_session.commit()
    return counsellor, people, (a, b, c)


def _login_as(app, user):
    from tests.conftest import login

    client = app.test_client()
    assert login(client, user.email).status_code == 302
    return client


def test_a_counsellor_in_offices_a_and_b_sees_participants_of_a_and_b_not_c(app, three_offices):
    counsellor, people, _offices = three_offices
    c = _login_as(app, counsellor)
    page = _text(c.get("/teilnehmende/"))
    assert "Aalto" in page
    assert "Brandt" in page
    assert "Cerny" not in page
    assert c.get(f"/teilnehmende/{people['B'].id}").status_code == 200
    assert c.get(f"/teilnehmende/{people['C'].id}").status_code == 404


def test_a_counsellor_in_two_offices_may_record_a_participant_in_either_not_a_third(
    app, three_offices, db_session
):
    counsellor, _people, (a, b, c) = three_offices
    client = _login_as(app, counsellor)
    form = _text(client.get("/teilnehmende/neu"))
    options = re.findall(r'<option[^>]*value="(\d+)"[^>]*>(Amt [ABC])<', form)
    assert {name for _v, name in options} == {"Amt A", "Amt B"}
    data = {
        "last_name": "Neumann",
        "first_name": "Nina",
        "office_id": b.id,
        "counsellor_id": counsellor.id,
        "first_contact_on": "2026-11-02",
        "recognition_status": "in_progress",
        "language_level": "B1",
        "gender": "",
        "acquisition_channel": "job_fair",
    }
    response = client.post("/teilnehmende/neu", data=data)
    assert response.status_code == 302, _text(response)
    data |= {"office_id": c.id, "last_name": "Nebenan"}
    assert client.post("/teilnehmende/neu", data=data).status_code == 400


def test_the_board_shows_a_two_office_counsellor_both_offices(app, three_offices):
    from crm.dashboard import service as board

    counsellor, _people, (a, b, _c) = three_offices
    assert board.board_offices(counsellor) == sorted([a.id, b.id])


def test_a_deactivated_office_is_not_offered_for_new_participants(app, db_session):
    active = factories.make_office(db_session, name="Amt Offen")
    closed = factories.make_office(db_session, name="Amt Zu", is_active=False)
    lead = factories.make_user(db_session, role="lead", office=active)
    db_session.commit()
    form = _text(_login_as(app, lead).get("/teilnehmende/neu"))
    assert "Amt Offen" in form
    assert f'value="{closed.id}"' not in form


# --- CLI ----------------------------------------------------------------------------------------


def test_create_office_then_create_user_in_it_from_the_command_line(app, db_session):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "crm",
            "create-office",
            "Magdeburg",
            "--address",
            "Breiter Weg 1, 39104 Magdeburg",
            "--weekly-entries",
            "2",
            "--weekly-exits",
            "1.5",
        ]
    )
    assert result.exit_code == 0, result.output
    office = _office(db_session, "Magdeburg")
    assert (office.street, office.postcode, office.city) == ("Breiter Weg 1", "39104", "Magdeburg")
    assert (office.weekly_entries, office.weekly_exits) == (2, 1.5)
    result = runner.invoke(
        args=[
            "crm",
            "create-user",
            "--email",
            "beratung@example.org",
            "--name",
            "Bea Beratung",
            "--role",
            "counsellor",
            "--office",
            "magdeburg",
            "--password-stdin",
        ],
        input="Elbe-Ufer-Radweg-2026\n",
    )
    assert result.exit_code == 0, result.output
    user = db_session.scalar(sa.select(User).where(User.email == "beratung@example.org"))
    assert user.office_id == office.id
    assert user.office_ids == [office.id]


def test_create_user_with_an_unknown_office_names_the_existing_ones(app, db_session):
    factories.make_office(db_session, name="Burg")
    factories.make_office(db_session, name="Genthin")
    db_session.commit()
    result = app.test_cli_runner().invoke(
        args=[
            "crm",
            "create-user",
            "--email",
            "x@example.org",
            "--name",
            "X",
            "--role",
            "counsellor",
            "--office",
            "Magdeburg",
            "--password-stdin",
        ],
        input="Elbe-Ufer-Radweg-2026\n",
    )
    assert result.exit_code != 0
    assert "nicht gefunden" in result.output
    assert "not found" in result.output
    assert "Burg, Genthin" in result.output
    assert "create-office" in result.output


def test_create_office_refuses_a_duplicate_name(app, db_session):
    factories.make_office(db_session, name="Burg")
    db_session.commit()
    result = app.test_cli_runner().invoke(args=["crm", "create-office", "BURG"])
    assert result.exit_code != 0
    assert "gibt es schon" in result.output or "exists already" in result.output


def test_an_admin_can_be_created_on_an_empty_database_without_an_office(app, db_session):
    result = app.test_cli_runner().invoke(
        args=[
            "crm",
            "create-user",
            "--email",
            "admin@example.org",
            "--name",
            "Ada Admin",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="Elbe-Ufer-Radweg-2026\n",
    )
    assert result.exit_code == 0, result.output
    assert db_session.scalar(sa.select(sa.func.count(Office.id))) == 0


@pytest.fixture
def fresh_app(make_database, tmp_path):
    """An app on a new, empty database."""
    from crm.extensions import db
    from tests.conftest import build_app

    application = build_app(make_database(), str(tmp_path))
    yield application
    with application.app_context():
        db.engine.dispose()


def test_the_upgrade_keeps_each_users_office_as_their_home_and_first_office(fresh_app):
    from flask_migrate import upgrade

    from crm.extensions import db

    with fresh_app.app_context():
        upgrade(revision="e5a1c7d20b94")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO office (id, name, is_head_office, created_at, updated_at) "
                    "VALUES (7, 'Burg', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO user_account (id, email, display_name, password_hash, role, "
                    "is_active, office_id, locale, must_change_password, created_at, "
                    "updated_at) VALUES (3, 'b@example.org', 'B', 'x', 'counsellor', true, 7, "
                    "'de', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT user_id, office_id FROM user_office")).all() == [
                (3, 7)
            ]
            row = conn.execute(
                sa.text("SELECT is_active, weekly_entries, weekly_exits, city FROM office")
            ).one()
        assert (bool(row[0]), float(row[1]), float(row[2]), row[3]) == (True, 1, 1, "")


def test_demo_data_creates_its_offices_through_the_service(app_ctx):
    from crm import demo

    demo.seed(app_ctx)
    office = _office(app_ctx, "Burg")
    assert office.city == "Burg"
    assert office.weekly_entries == 1
    bernd = app_ctx.scalar(
        sa.select(User).where(User.email == "beratung.burg@demo.netzwerk-crm.de")
    )
    assert [o.name for o in bernd.offices] == ["Burg", "Genthin"]


def test_the_office_list_counts_participants_and_everyone_working_there(app_ctx):
    burg = service.create_office(app_ctx, "Burg")
    genthin = service.create_office(app_ctx, "Genthin")
    make_participant(app_ctx, office=burg)
    outreach = factories.make_user(app_ctx, office=genthin)
    accounts.set_offices(app_ctx, outreach, genthin, [burg])
    factories.make_user(app_ctx, office=burg)
    rows = {
        r.office.name: (r.participants, r.users, r.deletable) for r in service.list_offices(app_ctx)
    }
    # The participant factory adds a counsellor in Burg: three people work there.
    assert rows == {"Burg": (1, 3, False), "Genthin": (0, 1, False)}
