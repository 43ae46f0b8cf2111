"""Placement rules: who sees which placement, the internship's follow-up, the exit's placement,
and matching a firm's qualification need with participants (and a participant with needs).

Every query over placements goes through the participants' access scope
(`crm.participants.service.scope_participants`): a placement of a participant the user may not
see does not exist for them; on a firm's page such placements are only counted.

Matching is deliberately simple and explainable: each point a suggestion gets comes with the
sentence that says why, and a participant is suggested to a firm only with a valid release
from confidentiality for that firm on the day (`valid_release_clause`, the referral rule).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, joinedload

from crm.accounts.models import Office, User
from crm.contacts import service as contacts
from crm.contacts.models import Organisation, Person, QualificationNeed
from crm.contacts.normalize import fold
from crm.followups import service as followups
from crm.i18n import fmt_date
from crm.participants import service as participants
from crm.participants.models import LANGUAGE_LEVELS, ConsentRelease, Participant
from crm.placements.models import (
    PLACEMENT_KINDS,
    PLACEMENT_STATUSES,
    TRAINING_STATUSES,
    FirmSupport,
    Placement,
)
from crm.security import has_permission
from crm.signals import MergeImpact, RowChange, delete_impact, deleting, merging, move_column

# The internship's follow-up falls due this many days before its end (CRM_INTERNSHIP_LEAD_DAYS).
INTERNSHIP_LEAD_DAYS = 7
# Placements that still run or are about to: they keep their follow-up and count as "placed".
CURRENT_STATUSES = ("planned", "active")
# Exit outcomes that name the placement they led to.
PLACEMENT_OUTCOMES = ("employment", "qualification")
# Bounded output of the matching pages; the candidates scored in Python are bounded too.
SUGGESTION_LIMIT = 20
NEED_CANDIDATE_LIMIT = 5000
# Stored subject (data, in the office's language like the case follow-ups): the pseudonym,
# never the name, because the subject travels in reminder e-mails.
INTERNSHIP_SUBJECT = "Praktikum endet am %(date)s (%(pseudonym)s)"


class PlacementError(ValueError):
    """A change breaks a placement rule."""


# --- access -------------------------------------------------------------------------------------


def visible_placements(user: Any) -> sa.Select:
    """`select(Placement)` of the placements whose participant `user` may see."""
    stmt = sa.select(Placement).join(Participant, Placement.participant_id == Participant.id)
    return participants.scope_participants(stmt, user)


def get_placement(session: Session, user: Any, placement_id: int) -> Placement | None:
    """The placement if `user` may see its participant, else None."""
    return session.scalar(
        visible_placements(user)
        .where(Placement.id == placement_id)
        .options(joinedload(Placement.organisation), joinedload(Placement.participant))
    )


def placements_of(session: Session, participant: Participant) -> list[Placement]:
    """A participant's placements, the latest start first (the caller checked the scope)."""
    return list(
        session.scalars(
            sa.select(Placement)
            .where(Placement.participant_id == participant.id)
            .options(joinedload(Placement.organisation), joinedload(Placement.need))
            .order_by(Placement.starts_on.desc(), Placement.id.desc())
        )
    )


@dataclass
class FirmPlacements:
    """The placements at one firm that the user may see, and how many others exist."""

    items: list[Placement]
    hidden: int


def organisation_placements(
    session: Session, user: Any, organisation_id: int, *, limit: int = 50
) -> FirmPlacements:
    """Placements at the firm: named where the user may see the participant, else counted."""
    items = list(
        session.scalars(
            visible_placements(user)
            .where(Placement.organisation_id == organisation_id)
            .options(joinedload(Placement.participant))
            .order_by(Placement.starts_on.desc(), Placement.id.desc())
            .limit(limit)
        )
    )
    total = session.scalar(
        sa.select(sa.func.count(Placement.id)).where(Placement.organisation_id == organisation_id)
    )
    visible = session.scalar(
        visible_placements(user)
        .where(Placement.organisation_id == organisation_id)
        .with_only_columns(sa.func.count(Placement.id))
    )
    return FirmPlacements(items, int(total or 0) - int(visible or 0))


@dataclass(frozen=True)
class PlacementFilters:
    kind: str = ""
    status: str = ""
    office_id: int | None = None
    start: date | None = None
    end: date | None = None
    # The funder report's count: placements starting within the period, not cancelled
    # (instead of those running at some time within it).
    started: bool = False


def _placement_query(user: Any, f: PlacementFilters, *, erased: bool = False) -> sa.Select:
    stmt = sa.select(Placement).join(Participant, Placement.participant_id == Participant.id)
    stmt = participants.scope_participants(stmt, user, include_erased=erased)
    if erased:
        stmt = stmt.where(Participant.erased_at.is_not(None))
    if f.kind:
        stmt = stmt.where(Placement.kind == f.kind)
    if f.status:
        stmt = stmt.where(Placement.status == f.status)
    if f.office_id:
        stmt = stmt.where(Participant.office_id == f.office_id)
    if f.end:
        stmt = stmt.where(Placement.starts_on <= f.end)
    if f.started:
        stmt = stmt.where(Placement.status != "cancelled")
        if f.start:
            stmt = stmt.where(Placement.starts_on >= f.start)
    elif f.start:
        stmt = stmt.where(sa.or_(Placement.ends_on.is_(None), Placement.ends_on >= f.start))
    return stmt


def count_erased_placements(session: Session, user: Any, f: PlacementFilters) -> int:
    """How many placements of erased participants match the filters: they stay (kind, firm,
    dates) and the funder report counts them; the list cannot show them."""
    stmt = _placement_query(user, f, erased=True)
    return int(session.scalar(stmt.with_only_columns(sa.func.count(Placement.id))) or 0)


def list_placements(
    session: Session, user: Any, f: PlacementFilters, *, page: int = 1, per_page: int = 50
) -> tuple[list[Placement], int]:
    """A page of the visible placements matching the filters, and their total.

    The period selects placements that run at some time within it (start before its end,
    end after its start or open); with `started`, those that start within it and are not
    cancelled, as the funder report counts them.
    """
    stmt = _placement_query(user, f)
    total = session.scalar(stmt.with_only_columns(sa.func.count(Placement.id))) or 0
    items = list(
        session.scalars(
            stmt.options(
                joinedload(Placement.organisation),
                joinedload(Placement.participant).joinedload(Participant.office),
            )
            .order_by(Placement.starts_on.desc(), Placement.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return items, int(total)


# --- changes ------------------------------------------------------------------------------------


def save_placement(
    session: Session,
    participant: Participant,
    *,
    organisation: Organisation,
    kind: str,
    status: str,
    starts_on: date,
    ends_on: date | None = None,
    note: str = "",
    need: QualificationNeed | None = None,
    placement: Placement | None = None,
    today: date,
    lead_days: int = INTERNSHIP_LEAD_DAYS,
    by: User | None = None,
) -> Placement:
    """Create or update a placement; an internship keeps its follow-up before the end.

    Only a change of kind, status or end touches the follow-up, so saving an unchanged
    internship does not bring back a follow-up the counsellor has already done.
    """
    if kind not in PLACEMENT_KINDS:
        raise PlacementError(f"unknown kind {kind!r}")
    if status not in PLACEMENT_STATUSES:
        raise PlacementError(f"unknown status {status!r}")
    if kind == "internship" and ends_on is None:
        raise PlacementError("an internship needs its end")
    if ends_on is not None and ends_on < starts_on:
        raise PlacementError("end before start")
    if need is not None and need.organisation_id != organisation.id:
        raise PlacementError("the need belongs to another organisation")
    p = placement or Placement(participant_id=participant.id)
    if p.participant_id != participant.id:
        raise PlacementError("the placement belongs to another participant")
    before = (p.kind, p.status, p.ends_on) if placement is not None else None
    p.organisation_id = organisation.id
    p.need_id = need.id if need is not None else None
    p.kind = kind
    p.status = status
    p.starts_on = starts_on
    p.ends_on = ends_on
    p.note = note.strip()
    if placement is None:
        session.add(p)
    session.flush()
    if before != (p.kind, p.status, p.ends_on):
        keep_internship_followup(session, p, participant, today=today, lead_days=lead_days, by=by)
    return p


def internship_due_date(ends_on: date, lead_days: int, today: date) -> date:
    """When the internship's follow-up falls due: `lead_days` before the end, not before today."""
    return max(ends_on - timedelta(days=max(lead_days, 0)), min(today, ends_on))


def keep_internship_followup(
    session: Session,
    placement: Placement,
    participant: Participant,
    *,
    today: date,
    lead_days: int = INTERNSHIP_LEAD_DAYS,
    by: User | None = None,
) -> None:
    """Create, move or cancel the follow-up of a running internship for the counsellor."""
    fu = placement.followup if placement.followup_id is not None else None
    if fu is not None and not fu.is_open:
        fu = None
    wanted = (
        placement.kind == "internship"
        and placement.status in CURRENT_STATUSES
        and placement.ends_on is not None
    )
    if not wanted:
        if fu is not None:
            followups.cancel(session, fu)
        return
    assert placement.ends_on is not None
    due = internship_due_date(placement.ends_on, lead_days, today)
    subject = INTERNSHIP_SUBJECT % {
        "date": fmt_date(placement.ends_on),
        "pseudonym": participant.pseudonym,
    }
    if fu is None:
        placement.followup = followups.create_followup(
            session,
            subject=subject,
            due_date=due,
            assignee=participant.counsellor,
            created_by=by,
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


# --- the exit names its placement ---------------------------------------------------------------


def exit_placement_choices(session: Session, participant: Participant) -> list[Placement]:
    """The placements an exit into work or qualification may name (not cancelled ones)."""
    return [p for p in placements_of(session, participant) if p.status != "cancelled"]


def set_exit_placement(
    session: Session, participant: Participant, placement_id: int | None
) -> Participant:
    """Name the placement the exit led to; only for an exit into work or qualification."""
    if participant.exit_on is None or participant.exit_outcome not in PLACEMENT_OUTCOMES:
        placement_id = None
    if placement_id is not None:
        placement = session.get(Placement, placement_id)
        if placement is None or placement.participant_id != participant.id:
            raise PlacementError("the placement belongs to another participant")
        if placement.status == "planned":
            # An exit into work or qualification at this placement says it has begun.
            placement.status = "active"
    participant.exit_placement_id = placement_id
    session.flush()
    return participant


# --- matching -----------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about the occupation ("Fachkraft für …", "m/w/d").
_STOPWORDS = frozenset(
    {"und", "oder", "fuer", "der", "die", "das", "mit", "im", "in", "von", "mwd", "m", "w", "d"}
)
# Word parts shorter than this do not count as "contained" (avoids "it" in "mitarbeiter").
_MIN_PART = 5
LEVEL_RANK = {level: i + 1 for i, level in enumerate(LANGUAGE_LEVELS)}
RECOGNITION_POINTS = {"full": 15, "partial": 10, "in_progress": 5}
RECOGNITION_REASONS = {
    "full": _l("Qualification fully recognised"),
    "partial": _l("Qualification partly recognised"),
    "in_progress": _l("Recognition in progress"),
}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(fold(text)) if w not in _STOPWORDS and len(w) > 1}


@functools.lru_cache(maxsize=4096)
def text_overlap(a: str, b: str) -> int:
    """How well two job titles match: 2 = one contains the other, 1 = a shared word (or a word
    of one inside a word of the other, as in "Pflegefachkraft" / "Pflege"), 0 = nothing."""
    fa, fb = fold(a), fold(b)
    if not fa or not fb:
        return 0
    if fa in fb or fb in fa:
        return 2
    wa, wb = _words(a), _words(b)
    if wa & wb:
        return 1
    for x in wa:
        for y in wb:
            if (len(x) >= _MIN_PART and x in y) or (len(y) >= _MIN_PART and y in x):
                return 1
    return 0


@dataclass
class Candidate:
    """The fields matching reads of a participant (loaded as plain columns, not objects)."""

    id: int
    profession: str
    target_field: str
    recognition_status: str
    language_level: str
    city: str
    office_id: int
    office_city: str
    office_name: str


@dataclass
class Score:
    points: int = 0
    reasons: list[Any] = field(default_factory=list)
    # The occupation matched the profession or target field: without it nothing is suggested.
    fits: bool = False


def fits(occupation: str, profession: str, target_field: str) -> bool:
    """The occupation matches the profession or the target field (else nothing is suggested)."""
    return bool(text_overlap(occupation, profession) or text_overlap(occupation, target_field))


def score(
    c: Candidate, occupation: str, required_level: str, org_city: str, org_region: str
) -> Score:
    """Points and the reasons for them, for one participant and one need."""
    s = Score()
    # Cached: a page scores thousands of rows that share a few dozen job titles.
    prof = text_overlap(occupation, c.profession)
    if prof:
        s.points += 40 if prof == 2 else 25
        s.reasons.append(
            _l(
                "Profession “%(profession)s” fits “%(occupation)s”",
                profession=c.profession,
                occupation=occupation,
            )
        )
    target = text_overlap(occupation, c.target_field)
    if target:
        s.points += 20 if target == 2 else 10
        s.reasons.append(_l("Target field “%(field)s” fits", field=c.target_field))
    s.fits = bool(prof or target)
    if c.recognition_status in RECOGNITION_POINTS:
        s.points += RECOGNITION_POINTS[c.recognition_status]
        s.reasons.append(RECOGNITION_REASONS[c.recognition_status])
    have = LEVEL_RANK.get(c.language_level, 0)
    if required_level:
        need = LEVEL_RANK[required_level]
        if have >= need:
            s.points += 15
            s.reasons.append(
                _l(
                    "German %(level)s (required: %(required)s)",
                    level=c.language_level,
                    required=required_level,
                )
            )
        else:
            s.points -= 10 * (need - have)
            s.reasons.append(
                _l(
                    "German %(level)s, below the required %(required)s",
                    level=c.language_level or "–",
                    required=required_level,
                )
            )
    elif have:
        s.points += 2 * have
        s.reasons.append(_l("German %(level)s", level=c.language_level))
    places = {fold(org_city), fold(org_region)} - {""}
    if c.city and fold(c.city) in places:
        s.points += 10
        s.reasons.append(_l("Lives in %(city)s", city=c.city))
    elif places & ({fold(c.office_city), fold(c.office_name)} - {""}):
        s.points += 5
        s.reasons.append(_l("Counselled in the office %(office)s nearby", office=c.office_name))
    return s


@dataclass
class Suggestion:
    participant: Participant
    points: int
    reasons: list[Any]


@dataclass
class NeedSuggestions:
    """Suggested participants for a need, and how many fitting ones lack a valid release."""

    items: list[Suggestion]
    without_release: int
    required_level: str = ""


def _candidates_stmt(user: Any) -> sa.Select:
    """Plain columns of the participants `user` may see who have not left (no exit)."""
    stmt = (
        sa.select(
            Participant.id,
            Participant.profession,
            Participant.target_field,
            Participant.recognition_status,
            Participant.language_level,
            Participant.city,
            Participant.office_id,
            Office.city,
            Office.name,
        )
        .join(Office, Office.id == Participant.office_id)
        .where(Participant.exit_on.is_(None))
    )
    return participants.scope_participants(stmt, user)


def suggest_for_need(
    session: Session,
    user: Any,
    need: QualificationNeed,
    *,
    on: date,
    limit: int = SUGGESTION_LIMIT,
) -> NeedSuggestions:
    """The best-fitting participants for a need, each with the reasons, best first.

    The candidate set is cut in SQL (the user's scope, no exit, not already placed for this
    need, a fitting profession or target field); those with a valid release for the firm on
    `on` are flagged in the same query.
    Fitting candidates without one are only counted.
    """
    org = need.organisation
    released = sa.exists(
        sa.select(ConsentRelease.id).where(
            ConsentRelease.participant_id == Participant.id,
            participants.valid_release_clause(org.id, on),
        )
    ).label("released")
    already = sa.exists(
        sa.select(Placement.id).where(
            Placement.participant_id == Participant.id,
            Placement.need_id == need.id,
            Placement.status != "cancelled",
        )
    )
    # Only candidates whose profession or target field fits are read: the fitting values are
    # picked in Python from the few distinct ones, the rows in SQL (not every participant).
    values = session.execute(
        _candidates_stmt(user)
        .with_only_columns(Participant.profession, Participant.target_field)
        .distinct()
    ).all()
    professions = {p for p, _t in values if text_overlap(need.occupation, p)}
    fields = {t for _p, t in values if text_overlap(need.occupation, t)}
    if not professions and not fields:
        return NeedSuggestions([], 0, need.required_language_level)
    rows = session.execute(
        _candidates_stmt(user)
        .add_columns(released)
        .where(
            ~already,
            sa.or_(Participant.profession.in_(professions), Participant.target_field.in_(fields)),
        )
    ).all()
    scored: list[tuple[int, int, Score]] = []
    without = 0
    for row in rows:
        # Most candidates do not fit: that check alone, before building and scoring them.
        if not fits(need.occupation, row[1], row[2]):
            continue
        if not row[9]:
            without += 1
            continue
        c = Candidate(*row[:9])
        s = score(c, need.occupation, need.required_language_level, org.city, org.region)
        scored.append((-s.points, c.id, s))
    scored.sort(key=lambda t: (t[0], t[1]))
    top = scored[:limit]
    by_id = {
        p.id: p
        for p in session.scalars(
            sa.select(Participant)
            .where(Participant.id.in_([t[1] for t in top]))
            .options(joinedload(Participant.office))
        )
    }
    items = [Suggestion(by_id[pid], -neg, s.reasons) for neg, pid, s in top if pid in by_id]
    return NeedSuggestions(items, without, need.required_language_level)


@dataclass
class NeedMatch:
    need: QualificationNeed
    points: int
    reasons: list[Any]
    released: bool


def open_needs_clause() -> sa.ColumnElement[bool]:
    """SQL: needs with fewer current or ended placements than the number of people wanted."""
    filled = (
        sa.select(sa.func.count(Placement.id))
        .where(Placement.need_id == QualificationNeed.id, Placement.status != "cancelled")
        .scalar_subquery()
    )
    return QualificationNeed.count > filled


def needs_for_participant(
    session: Session, participant: Participant, *, on: date, limit: int = SUGGESTION_LIMIT
) -> list[NeedMatch]:
    """The open needs of firms that fit the participant (same scoring), best first.

    Needs are not personal data; the caller has checked that the user may see the participant.
    Each match says whether a valid release for that firm exists (needed to propose them).
    """
    office = participant.office
    c = Candidate(
        participant.id,
        participant.profession,
        participant.target_field,
        participant.recognition_status,
        participant.language_level,
        participant.city,
        participant.office_id,
        office.city,
        office.name,
    )
    rows = session.execute(
        sa.select(
            QualificationNeed.id,
            QualificationNeed.occupation,
            QualificationNeed.required_language_level,
            Organisation.city,
            Organisation.region,
        )
        .join(Organisation, Organisation.id == QualificationNeed.organisation_id)
        .where(open_needs_clause())
        .order_by(QualificationNeed.surveyed_on.desc(), QualificationNeed.id.desc())
        .limit(NEED_CANDIDATE_LIMIT)
    ).all()
    scored = []
    for need_id, occupation, level, city, region in rows:
        if fits(occupation, c.profession, c.target_field):
            s = score(c, occupation, level, city, region)
            scored.append((-s.points, need_id, s))
    scored.sort(key=lambda t: (t[0], t[1]))
    top = scored[:limit]
    needs = {
        n.id: n
        for n in session.scalars(
            sa.select(QualificationNeed)
            .where(QualificationNeed.id.in_([t[1] for t in top]))
            .options(joinedload(QualificationNeed.organisation))
        )
    }
    orgs = {n.organisation_id for n in needs.values()}
    released_orgs = (
        set(
            session.scalars(
                sa.select(ConsentRelease.organisation_id).where(
                    ConsentRelease.participant_id == participant.id,
                    sa.or_(*(participants.valid_release_clause(oid, on) for oid in orgs)),
                )
            )
        )
        if orgs
        else set()
    )
    return [
        NeedMatch(needs[nid], -neg, s.reasons, needs[nid].organisation_id in released_orgs)
        for neg, nid, s in top
        if nid in needs
    ]


def place_from_suggestion(
    session: Session,
    user: Any,
    need: QualificationNeed,
    participant_id: int,
    *,
    today: date,
    by: User | None = None,
) -> Placement:
    """Create a planned placement for a suggested participant (scope and release re-checked)."""
    participant = participants.get_participant(session, user, participant_id)
    if participant is None or participant.exit_on is not None:
        raise PlacementError("participant not available")
    if participants.valid_release(session, participant, need.organisation_id, today) is None:
        raise PlacementError("no valid release for this organisation")
    return save_placement(
        session,
        participant,
        organisation=need.organisation,
        kind="job",
        status="planned",
        starts_on=today,
        need=need,
        today=today,
        by=by,
    )


# --- the firm's support checklist ---------------------------------------------------------------


def firm_support(session: Session, organisation_id: int) -> FirmSupport | None:
    """The firm's checklist row with its onboarding person, or None while nothing was recorded."""
    return session.scalar(
        sa.select(FirmSupport)
        .where(FirmSupport.organisation_id == organisation_id)
        .options(joinedload(FirmSupport.onboarding_person))
    )


def save_firm_support(
    session: Session,
    organisation: Organisation,
    *,
    training_status: str,
    training_on: date | None,
    onboarding_person: Person | None,
    note: str = "",
    onboarding_contact: str | None = None,
) -> FirmSupport:
    """Record the intercultural training (planned/held, date) and the onboarding contact.

    The onboarding contact is a person of the firm (or None); someone else raises
    PlacementError. `onboarding_contact`, the old free text, is only written when given (the
    demo data); the form leaves it as it was.
    """
    if training_status not in TRAINING_STATUSES:
        raise PlacementError(f"unknown training status {training_status!r}")
    if onboarding_person is not None and not contacts.works_at(
        session, onboarding_person.id, organisation.id
    ):
        raise PlacementError("the onboarding contact does not work at this firm")
    row = firm_support(session, organisation.id)
    if row is None:
        row = FirmSupport(organisation_id=organisation.id)
        session.add(row)
    row.training_status = training_status
    row.training_on = training_on if training_status else None
    row.onboarding_person = onboarding_person
    if onboarding_contact is not None:
        row.onboarding_contact = onboarding_contact.strip()[:200]
    row.note = note.strip()
    session.flush()
    return row


@dataclass
class OnboardingRole:
    """A firm whose onboarding contact a person is, and the current placements there that
    the user may see."""

    organisation: Organisation
    placements: list[Placement]


def onboarding_roles(
    session: Session, user: Any, person_id: int, *, limit: int = 20
) -> list[OnboardingRole]:
    """The firms whose onboarding contact the person is, each with its planned and active
    placements the user may see (none without the participants' permission)."""
    orgs = list(
        session.scalars(
            sa.select(Organisation)
            .join(FirmSupport, FirmSupport.organisation_id == Organisation.id)
            .where(FirmSupport.onboarding_person_id == person_id)
            .order_by(Organisation.sort_name, Organisation.id)
        )
    )
    if not orgs:
        return []
    by_org: dict[int, list[Placement]] = {o.id: [] for o in orgs}
    if has_permission(user, "participants.view"):
        for pl in session.scalars(
            visible_placements(user)
            .where(
                Placement.organisation_id.in_(list(by_org)),
                Placement.status.in_(CURRENT_STATUSES),
            )
            .options(joinedload(Placement.participant))
            .order_by(Placement.starts_on.desc(), Placement.id.desc())
            .limit(limit)
        ):
            by_org[pl.organisation_id].append(pl)
    return [OnboardingRole(o, by_org[o.id]) for o in orgs]


# --- organisations merged or deleted ------------------------------------------------------------


def connect_signals() -> None:
    """Take part in organisation merges and deletions (called once by create_app)."""
    merging.connect(move_organisation_placements)
    merging.connect(move_onboarding_person)
    delete_impact.connect(organisation_delete_impact)
    deleting.connect(organisation_deleted_placements)


def move_organisation_placements(
    entity_type: str, *, session: Session, keep_id: int, drop_id: int
) -> list[RowChange]:
    """merging handler: the placements at the merged firm move to the kept one."""
    if entity_type != "organisation":
        return []
    changes = move_column(session, Placement.organisation_id, keep_id, drop_id)
    # One checklist per firm: the kept firm's own row wins, else the merged one's moves.
    if firm_support(session, keep_id) is None:
        changes += move_column(session, FirmSupport.organisation_id, keep_id, drop_id)
    return changes


def move_onboarding_person(
    entity_type: str, *, session: Session, keep_id: int, drop_id: int
) -> list[RowChange]:
    """merging handler: the merged person's onboarding roles go to the kept person (whom the
    merge makes a person of those firms, too)."""
    if entity_type != "person":
        return []
    return move_column(session, FirmSupport.onboarding_person_id, keep_id, drop_id)


def organisation_delete_impact(
    entity_type: str, *, session: Session, record_id: int
) -> MergeImpact | None:
    """delete_impact handler: deleting a firm removes its placements (participants' data)."""
    if entity_type != "organisation" or not session.scalar(
        sa.select(sa.exists().where(Placement.organisation_id == record_id))
    ):
        return None
    return MergeImpact(
        permission=participants.RELEASE_REVIEW_PERMISSION,
        message=_l(
            "Participants were placed with this organisation; deleting it would remove those "
            "placements. Only a project lead or an administrator may delete it."
        ),
    )


def organisation_deleted_placements(
    entity_type: str, *, session: Session, record_id: int
) -> list[RowChange]:
    """deleting handler: the placements the database will drop with the firm."""
    if entity_type != "organisation":
        return []
    return [
        RowChange("placement", row_id, "organisation_id", record_id, None)
        for row_id in session.scalars(
            sa.select(Placement.id)
            .where(Placement.organisation_id == record_id)
            .order_by(Placement.id)
        )
    ]
