"""ESF Plus rules: the entry data with the consent rule for disability, the results at exit,
the six-month follow-up and its result, and the indicator table for a period."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from sqlalchemy.orm import Session, joinedload

from crm.esf.models import (
    ENTRY_FLAGS,
    EXIT_RESULTS,
    ISCED_LEVELS,
    LABOUR_STATUSES,
    LONG_RESULTS,
    UNKNOWN,
    YES_NO,
    EsfRecord,
)
from crm.followups import service as followups
from crm.i18n import fmt_date
from crm.participants.models import GENDERS, Participant

P = Participant
E = EsfRecord

# Stored as data in the office's language, like the other case follow-ups' subjects; the
# pseudonym, not the name, because the subject travels in reminder e-mails.
FOLLOWUP_SUBJECT = "ESF Plus: Verbleib 6 Monate nach Austritt am %(date)s erfassen (%(pseudonym)s)"
FOLLOWUP_MONTHS = 6


class EsfError(ValueError):
    """A value the ESF rules do not allow (the views turn it into a form error)."""


def record_of(session: Session, participant: Participant) -> EsfRecord | None:
    """The participant's ESF record, if any was saved."""
    return session.scalar(sa.select(E).where(E.participant_id == participant.id))


def _ensure(session: Session, participant: Participant) -> EsfRecord:
    rec = record_of(session, participant)
    if rec is None:
        rec = EsfRecord(participant=participant)
        session.add(rec)
    return rec


def _check(value: str, allowed: Iterable[str], what: str) -> str:
    value = (value or "").strip()
    if value not in (*allowed, UNKNOWN, ""):
        raise EsfError(f"invalid {what} {value!r}")
    return value


# --- at entry -----------------------------------------------------------------------------------


def save_entry(
    session: Session,
    participant: Participant,
    data: dict[str, str],
    *,
    disability_consent_on: date | None,
) -> EsfRecord:
    """Save the entry data. Disability (Art. 9 GDPR) needs the date of its own consent.

    `disability_consent_on` None with a disability value refuses the save (EsfError); with the
    value left empty it keeps an earlier consent as it is (withdrawal is its own step).
    """
    rec = _ensure(session, participant)
    rec.labour_status = _check(data.get("labour_status", ""), LABOUR_STATUSES, "status")
    rec.isced = _check(data.get("isced", ""), ISCED_LEVELS, "ISCED level")
    for flag in ENTRY_FLAGS:
        setattr(rec, flag, _check(data.get(flag, ""), YES_NO, flag))
    disability = _check(data.get("disability", ""), YES_NO, "disability")
    if disability and disability_consent_on is None and rec.disability_consent_on is None:
        raise EsfError("disability without consent")
    if disability_consent_on is not None:
        rec.disability_consent_on = disability_consent_on
    rec.disability = disability if rec.disability_consent_on is not None else ""
    session.flush()
    return rec


def withdraw_disability_consent(session: Session, participant: Participant) -> None:
    """The consent for the disability datum is withdrawn: the value goes with it."""
    rec = record_of(session, participant)
    if rec is None:
        return
    rec.disability = ""
    rec.disability_consent_on = None
    session.flush()


def missing_entry_data(p: Participant, rec: EsfRecord | None) -> list[str]:
    """The ESF entry fields not recorded yet ("keine Angabe" counts as recorded)."""
    missing = []
    if p.birth_year is None:
        missing.append("birth_year")
    if not p.gender:
        missing.append("gender")
    for key in ("labour_status", "isced", *ENTRY_FLAGS):
        if rec is None or not getattr(rec, key):
            missing.append(key)
    return missing


# --- at exit ------------------------------------------------------------------------------------


def default_exit_results(outcome: str) -> set[str]:
    """What the exit outcome already says: employment, or education/training."""
    return {"employment": {"employment"}, "qualification": {"education"}}.get(outcome, set())


def exit_results(rec: EsfRecord | None) -> set[str]:
    """The immediate results ticked on the participant's exit."""
    if rec is None:
        return set()
    return {r for r in EXIT_RESULTS if getattr(rec, f"exit_{r}")}


def save_exit_results(session: Session, participant: Participant, results: Iterable[str]) -> None:
    """Tick the immediate results at exit (all cleared when the exit is withdrawn)."""
    chosen = set(results)
    if chosen - set(EXIT_RESULTS):
        raise EsfError(f"unknown results {sorted(chosen - set(EXIT_RESULTS))}")
    if participant.exit_on is None:
        chosen = set()
    rec = record_of(session, participant)
    if rec is None and not chosen:
        return
    rec = rec or _ensure(session, participant)
    for r in EXIT_RESULTS:
        setattr(rec, f"exit_{r}", r in chosen)
    session.flush()


# --- six months after the exit ------------------------------------------------------------------


def six_month_date(exit_on: date) -> date:
    """When the longer-term result is asked for: six months after the exit."""
    return exit_on + relativedelta(months=FOLLOWUP_MONTHS)


def keep_six_month_followup(participant: Participant, *, session: Session, **_kw: Any) -> None:
    """Create, move or cancel the counsellor's follow-up six months after the exit.

    Receiver of crm.signals.exit_changed. Idempotent: one follow-up per record, moved with the
    exit date, cancelled when the exit is withdrawn; none once the result is recorded.
    """
    rec = record_of(session, participant)
    fu = rec.followup if rec is not None and rec.followup_id is not None else None
    if participant.exit_on is None:
        if fu is not None and fu.is_open:
            followups.cancel(session, fu)
        if rec is not None:
            rec.followup = None
            for r in EXIT_RESULTS:
                setattr(rec, f"exit_{r}", False)
        session.flush()
        return
    due = six_month_date(participant.exit_on)
    subject = FOLLOWUP_SUBJECT % {
        "date": fmt_date(participant.exit_on),
        "pseudonym": participant.pseudonym,
    }
    if fu is not None and not fu.is_open:
        if followups.local_due(fu).date() == due or (rec is not None and rec.long_result):
            return  # done or cancelled by the counsellor for this very exit
        fu = None
    if rec is not None and rec.long_result:
        return
    rec = rec or _ensure(session, participant)
    if fu is None:
        rec.followup = followups.create_followup(
            session,
            subject=subject,
            due_date=due,
            assignee=participant.counsellor,
            participant=participant,
        )
    else:
        followups.update_followup(
            session,
            fu,
            subject=subject,
            note=fu.note,
            due_date=due,
            due_time=None,
            priority=fu.priority,
        )
        followups.reassign(session, fu, participant.counsellor)
    session.flush()


def record_long_result(
    session: Session,
    participant: Participant,
    result: str,
    on: date | None,
    *,
    by: Any = None,
    now: datetime,
) -> EsfRecord:
    """Record the result six months after the exit ("" clears it); closes the follow-up."""
    if result and result not in LONG_RESULTS:
        raise EsfError(f"unknown result {result!r}")
    if result and (on is None or participant.exit_on is None or on < participant.exit_on):
        raise EsfError("result needs a date after the exit")
    rec = _ensure(session, participant)
    rec.long_result = result
    rec.long_result_on = on if result else None
    if result and rec.followup is not None and rec.followup.is_open:
        followups.mark_done(session, rec.followup, by=by, now=now)
    session.flush()
    return rec


# --- the indicator table ------------------------------------------------------------------------

GENDER_COLUMNS = (*GENDERS, "")


@dataclass
class IndicatorRow:
    """One ESF Plus indicator: counts by gender (female, male, diverse, "" = not stated)."""

    key: str
    group: str  # "entry" | "exit" | "long"
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _flag(condition: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _office_clause(offices: list[int] | None) -> Any:
    if offices is None:
        return sa.true()
    return P.office_id.in_(offices or [-1])


def _entry_indicators() -> list[tuple[str, Any]]:
    age = sa.extract("year", P.entry_on) - P.birth_year
    return [
        ("entries", sa.func.count()),
        ("unemployed", _flag(E.labour_status.in_(("unemployed", "long_term_unemployed")))),
        ("long_term_unemployed", _flag(E.labour_status == "long_term_unemployed")),
        ("inactive", _flag(E.labour_status == "inactive")),
        ("employed", _flag(E.labour_status.in_(("employed", "self_employed")))),
        ("age_under_18", _flag(age < 18)),
        ("age_18_29", _flag(age.between(18, 29))),
        ("age_30_54", _flag(age.between(30, 54))),
        ("age_55_plus", _flag(age >= 55)),
        ("age_unknown", _flag(P.birth_year.is_(None))),
        *((level, _flag(E.isced == level)) for level in ISCED_LEVELS),
        *((flag, _flag(getattr(E, flag) == "yes")) for flag in ENTRY_FLAGS),
        ("disability", _flag(E.disability == "yes")),
    ]


def _exit_indicators() -> list[tuple[str, Any]]:
    return [
        ("exits", sa.func.count()),
        *((f"exit_{r}", _flag(getattr(E, f"exit_{r}").is_(True))) for r in EXIT_RESULTS),
    ]


def _long_indicators() -> list[tuple[str, Any]]:
    return [
        ("long_checks", sa.func.count()),
        *((f"long_{r}", _flag(E.long_result == r)) for r in LONG_RESULTS),
    ]


def _grouped(
    session: Session, group: str, indicators: list[tuple[str, Any]], stmt: sa.Select
) -> list[IndicatorRow]:
    rows = [IndicatorRow(key, group, dict.fromkeys(GENDER_COLUMNS, 0)) for key, _c in indicators]
    for gender, *values in session.execute(stmt.group_by(P.gender)):
        column = gender if gender in GENDERS else ""
        for row, value in zip(rows, values, strict=True):
            row.counts[column] += int(value or 0)
    return rows


def indicator_table(
    session: Session, *, start: date, end: date, offices: list[int] | None
) -> list[IndicatorRow]:
    """The ESF Plus common indicators for the period start..end (both days included).

    Three GROUP BY queries: entries in the period (output indicators), exits in the period
    (immediate results), six-month results dated in the period (longer-term results).
    """
    scope = _office_clause(offices)
    entry = _entry_indicators()
    rows = _grouped(
        session,
        "entry",
        entry,
        sa.select(P.gender, *(c for _k, c in entry))
        .select_from(P)
        .outerjoin(E, E.participant_id == P.id)
        .where(P.entry_on.between(start, end), scope),
    )
    exit_ = _exit_indicators()
    rows += _grouped(
        session,
        "exit",
        exit_,
        sa.select(P.gender, *(c for _k, c in exit_))
        .select_from(P)
        .outerjoin(E, E.participant_id == P.id)
        .where(P.exit_on.between(start, end), scope),
    )
    long_ = _long_indicators()
    rows += _grouped(
        session,
        "long",
        long_,
        sa.select(P.gender, *(c for _k, c in long_))
        .select_from(E)
        .join(P, P.id == E.participant_id)
        .where(E.long_result_on.between(start, end), scope),
    )
    return rows


def protect(n: int, threshold: int) -> int | str:
    """Small-number protection for exports: 1..threshold-1 shown as "< threshold"."""
    if 0 < n < threshold:
        return f"< {threshold}"
    return n


# Special-category data: protected in exports even when the configured threshold is lower.
DISABILITY_MIN_CELL = 3


def protected_row(row: IndicatorRow, threshold: int) -> list[int | str]:
    """The row's cells (genders, then total) as an export shows them."""
    if row.key == "disability":
        threshold = max(threshold, DISABILITY_MIN_CELL)
    return [protect(row.counts[g], threshold) for g in GENDER_COLUMNS] + [
        protect(row.total, threshold)
    ]


@dataclass(frozen=True)
class Incomplete:
    participant: Participant
    missing: list[str]


# The completeness check lists at most this many participants (the page says so).
INCOMPLETE_LIMIT = 200


def incomplete_entries(
    session: Session,
    *,
    start: date,
    end: date,
    offices: list[int] | None,
    limit: int = INCOMPLETE_LIMIT,
) -> list[Incomplete]:
    """Participants entered in the period (in `offices`, not erased) with ESF data missing."""
    missing_any = sa.or_(
        P.birth_year.is_(None),
        P.gender == "",
        E.id.is_(None),
        E.labour_status == "",
        E.isced == "",
        *(getattr(E, flag) == "" for flag in ENTRY_FLAGS),
    )
    pairs = session.execute(
        sa.select(P, E)
        .outerjoin(E, E.participant_id == P.id)
        .where(
            P.entry_on.between(start, end),
            P.erased_at.is_(None),
            _office_clause(offices),
            missing_any,
        )
        # The check names whom to ask: the counsellor and the office of each participant.
        .options(joinedload(P.counsellor), joinedload(P.office))
        .order_by(P.sort_name, P.id)
        .limit(limit)
    ).all()
    return [Incomplete(p, missing_entry_data(p, rec)) for p, rec in pairs]


# --- other domains ------------------------------------------------------------------------------


def plan_erasure(session: Session, *, plan: Any) -> None:
    """An erased participant's ESF data go entirely (the counts of past reports change)."""
    if plan.subject.kind != "participant":
        return
    ids = session.scalars(sa.select(E.id).where(E.participant_id == plan.subject.id))
    plan.delete(EsfRecord, ids, "esf", order=20)


def connect_signals() -> None:
    """Keep the six-month follow-up whenever an exit is recorded, moved or withdrawn."""
    from crm.signals import exit_changed

    exit_changed.connect(keep_six_month_followup)
