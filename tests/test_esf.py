"""ESF Plus rules: the indicator figures of a known data set, the disability consent rule, the
six-month follow-up (created, moved, removed), small-number protection and the completeness
check."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.dashboard.weeks import BERLIN
from crm.database import utcnow
from crm.esf import service
from crm.esf.models import EsfRecord
from crm.followups.models import FollowUp
from crm.participants import service as participants
from tests import factories
from tests.factories import make_participant

START, END = date(2026, 1, 1), date(2026, 12, 31)


@pytest.fixture
def office(db_session):
    return factories.make_office(db_session)


def entered(db_session, office, *, on=date(2026, 3, 2), **fields):
    """A participant whose counselling passed 8 hours on `on` (the entry date)."""
    return make_participant(
        db_session,
        office=office,
        sessions=((on, 9 * 60),),
        first_contact_on=date(2026, 1, 5),
        **fields,
    )


def esf_entry(db_session, p, **data):
    consent = data.pop("consent_on", None)
    return service.save_entry(db_session, p, data, disability_consent_on=consent)


def counts(rows, key):
    row = next(r for r in rows if r.key == key)
    return {**row.counts, "total": row.total}


def test_the_indicator_table_counts_a_known_data_set_by_gender(db_session, office):
    a = entered(db_session, office, gender="female", birth_year=1990)  # 36 at entry
    esf_entry(
        db_session,
        a,
        labour_status="long_term_unemployed",
        isced="isced_5_8",
        third_country="yes",
        rural="no",
        disability="yes",
        consent_on=date(2026, 3, 2),
    )
    b = entered(db_session, office, gender="female", birth_year=2000)  # 26
    esf_entry(db_session, b, labour_status="unemployed", isced="isced_3_4", third_country="yes")
    c = entered(db_session, office, gender="male", birth_year=1965)  # 61
    esf_entry(db_session, c, labour_status="employed", isced="unknown", homeless="yes")
    d = entered(db_session, office, gender="", birth_year=None)  # no ESF record at all
    e = entered(db_session, office, gender="diverse", birth_year=2010)  # 16
    esf_entry(db_session, e, labour_status="inactive", minority="yes", foreign_background="yes")
    # Outside the period or office: never counted.
    entered(db_session, office, on=date(2025, 12, 1), gender="male")
    entered(db_session, factories.make_office(db_session), gender="male")
    # Exits in the period with their immediate results; one six-month result.
    participants.record_exit(db_session, a, exit_on=date(2026, 4, 1), outcome="employment")
    service.save_exit_results(db_session, a, ["employment", "qualification"])
    participants.record_exit(db_session, c, exit_on=date(2026, 5, 1), outcome="other")
    service.save_exit_results(db_session, c, ["job_searching"])
    service.record_long_result(db_session, a, "employment", date(2026, 10, 1), now=utcnow())
    assert d is not None

    rows = service.indicator_table(db_session, start=START, end=END, offices=[office.id])

    assert counts(rows, "entries") == {"female": 2, "male": 1, "diverse": 1, "": 1, "total": 5}
    assert counts(rows, "unemployed")["female"] == 2
    assert counts(rows, "long_term_unemployed")["total"] == 1
    assert counts(rows, "employed") == {"female": 0, "male": 1, "diverse": 0, "": 0, "total": 1}
    assert counts(rows, "inactive")["diverse"] == 1
    assert counts(rows, "age_under_18")["total"] == 1
    assert counts(rows, "age_18_29")["female"] == 1
    assert counts(rows, "age_30_54")["female"] == 1
    assert counts(rows, "age_55_plus")["male"] == 1
    assert counts(rows, "age_unknown")[""] == 1
    assert counts(rows, "isced_5_8")["total"] == 1
    assert counts(rows, "isced_0_2")["total"] == 0
    assert counts(rows, "third_country")["female"] == 2
    assert counts(rows, "homeless")["male"] == 1
    assert counts(rows, "minority")["diverse"] == 1
    assert counts(rows, "foreign_background")["total"] == 1
    assert counts(rows, "rural")["total"] == 0
    assert counts(rows, "disability")["female"] == 1
    assert counts(rows, "exits")["total"] == 2
    assert counts(rows, "exit_employment")["female"] == 1
    assert counts(rows, "exit_qualification")["total"] == 1
    assert counts(rows, "exit_job_searching")["male"] == 1
    assert counts(rows, "exit_education")["total"] == 0
    assert counts(rows, "long_checks")["total"] == 1
    assert counts(rows, "long_employment")["female"] == 1


def test_the_indicator_table_is_three_grouped_queries_however_many_participants(
    db_session, office, count_queries
):
    for i in range(6):
        p = entered(db_session, office, gender=("female", "male", "")[i % 3], birth_year=1990)
        esf_entry(db_session, p, labour_status="unemployed")
    db_session.flush()
    with count_queries() as statements:
        service.indicator_table(db_session, start=START, end=END, offices=[office.id])
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3
    assert all("GROUP BY" in s.upper() for s in selects)


def test_a_disability_cannot_be_stored_without_consent(db_session, office):
    p = entered(db_session, office)
    with pytest.raises(service.EsfError):
        esf_entry(db_session, p, disability="yes")
    # The database refuses it too, whatever writes the row.
    rec = esf_entry(db_session, p, labour_status="inactive")
    with pytest.raises(sa.exc.IntegrityError), db_session.begin_nested():
        db_session.execute(
            sa.update(EsfRecord).where(EsfRecord.id == rec.id).values(disability="yes")
        )
    db_session.refresh(rec)
    assert rec.disability == ""


def test_withdrawing_the_consent_clears_the_disability(db_session, office):
    p = entered(db_session, office)
    esf_entry(db_session, p, disability="yes", consent_on=date(2026, 3, 1))
    # A later save without ticking the consent again keeps the consent on record.
    rec = esf_entry(db_session, p, disability="yes", labour_status="employed")
    assert (rec.disability, rec.disability_consent_on) == ("yes", date(2026, 3, 1))
    service.withdraw_disability_consent(db_session, p)
    assert (rec.disability, rec.disability_consent_on) == ("", None)


def _six_month_followups(db_session, p):
    return list(
        db_session.scalars(
            sa.select(FollowUp).where(
                FollowUp.participant_id == p.id, FollowUp.subject.like("ESF%")
            )
        )
    )


def test_an_exit_creates_one_follow_up_six_months_later_moved_and_removed_with_the_exit(
    db_session, office
):
    p = entered(db_session, office)
    participants.record_exit(db_session, p, exit_on=date(2026, 4, 30), outcome="employment")
    participants.record_exit(db_session, p, exit_on=date(2026, 4, 30), outcome="employment")
    (fu,) = _six_month_followups(db_session, p)
    assert fu.status == "open"
    assert fu.assignee_id == p.counsellor_id
    assert service.six_month_date(date(2026, 4, 30)) == date(2026, 10, 30)
    assert fu.due_at.astimezone(BERLIN).date() == date(2026, 10, 30)

    participants.record_exit(db_session, p, exit_on=date(2026, 5, 15), outcome="employment")
    (fu,) = _six_month_followups(db_session, p)
    assert fu.due_at.astimezone(BERLIN).date() == date(2026, 11, 15)

    participants.record_exit(db_session, p, exit_on=None)
    (fu,) = _six_month_followups(db_session, p)
    assert fu.status == "cancelled"
    assert (
        db_session.scalar(sa.select(EsfRecord.followup_id).where(EsfRecord.participant_id == p.id))
        is None
    )


def test_recording_the_six_month_result_closes_the_follow_up(db_session, office):
    p = entered(db_session, office)
    participants.record_exit(db_session, p, exit_on=date(2026, 4, 30), outcome="other")
    service.record_long_result(db_session, p, "improved", date(2026, 11, 2), now=utcnow())
    (fu,) = _six_month_followups(db_session, p)
    assert fu.status == "done"
    with pytest.raises(service.EsfError):
        service.record_long_result(db_session, p, "employment", date(2026, 1, 1), now=utcnow())


@pytest.mark.parametrize(
    ("n", "threshold", "shown"), [(0, 3, 0), (1, 3, "< 3"), (2, 3, "< 3"), (3, 3, 3), (4, 5, "< 5")]
)
def test_small_numbers_are_shown_as_less_than_the_threshold(n, threshold, shown):
    assert service.protect(n, threshold) == shown


def test_the_disability_row_is_protected_even_with_a_lower_threshold():
    row = service.IndicatorRow("disability", "entry", {"female": 2, "male": 0, "diverse": 0, "": 0})
    assert service.protected_row(row, 1) == ["< 3", 0, 0, 0, "< 3"]
    other = service.IndicatorRow("rural", "entry", {"female": 2, "male": 0, "diverse": 0, "": 0})
    assert service.protected_row(other, 1) == [2, 0, 0, 0, 2]


def test_the_completeness_check_lists_entries_with_missing_data_in_the_offices_given(
    db_session, office
):
    complete = entered(db_session, office, gender="male", birth_year=1990)
    esf_entry(
        db_session,
        complete,
        labour_status="unknown",
        isced="unknown",
        third_country="no",
        foreign_background="unknown",
        minority="unknown",
        homeless="no",
        rural="no",
    )
    missing = entered(db_session, office, gender="female", birth_year=1990)
    esf_entry(db_session, missing, labour_status="unemployed")
    elsewhere = entered(db_session, factories.make_office(db_session))

    found = service.incomplete_entries(db_session, start=START, end=END, offices=[office.id])

    assert [i.participant.id for i in found] == [missing.id]
    assert "isced" in found[0].missing
    assert "labour_status" not in found[0].missing
    assert elsewhere.id not in [
        i.participant.id
        for i in service.incomplete_entries(db_session, start=START, end=END, offices=[office.id])
    ]


def test_erasing_a_participant_removes_her_esf_plus_data(app_ctx, office):
    from crm.privacy import service as privacy

    s = app_ctx
    p = entered(s, office)
    esf_entry(s, p, labour_status="unemployed", disability="yes", consent_on=date(2026, 3, 1))
    participants.record_exit(s, p, exit_on=date(2026, 4, 30), outcome="employment")
    privacy.erase_participant(s, p)
    assert s.scalar(sa.select(EsfRecord).where(EsfRecord.participant_id == p.id)) is None


def test_the_pseudonymised_export_never_carries_esf_plus_data():
    from crm.dashboard.service import PSEUDONYM_FIELDS

    assert not set(PSEUDONYM_FIELDS) & {"disability", "labour_status", "isced", "minority"}
