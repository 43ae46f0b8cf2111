"""Retention: records are marked due N years after exit and erased only after an admin's review."""

from __future__ import annotations

from datetime import date

from crm.jobs.periodic import erase_due_participants
from crm.participants.models import Participant
from crm.privacy import service
from crm.privacy.models import RetentionReview
from tests.dashboard_helpers import entered_on, office_and_counsellor


def _exited(s, exit_on, name):
    office, counsellor = office_and_counsellor(s)
    return entered_on(
        s,
        date(2019, 12, 2),
        office=office,
        counsellor=counsellor,
        last_name=name,
        first_contact_on=date(2019, 12, 1),
        exit_on=exit_on,
        outcome="employment",
    )


def test_participants_are_marked_due_five_years_after_exit(app_ctx, frozen_time):
    s = app_ctx
    old = _exited(s, date(2021, 11, 21), "Altfall")  # exactly five years before 21.11.2026
    young = _exited(s, date(2021, 11, 22), "Jungfall")
    assert service.mark_due(s, today=date(2026, 11, 21), years=5) == 1
    review = s.query(RetentionReview).one()
    assert review.participant_id == old.id
    assert review.status == "pending"
    s.expire_all()
    assert s.get(Participant, old.id).erase_after == date(2026, 11, 21)
    # Marking is idempotent; the next day the younger one follows.
    assert service.mark_due(s, today=date(2026, 11, 21), years=5) == 0
    assert service.mark_due(s, today=date(2026, 11, 22), years=5) == 1
    assert young.erased_at is None


def test_the_job_erases_only_what_an_admin_approved(app, app_ctx, frozen_time):
    s = app_ctx
    a = _exited(s, date(2020, 1, 10), "Freigabefall")
    b = _exited(s, date(2020, 1, 10), "Wartefall")
    service.mark_due(s, today=date(2026, 11, 21), years=5)
    reviews = {r.participant_id: r for r in s.query(RetentionReview)}
    service.decide(s, reviews[a.id], "approve", user_id=None, today=date(2026, 11, 21))
    assert service.erase_approved(s) == 1
    s.refresh(a)
    s.refresh(b)
    assert a.erased_at is not None
    assert a.last_name == ""
    assert b.erased_at is None
    assert reviews[a.id].status == "done"


def test_postponed_reviews_come_back_after_a_year(app_ctx):
    s = app_ctx
    a = _exited(s, date(2020, 1, 10), "Aufschubfall")
    service.mark_due(s, today=date(2026, 11, 21), years=5)
    review = s.query(RetentionReview).filter_by(participant_id=a.id).one()
    service.decide(s, review, "postpone", user_id=None, today=date(2026, 11, 21))
    assert review.status == "postponed"
    service.mark_due(s, today=date(2027, 11, 20), years=5)
    s.refresh(review)
    assert review.status == "postponed"
    service.mark_due(s, today=date(2027, 11, 21), years=5)
    s.refresh(review)
    assert review.status == "pending"


def test_the_scheduled_job_runs_against_the_database(app, db_session, frozen_time):
    result = erase_due_participants(app)
    assert set(result) == {"marked", "erased"}


def test_an_admin_reviews_on_the_privacy_page(client_as, db_session, frozen_time):
    s = db_session
    a = _exited(s, date(2020, 1, 10), "Seitenfall")
    service.mark_due(s, today=date(2026, 11, 21), years=5)
    s.commit()
    admin = client_as("admin")
    html = admin.get("/datenschutz/").get_data(as_text=True)
    assert "Seitenfall" in html
    review = s.query(RetentionReview).filter_by(participant_id=a.id).one()
    assert (
        admin.post(f"/datenschutz/pruefung/{review.id}", data={"decision": "erase"}).status_code
        == 302
    )
    s.expire_all()
    assert s.get(Participant, a.id).erased_at is not None
    assert "Seitenfall" not in admin.get("/datenschutz/").get_data(as_text=True)


def test_the_nightly_job_erases_an_approved_review_with_retention_as_the_legal_basis(
    app, db_session, frozen_time
):
    from crm.privacy.models import ErasureRecord
    from tests import factories

    s = db_session
    admin = factories.make_user(s, role="admin")
    a = _exited(s, date(2020, 1, 10), "Nachtfall")
    service.mark_due(s, today=date(2026, 11, 21), years=5)
    review = s.query(RetentionReview).filter_by(participant_id=a.id).one()
    service.decide(s, review, "approve", user_id=admin.id, today=date(2026, 11, 21))
    s.commit()
    assert erase_due_participants(app)["erased"] == 1
    s.expire_all()
    assert s.get(Participant, a.id).erased_at is not None
    rec = s.query(ErasureRecord).filter_by(subject_type="participant", subject_id=a.id).one()
    assert rec.legal_basis == "retention"
    assert rec.requested_by_id == admin.id
    assert "participant" in rec.categories
