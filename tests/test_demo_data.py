"""The demo data (`flask crm seed-demo`) gives every page something to show, and loads once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from crm import demo
from crm.accounts.models import User
from crm.contacts.demo import DUPLICATE_ORGANISATION, OUTDATED_EMAIL
from crm.contacts.import_models import ImportJob
from crm.contacts.models import ContactList, ContactListMember, Organisation, Person
from crm.jobs.models import BackgroundJob
from crm.mail.models import OutgoingMail
from crm.newsletters.models import Audience, Campaign, Delivery
from crm.outbox.demo import MISTYPED_EMAIL


def _count(session: Any, model: Any, *where: Any) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def test_the_demo_has_a_sent_campaign_with_figures_and_a_draft_for_a_saved_audience(app_ctx):
    demo.seed(app_ctx)

    campaigns = {c.status: c for c in app_ctx.scalars(sa.select(Campaign))}
    assert set(campaigns) == {"sent", "draft"}
    sent, draft = campaigns["sent"], campaigns["draft"]
    assert sent.recipients_total >= 5
    assert _count(app_ctx, Delivery, Delivery.campaign_id == sent.id) == sent.recipients_total
    statuses = dict(
        app_ctx.execute(
            sa.select(Delivery.status, sa.func.count())
            .where(Delivery.campaign_id == sent.id)
            .group_by(Delivery.status)
        ).all()
    )
    # The outdated address of the duplicate record bounces; everyone else got it.
    assert statuses == {"sent": sent.recipients_total - 1, "failed": 1}
    bounced = app_ctx.scalar(sa.select(Delivery).where(Delivery.status == "failed"))
    assert bounced.email == OUTDATED_EMAIL
    assert "550" in bounced.last_error or "Recipient address rejected" in bounced.last_error
    assert draft.audience_id is not None
    assert _count(app_ctx, Delivery, Delivery.campaign_id == draft.id) == 0
    assert _count(app_ctx, Audience) >= 1


def test_the_demo_import_ran_through_the_job_queue_and_left_a_report(app_ctx):
    demo.seed(app_ctx)

    (job,) = app_ctx.scalars(sa.select(ImportJob)).all()
    assert job.status == "done"
    assert job.counts["create"] == 2
    assert job.counts["skip"] == 1  # Jutta Schäfer is already there
    assert job.counts["reject"] == 1  # a row without a name
    (background,) = app_ctx.scalars(sa.select(BackgroundJob)).all()
    assert (background.kind, background.status) == ("contacts.import", "done")
    assert _count(app_ctx, Person, Person.last_name == "Hartmann") == 1


def test_the_demo_has_merge_candidates_a_static_list_and_mail_sent_and_failed(app, app_ctx):
    counts = demo.seed(app_ctx)

    same_name = app_ctx.execute(
        sa.select(Person.first_name, Person.last_name)
        .group_by(Person.first_name, Person.last_name)
        .having(sa.func.count() > 1)
    ).all()
    assert len(same_name) == 1
    assert _count(app_ctx, Organisation, Organisation.name == DUPLICATE_ORGANISATION) == 2

    (contact_list,) = app_ctx.scalars(sa.select(ContactList)).all()
    members = _count(app_ctx, ContactListMember, ContactListMember.list_id == contact_list.id)
    assert members == counts["contact_list_members"] > 0

    mail = dict(
        app_ctx.execute(
            sa.select(OutgoingMail.status, sa.func.count()).group_by(OutgoingMail.status)
        ).all()
    )
    assert mail["sent"] >= 2  # the setup test mail and the follow-up reminders
    assert mail == {"sent": mail["sent"], "failed": 1}
    failed = app_ctx.scalar(sa.select(OutgoingMail).where(OutgoingMail.status == "failed"))
    assert failed.recipient == MISTYPED_EMAIL
    assert counts["mails_failed"] == 2  # the bounced campaign delivery and the mistyped address
    # Sent mail lies in the development outbox, where the file pages show it.
    outbox = Path(app.config["CRM_MAIL_OUTBOX_DIR"])
    assert len(list(outbox.glob("*.eml"))) >= counts["mails_sent"]


def test_seed_demo_if_empty_loads_the_demo_once_and_then_leaves_the_database_alone(
    make_database: Any, tmp_path: Path
) -> None:
    from flask_migrate import upgrade

    from crm.extensions import db
    from tests.conftest import build_app

    app: Flask = build_app(make_database(), str(tmp_path))
    with app.app_context():
        upgrade()
    runner = app.test_cli_runner()

    first = runner.invoke(args=["crm", "seed-demo", "--if-empty"])
    assert first.exit_code == 0, first.output
    assert "Demodaten geladen" in first.output
    with app.app_context():
        tables = (User, Person, Organisation, Campaign, ImportJob, OutgoingMail, ContactList)
        before = {m.__name__: _count(db.session, m) for m in tables}
        files = len(list((tmp_path / "outbox").glob("*.eml")))

    second = runner.invoke(args=["crm", "seed-demo", "--if-empty"])
    assert second.exit_code == 0, second.output
    assert "keine Demodaten geladen" in second.output
    with app.app_context():
        assert {m.__name__: _count(db.session, m) for m in tables} == before
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == files


def test_seed_demo_links_in_its_mails_point_to_the_port_make_run_serves_on(
    make_database: Any, tmp_path: Path
) -> None:
    """`PORT=5001 make run` seeds before it serves: the demo's reminders must link to :5001."""
    from flask_migrate import upgrade

    from tests.conftest import build_app

    app: Flask = build_app(make_database(), str(tmp_path))
    with app.app_context():
        upgrade()
    result = app.test_cli_runner().invoke(
        args=["crm", "seed-demo", "--if-empty", "--host", "0.0.0.0", "--port", "5201"]  # noqa: S104
    )
    assert result.exit_code == 0, result.output
    mails = [path.read_bytes() for path in (tmp_path / "outbox").glob("*.eml")]
    reminders = [mail for mail in mails if b"/wiedervorlagen/" in mail]
    assert reminders
    assert all(b"http://127.0.0.1:5201/wiedervorlagen/" in mail for mail in reminders)
