"""Retention rules: each removes exactly what it says, and nothing younger; runs are audited."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from crm.accounts.models import LoginSession
from crm.audit.models import AuditEntry
from crm.contacts.import_models import ImportItem, ImportJob
from crm.database import utcnow
from crm.newsletters.models import Delivery
from crm.privacy import retention
from tests import factories
from tests.newsletter_sending_helpers import started_campaign

DAY = timedelta(days=1)


def _state(session, app, key: str) -> retention.RuleState:
    return next(s for s in retention.preview(session, app.config, utcnow()) if s.rule.key == key)


def _run(session, app) -> dict[str, int]:
    return retention.run(session, app.config, utcnow())


def test_delivery_rows_lose_address_and_answer_after_the_period_and_keep_their_status(app, app_ctx):
    s = app_ctx
    campaign, _people = started_campaign(s, 3)
    old, young, queued = s.scalars(
        sa.select(Delivery).where(Delivery.campaign_id == campaign.id).order_by(Delivery.id)
    ).all()
    long_ago = utcnow() - relativedelta(months=24) - DAY
    for row, status, at in ((old, "failed", long_ago), (young, "sent", utcnow() - 300 * DAY)):
        s.execute(
            sa.update(Delivery)
            .where(Delivery.id == row.id)
            .values(status=status, sent_at=at, last_error="550 no such user", updated_at=at)
        )
    s.execute(sa.update(Delivery).where(Delivery.id == queued.id).values(updated_at=long_ago))
    s.expire_all()
    assert _state(s, app, "delivery_addresses").due == 1

    assert _run(s, app)["delivery_addresses"] == 1
    s.expire_all()
    assert (old.email, old.last_error, old.status) == ("", "", "failed")
    assert young.email
    assert young.last_error == "550 no such user"
    assert queued.email  # not sent yet: never touched
    assert _state(s, app, "delivery_addresses").due == 0


def test_outbox_copies_older_than_the_period_are_deleted(app, app_ctx):
    directory = Path(app.config["CRM_MAIL_OUTBOX_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(4)
    old, young, other = (directory / f"{tag}-{n}" for n in ("old.eml", "young.eml", "note.txt"))
    for path in (old, young, other):
        path.write_text("x")
    past = (utcnow() - relativedelta(months=6) - DAY).timestamp()
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    before = _state(app_ctx, app, "outbox_files").due
    assert before >= 1

    assert _run(app_ctx, app)["outbox_files"] == before
    assert not old.exists()
    assert young.exists()
    assert other.exists()  # only .eml copies are the rule's
    young.unlink()
    other.unlink()


def test_import_values_and_reports_are_stripped_after_the_period_and_the_items_stay(app, app_ctx):
    s = app_ctx
    days = app.config["CRM_IMPORT_KEEP_DAYS"]

    def job(age_days: int) -> ImportJob:
        j = ImportJob(
            uuid=secrets.token_hex(16),
            filename="kontakte.csv",
            file_kind="csv",
            status="done",
            report={"rejected": [{"line": 2, "values": ["Erika", "Muster"]}]},
            created_at=utcnow() - age_days * DAY,
        )
        s.add(j)
        s.flush()
        s.add(
            ImportItem(
                job_id=j.id,
                entity_type="person",
                entity_id=1,
                action="fill",
                fields={"phone": "0391 123"},
            )
        )
        s.flush()
        return j

    old, young = job(days + 1), job(days - 1)
    assert _state(s, app, "import_values").due == 2  # one item value, one report

    assert _run(s, app)["import_values"] == 2
    s.expire_all()
    assert old.report is None
    assert [
        i.fields for i in s.scalars(sa.select(ImportItem).where(ImportItem.job_id == old.id))
    ] == [None]
    assert young.report
    assert s.scalar(sa.select(ImportItem.fields).where(ImportItem.job_id == young.id))


def test_audit_values_are_stripped_after_the_period_and_the_entry_stays(app, app_ctx):
    s = app_ctx
    long_ago = utcnow() - relativedelta(months=24) - DAY
    old = AuditEntry(
        at=long_ago,
        action="update",
        entity_type="person",
        entity_id=1,
        changes={"phone": ["0391 1", "0391 2"]},
    )
    young = AuditEntry(
        at=utcnow() - 30 * DAY,
        action="update",
        entity_type="person",
        entity_id=1,
        changes={"phone": ["0391 2", "0391 3"]},
    )
    empty = AuditEntry(at=long_ago, action="login_success", entity_type="user_account")
    s.add_all([old, young, empty])
    s.flush()
    assert _state(s, app, "audit_values").due == 1

    assert _run(s, app)["audit_values"] == 1
    s.expire_all()
    assert old.changes is None
    assert (old.action, old.entity_id) == ("update", 1)
    assert young.changes == {"phone": ["0391 2", "0391 3"]}


def test_login_sessions_older_than_the_maximum_are_deleted_however_active(app, app_ctx):
    s = app_ctx
    user = factories.make_user(s)
    old = LoginSession(
        token_hash=secrets.token_hex(32),
        user_id=user.id,
        created_at=utcnow() - 31 * DAY,
        last_seen_at=utcnow(),
    )
    young = LoginSession(
        token_hash=secrets.token_hex(32), user_id=user.id, created_at=utcnow() - 29 * DAY
    )
    s.add_all([old, young])
    s.flush()
    old_id, young_id = old.id, young.id

    assert _run(s, app)["login_sessions"] == 1
    s.expire_all()
    assert s.get(LoginSession, old_id) is None
    assert s.get(LoginSession, young_id) is not None


def test_every_run_writes_one_audit_entry_per_rule(app, app_ctx):
    _run(app_ctx, app)
    entries = app_ctx.scalars(
        sa.select(AuditEntry.summary).where(AuditEntry.action == "retention_run")
    ).all()
    assert sorted(e.split(":")[0] for e in entries) == sorted(r.key for r in retention.RULES)


def test_a_shorter_period_set_by_an_admin_moves_the_cutoff(app, app_ctx):
    s = app_ctx
    user = factories.make_user(s)
    s.add(
        LoginSession(
            token_hash=secrets.token_hex(32), user_id=user.id, created_at=utcnow() - 10 * DAY
        )
    )
    s.flush()
    assert _state(s, app, "login_sessions").due == 0
    assert retention.save_settings(s, {"login_sessions": 7}, app.config) == 1
    assert _state(s, app, "login_sessions").value == 7
    assert _state(s, app, "login_sessions").due == 1
    with pytest.raises(ValueError, match="login_sessions"):
        retention.save_settings(s, {"login_sessions": 0}, app.config)


# --- the admin page --------------------------------------------------------------------------


def test_admins_reach_the_retention_page_from_the_administration_and_see_every_rule(admin_client):
    admin = admin_client.get("/verwaltung").get_data(as_text=True)
    assert "/datenschutz/aufbewahrung/" in admin
    page = admin_client.get("/datenschutz/aufbewahrung/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Aufbewahrungsfristen" in html
    for rule in retention.RULES:
        assert f'id="rule-{rule.key}"' in html


def test_saving_periods_on_the_page_is_audited_and_bad_values_keep_what_was_typed(
    admin_client, db_session
):
    form = {r.key: "30" for r in (*retention.RULES, *retention.REVIEW_RULES)}
    bad = admin_client.post("/datenschutz/aufbewahrung/", data={**form, "audit_values": "abc"})
    assert bad.status_code == 400
    assert "ganze Zahl" in bad.get_data(as_text=True)
    assert 'value="abc"' in bad.get_data(as_text=True)
    assert (
        db_session.scalar(sa.select(sa.func.count()).select_from(retention.RetentionSetting)) == 0
    )

    ok = admin_client.post("/datenschutz/aufbewahrung/", data={**form, "audit_values": "12"})
    assert ok.status_code == 302
    stored = dict(
        db_session.execute(
            sa.select(retention.RetentionSetting.key, retention.RetentionSetting.value)
        ).all()
    )
    assert stored["audit_values"] == 12
    assert (
        db_session.scalar(
            sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "retention_setting")
        )
        >= 1
    )


@pytest.mark.parametrize("role", ["lead", "counsellor", "staff", "readonly"])
def test_only_admins_may_see_or_change_the_retention_periods(client_as, role):
    c = client_as(role)
    assert c.get("/datenschutz/aufbewahrung/").status_code == 403
    assert c.post("/datenschutz/aufbewahrung/", data={"run": "1"}).status_code == 403


def test_the_art15_report_states_the_periods_the_admins_set(app, app_ctx):
    from crm.privacy import access

    retention.save_settings(app_ctx, {"delivery_addresses": 18}, app.config)
    texts = [
        text
        for _receiver, result in access.storage_periods.send(app_ctx, config=app.config)
        for _category, text in result
    ]
    assert any("nach 18 Monaten" in t for t in texts)


# --- review lists: records only an admin erases ----------------------------------------------


def _listed(s, app, key: str) -> set[int]:
    rule = retention.REVIEWS_BY_KEY[key]
    items, _total = retention.review_list(s, rule, app.config, utcnow(), per_page=1000)
    return {record.id for record, _last in items}


def test_contacts_idle_for_the_period_are_listed_and_active_ones_not(app, app_ctx):
    from crm.contacts.models import Person
    from crm.newsletters.models import Subscription
    from tests.factories import make_list, make_person

    s = app_ctx
    long_ago = utcnow() - relativedelta(years=3) - DAY

    def person(**values):
        p = make_person(s)
        s.flush()
        s.execute(
            sa.update(Person)
            .where(Person.id == p.id)
            .values(created_at=long_ago, updated_at=long_ago, **values)
        )
        return p.id

    idle = person()
    contacted = person(last_contact_at=utcnow() - 300 * DAY)
    subscriber = person()
    unsubscribed = person()
    lst = make_list(s)
    s.add(
        Subscription(
            list_id=lst.id,
            person_id=subscriber,
            status="confirmed",
            source="paper",
            confirmed_at=long_ago,
        )
    )
    s.add(
        Subscription(
            list_id=lst.id,
            person_id=unsubscribed,
            status="unsubscribed",
            source="paper",
            confirmed_at=long_ago,
            unsubscribed_at=long_ago,
        )
    )
    s.flush()
    recent = make_person(s).id  # created today

    listed = _listed(s, app, "inactive_contacts")
    assert {idle, unsubscribed} <= listed
    assert not listed & {contacted, subscriber, recent}


def test_participants_without_exit_and_without_a_session_for_the_period_are_listed(app, app_ctx):
    from datetime import date

    from crm.participants.models import CounsellingSession, Participant
    from tests.factories import make_participant

    s = app_ctx
    today = utcnow().date()
    old_day = today - relativedelta(years=3) - DAY
    idle = make_participant(s, first_contact_on=old_day)
    counselled = make_participant(s, first_contact_on=old_day)
    s.add(
        CounsellingSession(
            participant_id=counselled.id,
            held_on=today - 30 * DAY,
            minutes=60,
            counsellor_id=counselled.counsellor_id,
        )
    )
    exited = make_participant(s, first_contact_on=old_day)
    s.flush()
    s.execute(
        sa.update(Participant)
        .where(Participant.id == exited.id)
        .values(exit_on=date(2024, 1, 5), exit_outcome="employment")
    )

    listed = _listed(s, app, "inactive_participants")
    assert idle.id in listed
    assert not listed & {counselled.id, exited.id}


def test_a_record_kept_by_an_admin_leaves_the_list_for_a_year_and_is_audited(
    admin_client, db_session
):
    from crm.contacts.models import Person
    from tests.factories import make_person

    long_ago = utcnow() - relativedelta(years=4)
    p = make_person(db_session)
    db_session.flush()
    db_session.execute(
        sa.update(Person).where(Person.id == p.id).values(created_at=long_ago, updated_at=long_ago)
    )
    db_session.commit()
    page = admin_client.get("/datenschutz/aufbewahrung/")
    assert "/datenschutz/aufbewahrung/pruefen/inactive_contacts" in page.get_data(as_text=True)
    listing = admin_client.get("/datenschutz/aufbewahrung/pruefen/inactive_contacts")
    html = listing.get_data(as_text=True)
    assert f'id="candidate-{p.id}"' in html
    assert f"/datenschutz/personen/{p.id}/loeschen" in html  # erasure only through its preview

    kept = admin_client.post(f"/datenschutz/aufbewahrung/pruefen/inactive_contacts/behalten/{p.id}")
    assert kept.status_code == 302
    html = admin_client.get("/datenschutz/aufbewahrung/pruefen/inactive_contacts").get_data(
        as_text=True
    )
    assert f'id="candidate-{p.id}"' not in html
    assert db_session.get(Person, p.id) is not None  # nothing erased
    assert (
        db_session.scalar(
            sa.select(sa.func.count(AuditEntry.id)).where(
                AuditEntry.action == "retention_keep", AuditEntry.entity_id == p.id
            )
        )
        == 1
    )


def test_an_unknown_review_list_is_not_found(admin_client):
    assert admin_client.get("/datenschutz/aufbewahrung/pruefen/unbekannt").status_code == 404
