"""Participant rules: access scope, the 8-hour entry rule, exits, deadlines, referrals with
releases from confidentiality, and the support checklist.

Every query that returns participants goes through `scope_participants` (list, detail, search,
"my open items", exports): a record outside the user's scope does not exist for them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, joinedload, selectinload

from crm import substring
from crm.accounts.models import Role, User, user_office
from crm.audit.service import record, record_each
from crm.contacts.models import Organisation
from crm.contacts.normalize import fold, fold_plain
from crm.database import ids_in
from crm.followups import service as followups
from crm.followups.models import FollowUp
from crm.i18n import fmt_date
from crm.participants.models import (
    ACQUISITION_CHANNELS,
    CONTACT_KINDS,
    EXIT_OUTCOMES,
    GENDERS,
    LANGUAGE_LEVELS,
    RECOGNITION_STATUSES,
    REFERRAL_DIRECTIONS,
    REFERRAL_STATUSES,
    SUPPORT_STATUSES,
    ConsentRelease,
    CounsellingSession,
    Participant,
    ParticipantContact,
    Referral,
    SupportItem,
    SupportItemType,
)
from crm.signals import (
    MergeImpact,
    RowChange,
    case_followup_moved,
    delete_impact,
    deleting,
    exit_changed,
    merge_impact,
    merging,
    move_column,
)

# Entry (Eintritt): the day on which cumulative counselling time first EXCEEDS 8 hours.
ENTRY_THRESHOLD_MINUTES = 8 * 60
# Entry and exit data must be complete within 4 weeks (28 days) of the entry / exit date.
DEADLINE_DAYS = 28
# Fields that make the entry data complete (the funder's entry form).
ENTRY_REQUIRED_FIELDS = ("country_of_origin", "profession", "language_level", "target_field")
# Roles that see the participants of every office.
ALL_OFFICES_ROLES = frozenset({Role.ADMIN.value, Role.LEAD.value})
# Roles that see the participants of their own office.
OWN_OFFICE_ROLES = frozenset({Role.COUNSELLOR.value})


class ParticipantError(ValueError):
    """A change breaks a participant rule."""


class ConsentMissingError(ParticipantError):
    """An outgoing referral without a valid release from confidentiality for that partner."""

    def __init__(self) -> None:
        super().__init__(
            "Ohne gültige Schweigepflichtentbindung für diesen Partner am Überweisungsdatum "
            "kann die Überweisung nicht gesendet werden."
        )


# --- access -------------------------------------------------------------------------------------


def scope_participants(stmt: sa.Select, user: Any, *, include_erased: bool = False) -> sa.Select:
    """Restrict a select over Participant to the rows `user` may see.

    Admins and leads: every office; counsellors: any of the offices they work in (none
    without an office);
    everyone else (staff, read-only, anonymous): nothing. Erased records are left out unless
    `include_erased` (retention review, DSGVO tooling).
    """
    role = getattr(user, "role", None) if getattr(user, "is_authenticated", False) else None
    if role in ALL_OFFICES_ROLES:
        clause: sa.ColumnElement[bool] = sa.true()
    elif role in OWN_OFFICE_ROLES and getattr(user, "office_ids", None):
        clause = Participant.office_id.in_(user.office_ids)
    else:
        clause = sa.false()
    stmt = stmt.where(clause)
    if not include_erased:
        stmt = stmt.where(Participant.erased_at.is_(None))
    return stmt


def visible_participants(user: Any, *, include_erased: bool = False) -> sa.Select:
    """`select(Participant)` restricted to what `user` may see."""
    return scope_participants(sa.select(Participant), user, include_erased=include_erased)


def get_participant(session: Session, user: Any, participant_id: int) -> Participant | None:
    """The participant if `user` may see it, else None (views answer 404 either way)."""
    return session.scalar(
        visible_participants(user)
        .where(Participant.id == participant_id)
        .options(
            joinedload(Participant.office),
            joinedload(Participant.counsellor),
            joinedload(Participant.referring_organisation),
            # The detail page shows all of these: a constant number of queries.
            selectinload(Participant.sessions),
            selectinload(Participant.referrals).joinedload(Referral.organisation),
            selectinload(Participant.consent_releases).joinedload(ConsentRelease.organisation),
        )
    )


def record_view(session: Session, participant: Participant) -> None:
    """Log that the current actor opened the participant's record."""
    record(
        session,
        "view",
        entity_type="participant",
        entity_id=participant.id,
        summary=participant.audit_label(),
    )


def office_ids_for(user: Any) -> list[int] | None:
    """Office ids whose participants `user` may see; None means all offices."""
    if getattr(user, "role", None) in ALL_OFFICES_ROLES:
        return None
    if getattr(user, "role", None) in OWN_OFFICE_ROLES:
        return list(user.office_ids)
    return []


# Roles that can be a participant's responsible counsellor.
COUNSELLING_ROLES = (Role.ADMIN.value, Role.LEAD.value, Role.COUNSELLOR.value)


def counsellors_for(session: Session, user: Any) -> list[User]:
    """Active users who can counsel in the offices `user` may see (all offices: everyone)."""
    stmt = (
        sa.select(User)
        .where(User.is_active_flag.is_(True), User.role.in_(COUNSELLING_ROLES))
        .order_by(User.display_name)
    )
    ids = office_ids_for(user)
    if ids is not None:
        # Counsellors working in any of these offices, as home office or further office.
        stmt = stmt.where(
            sa.or_(
                User.office_id.in_(ids),
                User.id.in_(
                    sa.select(user_office.c.user_id).where(user_office.c.office_id.in_(ids))
                ),
            )
        )
    return list(session.scalars(stmt))


# --- the 8-hour rule ----------------------------------------------------------------------------


def entry_date(
    sessions: Iterable[tuple[date, int]], threshold: int = ENTRY_THRESHOLD_MINUTES
) -> date | None:
    """The first date on which the cumulative minutes exceed `threshold` (strictly), or None.

    Pure: `sessions` are (date, minutes) pairs in any order; sessions on one day count together.
    """
    per_day: dict[date, int] = defaultdict(int)
    for day, minutes in sessions:
        per_day[day] += minutes
    total = 0
    for day in sorted(per_day):
        total += per_day[day]
        if total > threshold:
            return day
    return None


def recompute_participant(session: Session, participant: Participant) -> Participant:
    """Recompute total minutes, first session and entry date from the stored sessions."""
    session.flush()
    rows = session.execute(
        sa.select(CounsellingSession.held_on, CounsellingSession.minutes).where(
            CounsellingSession.participant_id == participant.id
        )
    ).all()
    pairs = [(r.held_on, r.minutes) for r in rows]
    participant.total_minutes = sum(m for _, m in pairs)
    participant.first_session_on = min((d for d, _ in pairs), default=None)
    participant.entry_on = entry_date(pairs)
    session.flush()
    return participant


def _check_session(held_on: date | None, minutes: int | None) -> None:
    if held_on is None:
        raise ParticipantError("session date is required")
    if minutes is None or not 0 < minutes <= 24 * 60:
        raise ParticipantError("duration must be between 1 and 1440 minutes")


def add_session(
    session: Session,
    participant: Participant,
    *,
    held_on: date,
    minutes: int,
    counsellor: User | None = None,
    note: str = "",
) -> CounsellingSession:
    """Add a counselling session and recompute the participant's hours and entry."""
    _check_session(held_on, minutes)
    cs = CounsellingSession(
        participant=participant,
        held_on=held_on,
        minutes=minutes,
        counsellor=counsellor,
        note=note.strip(),
    )
    session.add(cs)
    recompute_participant(session, participant)
    return cs


def update_session(
    session: Session,
    cs: CounsellingSession,
    *,
    held_on: date,
    minutes: int,
    counsellor: User | None = None,
    note: str = "",
) -> CounsellingSession:
    """Change a session's date, duration, counsellor or note; recompute the entry."""
    _check_session(held_on, minutes)
    cs.held_on = held_on
    cs.minutes = minutes
    if counsellor is not None:
        cs.counsellor = counsellor
    cs.note = note.strip()
    recompute_participant(session, cs.participant)
    return cs


def delete_session(session: Session, cs: CounsellingSession) -> None:
    """Delete a session; the entry date moves or disappears accordingly."""
    participant = cs.participant
    participant.sessions.remove(cs)
    session.delete(cs)
    recompute_participant(session, participant)


def format_minutes(minutes: int) -> str:
    """480 -> "8:00"."""
    return f"{minutes // 60}:{minutes % 60:02d}"


# --- create, edit, exit -------------------------------------------------------------------------

PARTICIPANT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "city",
    "birth_year",
    "gender",
    "notes",
    "country_of_origin",
    "profession",
    "profession_learned_in",
    "recognition_status",
    "recognising_body",
    "language_level",
    "target_field",
    "office_id",
    "counsellor_id",
    "acquisition_channel",
    "referring_organisation_id",
    "first_contact_on",
)


def _validate(p: Participant) -> None:
    if not (p.last_name or "").strip():
        raise ParticipantError("last name is required")
    if p.first_contact_on is None:
        raise ParticipantError("first contact date is required")
    if p.office_id is None or p.counsellor_id is None:
        raise ParticipantError("office and counsellor are required")
    checks = (
        (p.recognition_status, RECOGNITION_STATUSES, False),
        (p.language_level, LANGUAGE_LEVELS, True),
        (p.gender, GENDERS, True),
        (p.acquisition_channel, ACQUISITION_CHANNELS, False),
    )
    for value, allowed, empty in checks:
        if value not in allowed and not (empty and value == ""):
            raise ParticipantError(f"invalid value {value!r}")


# Participant.name_key's length.
NAME_KEY_LENGTH = 210


def folded_name(first: str | None, last: str | None) -> str:
    """The participant's name folded as the search folds a query ("Jörg Schäfer" -> "joerg
    schaefer"): what two records of the same person have in common (name_key begins with it)."""
    return fold(f"{first or ''} {last or ''}")[:NAME_KEY_LENGTH]


def name_key_of(first: str | None, last: str | None) -> str:
    """What the name search matches: the folded name, then "|" and its plain-vowel form if
    that differs ("joerg schaefer|jorg schafer").

    Migrants' names are written several ways: "Schafer" or "Ozturk" from a passport's Latin
    line must find the participant as "Schäfer"/"Schaefer" does. The query is folded one way,
    so the column holds both. The plain form is cut to the room left (never the folded one).
    """
    key = folded_name(first, last)
    plain = fold_plain(f"{first or ''} {last or ''}")
    room = NAME_KEY_LENGTH - len(key) - 1
    if plain == key or room <= 0:
        return key
    return f"{key}|{plain[:room]}"


def has_folded_name(column: Any, folded: str) -> sa.ColumnElement[bool]:
    """SQL: the name key (`column`) is that of a participant whose folded name is `folded`."""
    return sa.or_(column == folded, column.startswith(f"{folded}|", autoescape=True))


def save_participant(
    session: Session, data: dict[str, Any], participant: Participant | None = None
) -> Participant:
    """Create or update a participant from plain field values (see PARTICIPANT_FIELDS)."""
    p = participant or Participant()
    old_counsellor_id = p.counsellor_id
    for key in PARTICIPANT_FIELDS:
        if key in data:
            value = data[key]
            if isinstance(value, str):
                value = value.strip()
            setattr(p, key, value)
    for key, default in (("language_level", ""), ("gender", ""), ("acquisition_channel", "other")):
        if getattr(p, key) is None:
            setattr(p, key, default)
    if p.recognition_status is None:
        p.recognition_status = "not_started"
    _validate(p)
    p.name_key = name_key_of(p.first_name, p.last_name)
    if participant is None:
        session.add(p)
    session.flush()
    if participant is None:
        ensure_checklist(session, p)
    elif old_counsellor_id != p.counsellor_id:
        _reassign_case_followups(session, p)
    return p


def record_exit(
    session: Session,
    participant: Participant,
    *,
    exit_on: date | None,
    outcome: str = "",
    note: str = "",
) -> Participant:
    """Set (or with exit_on=None clear) the exit; the outcome may follow later (deadline)."""
    if exit_on is None:
        participant.exit_on = None
        participant.exit_outcome = ""
        participant.exit_note = ""
        participant.exit_placement_id = None
        session.flush()
        exit_changed.send(participant, session=session)
        return participant
    if outcome and outcome not in EXIT_OUTCOMES:
        raise ParticipantError(f"unknown exit outcome {outcome!r}")
    if exit_on < participant.first_contact_on:
        raise ParticipantError("exit before first contact")
    participant.exit_on = exit_on
    participant.exit_outcome = outcome
    participant.exit_note = note.strip()
    if outcome not in ("employment", "qualification"):
        # Only an exit into work or qualification names a placement (crm.placements).
        participant.exit_placement_id = None
    session.flush()
    exit_changed.send(participant, session=session)
    return participant


# --- deadlines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineWarning:
    """Entry or exit data not completed within DEADLINE_DAYS of the entry / exit date."""

    participant_id: int
    kind: str  # "entry_incomplete" | "exit_incomplete"
    since: date  # the entry or exit date
    due_on: date  # last day to complete the data (since + 28 days)
    missing: tuple[str, ...] = field(default=())


def missing_entry_fields(p: Participant) -> tuple[str, ...]:
    """Required entry fields that are still empty."""
    return tuple(f for f in ENTRY_REQUIRED_FIELDS if not getattr(p, f))


def deadline_warnings(p: Participant, today: date) -> list[DeadlineWarning]:
    """The participant's overdue data-entry deadlines on `today`.

    entry_incomplete: entered (entry_on set), a required entry field still empty and
    today > entry_on + 28 days. exit_incomplete: exit_on set, no outcome and
    today > exit_on + 28 days. On day 28 itself the data are still in time.
    """
    warnings: list[DeadlineWarning] = []
    if p.entry_on is not None:
        missing = missing_entry_fields(p)
        due = p.entry_on + timedelta(days=DEADLINE_DAYS)
        if missing and today > due:
            warnings.append(DeadlineWarning(p.id, "entry_incomplete", p.entry_on, due, missing))
    if p.exit_on is not None and not p.exit_outcome:
        due = p.exit_on + timedelta(days=DEADLINE_DAYS)
        if today > due:
            warnings.append(DeadlineWarning(p.id, "exit_incomplete", p.exit_on, due))
    return warnings


def warning_clause(today: date) -> sa.ColumnElement[bool]:
    """SQL twin of deadline_warnings: participants with at least one overdue deadline."""
    cutoff = today - timedelta(days=DEADLINE_DAYS)
    entry_missing = sa.or_(*(getattr(Participant, f) == "" for f in ENTRY_REQUIRED_FIELDS))
    return sa.or_(
        sa.and_(Participant.entry_on.is_not(None), Participant.entry_on < cutoff, entry_missing),
        sa.and_(
            Participant.exit_on.is_not(None),
            Participant.exit_on < cutoff,
            Participant.exit_outcome == "",
        ),
    )


# --- list ---------------------------------------------------------------------------------------

LIST_STATES = ("open", "entered", "exited", "not_entered", "near_entry", "warnings")
# "Close to entry": not entered, within the last hour before the 8-hour rule (the start page
# shows a counsellor the same band for their own cases; the list shows it for a whole team).
NEAR_ENTRY_MINUTES = ENTRY_THRESHOLD_MINUTES - 60


@dataclass
class ParticipantFilters:
    """Filters of the participant list (all optional)."""

    q: str = ""
    office_id: int | None = None
    counsellor_id: int | None = None
    state: str = ""  # one of LIST_STATES or ""
    # From the funder report's links: counselled in, entered in or exited in the days
    # `period_from` to `period_to` (both included), optionally with exit outcomes (any of them).
    period_kind: str = ""  # one of PERIOD_KINDS or ""
    period_from: date | None = None
    period_to: date | None = None
    outcomes: tuple[str, ...] = ()
    # The report's breakdowns (None: no filter), and those filtered to "not stated" (names
    # from GROUPS). The age group needs the period: it is the age in the year of entry.
    channel: str | None = None
    referrer_id: int | None = None
    gender: str | None = None
    age_group: str | None = None
    country: str | None = None
    recognition: str | None = None
    not_stated: tuple[str, ...] = ()


PERIOD_KINDS = ("counselled", "entered", "exited")
# The breakdowns of the funder report that the list can filter by, besides office and counsellor.
GROUPS = ("channel", "referrer", "gender", "age_group", "country", "recognition")
AGE_GROUPS = ("<25", "25-34", "35-44", "45-54", "55+")


def age_group_at_entry(start_year: int) -> sa.ColumnElement[Any]:
    """SQL: the participant's age group in the year of entry (`start_year` for those without
    an entry), NULL without a year of birth. The funder report groups by this expression and
    the list filters by it, so both agree."""
    entry_year = sa.func.coalesce(sa.extract("year", Participant.entry_on), start_year)
    age = entry_year - Participant.birth_year
    return sa.case(
        (Participant.birth_year.is_(None), sa.null()),
        (age < 25, AGE_GROUPS[0]),
        (age < 35, AGE_GROUPS[1]),
        (age < 45, AGE_GROUPS[2]),
        (age < 55, AGE_GROUPS[3]),
        else_=AGE_GROUPS[4],
    )


def _group_column(f: ParticipantFilters, group: str) -> Any:
    """The column (or expression) a breakdown groups by; None for the age group without a
    period."""
    if group == "age_group":
        return age_group_at_entry(f.period_from.year) if f.period_from else None
    return {
        "channel": Participant.acquisition_channel,
        "referrer": Participant.referring_organisation_id,
        "gender": Participant.gender,
        "country": Participant.country_of_origin,
        "recognition": Participant.recognition_status,
    }[group]


def _group_clauses(f: ParticipantFilters) -> list[sa.ColumnElement[bool]]:
    """SQL for the breakdown filters: equal to the value, or "not stated" (NULL or empty, the
    report's row without a value)."""
    wanted = {
        "channel": f.channel,
        "referrer": f.referrer_id,
        "gender": f.gender,
        "age_group": f.age_group,
        "country": f.country,
        "recognition": f.recognition,
    }
    clauses = []
    for group in GROUPS:
        column = _group_column(f, group)
        if column is None:
            continue
        if group in f.not_stated:
            empty = column.is_(None)
            if group not in ("referrer", "age_group"):
                empty = sa.or_(empty, column == "")
            clauses.append(empty)
        elif wanted[group] is not None:
            clauses.append(column == wanted[group])
    return clauses


def _period_clause(f: ParticipantFilters) -> sa.ColumnElement[bool] | None:
    """SQL for the funder report's filters, the same conditions as crm.dashboard.funder."""
    if f.period_kind not in PERIOD_KINDS or f.period_from is None or f.period_to is None:
        return None
    after = f.period_to + timedelta(days=1)
    if f.period_kind == "counselled":
        return Participant.id.in_(
            sa.select(CounsellingSession.participant_id).where(
                CounsellingSession.held_on >= f.period_from, CounsellingSession.held_on < after
            )
        )
    column = Participant.entry_on if f.period_kind == "entered" else Participant.exit_on
    clause = sa.and_(column >= f.period_from, column < after)
    if f.period_kind == "exited" and f.outcomes:
        clause = sa.and_(clause, Participant.exit_outcome.in_(f.outcomes))
    return clause


def name_contains(terms: list[str]) -> sa.ColumnElement[bool]:
    """SQL: the participant's folded name contains every one of the (folded) `terms`.

    Answered through the trigram index (crm.substring) for terms of three letters or more.
    """
    return substring.contains_all(
        substring.PARTICIPANT_NAME, Participant.name_key, Participant.id, terms
    )


# The participant number (Participant.pseudonym, "TN-" and ten hex digits) as people type it:
# any case, with or without the prefix.
_PSEUDONYM = re.compile(r"(?:tn-?)?([0-9a-f]{10})", re.IGNORECASE)


def pseudonym_in(text: str | None) -> str | None:
    """The participant number `text` consists of (as stored, "TN-3f9a2c1b7e"), else None."""
    found = _PSEUDONYM.fullmatch((text or "").strip())
    return f"TN-{found.group(1).lower()}" if found else None


def participant_query(
    user: Any, f: ParticipantFilters, today: date, *, erased: bool = False
) -> sa.Select:
    """The scoped, filtered select behind the list and the search; with `erased`, the erased
    (anonymised) records matching the filters instead, which the list never shows."""
    stmt = visible_participants(user, include_erased=erased)
    if erased:
        stmt = stmt.where(Participant.erased_at.is_not(None))
    # The number shown on the record and in every hit finds it; anything else is a name.
    number = pseudonym_in(f.q)
    if number:
        stmt = stmt.where(Participant.pseudonym == number)
    elif f.q and fold(f.q).split():
        stmt = stmt.where(name_contains(fold(f.q).split()))
    if f.office_id:
        stmt = stmt.where(Participant.office_id == f.office_id)
    if f.counsellor_id:
        stmt = stmt.where(Participant.counsellor_id == f.counsellor_id)
    if f.state == "open":
        stmt = stmt.where(Participant.exit_on.is_(None))
    elif f.state == "entered":
        stmt = stmt.where(Participant.entry_on.is_not(None))
    elif f.state == "not_entered":
        stmt = stmt.where(Participant.entry_on.is_(None), Participant.exit_on.is_(None))
    elif f.state == "exited":
        stmt = stmt.where(Participant.exit_on.is_not(None))
    elif f.state == "near_entry":
        stmt = stmt.where(
            Participant.entry_on.is_(None),
            Participant.exit_on.is_(None),
            Participant.total_minutes >= NEAR_ENTRY_MINUTES,
            Participant.total_minutes <= ENTRY_THRESHOLD_MINUTES,
        )
    elif f.state == "warnings":
        stmt = stmt.where(warning_clause(today))
    period = _period_clause(f)
    if period is not None:
        stmt = stmt.where(period)
    for clause in _group_clauses(f):
        stmt = stmt.where(clause)
    return stmt


def count_erased(session: Session, user: Any, f: ParticipantFilters, today: date) -> int:
    """How many erased records match the filters: the funder report counts them (their
    anonymous rows keep dates and outcome), the list cannot show them."""
    stmt = participant_query(user, f, today, erased=True)
    return session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0


# A name search of the list with at most this many hits sorts them instead of walking the names.
SORT_HITS_UP_TO = 1000


def list_participants(
    session: Session,
    user: Any,
    f: ParticipantFilters,
    today: date,
    *,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Participant], int]:
    """A page of visible participants (by name) and the total count."""
    stmt = participant_query(user, f, today)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    options = (joinedload(Participant.office), joinedload(Participant.counsellor))
    offset = (max(page, 1) - 1) * per_page
    if (
        total <= SORT_HITS_UP_TO
        and not pseudonym_in(f.q)
        and substring.long_terms(fold(f.q).split())
    ):
        # A name search with few hits: sorted after fetching them through the trigram index.
        # Left to themselves the databases walk the name index and test each row, which for
        # a name whose holders sort late ("Yılmaz") reads nearly all participants.
        order = [(Participant.sort_name, False), (Participant.id, False)]
        found = substring.sorted_hits(session, stmt, Participant, order, per_page, offset, options)
        return found, total
    items = session.scalars(
        stmt.options(*options)
        .order_by(Participant.sort_name, Participant.id)
        .limit(per_page)
        .offset(offset)
    ).all()
    return list(items), total


# --- releases and referrals ---------------------------------------------------------------------


def valid_release_clause(organisation_id: int, on: date) -> sa.ColumnElement[bool]:
    """SQL: ConsentRelease rows covering sharing with the organisation on `on`."""
    return sa.and_(
        ConsentRelease.organisation_id == organisation_id,
        # A release moved by a merge covers the merged organisation only once confirmed.
        ConsentRelease.review == "",
        ConsentRelease.granted_on <= on,
        sa.or_(ConsentRelease.expires_on.is_(None), ConsentRelease.expires_on >= on),
        sa.or_(ConsentRelease.revoked_on.is_(None), ConsentRelease.revoked_on > on),
    )


def valid_release(
    session: Session, participant: Participant, organisation_id: int, on: date
) -> ConsentRelease | None:
    """A release of the participant covering the organisation on `on` (latest granted)."""
    return session.scalar(
        sa.select(ConsentRelease)
        .where(
            ConsentRelease.participant_id == participant.id,
            valid_release_clause(organisation_id, on),
        )
        .order_by(ConsentRelease.granted_on.desc(), ConsentRelease.id.desc())
        .limit(1)
    )


def participants_shareable_with(
    organisation_id: int, on: date, user: Any | None = None
) -> sa.Select:
    """`select(Participant)` of those with a valid release for the organisation on `on`.

    Exports for a partner start from this, so participants without consent are left out.
    With `user`, the result is also restricted to that user's scope.
    """
    stmt = sa.select(Participant).where(
        sa.exists(
            sa.select(ConsentRelease.id).where(
                ConsentRelease.participant_id == Participant.id,
                valid_release_clause(organisation_id, on),
            )
        )
    )
    if user is not None:
        return scope_participants(stmt, user)
    return stmt.where(Participant.erased_at.is_(None))


def add_release(
    session: Session,
    participant: Participant,
    *,
    organisation: Organisation,
    granted_on: date,
    scope: str = "",
    expires_on: date | None = None,
) -> ConsentRelease:
    """Record a release from confidentiality towards a partner."""
    if expires_on is not None and expires_on < granted_on:
        raise ParticipantError("expiry before grant")
    release = ConsentRelease(
        participant=participant,
        organisation=organisation,
        granted_on=granted_on,
        scope=scope.strip(),
        expires_on=expires_on,
    )
    session.add(release)
    session.flush()
    return release


def revoke_release(session: Session, release: ConsentRelease, on: date) -> ConsentRelease:
    """Revoke a release from `on` (it no longer covers that day)."""
    if on < release.granted_on:
        on = release.granted_on
    release.revoked_on = on
    session.flush()
    return release


def _release_for_sending(
    session: Session, participant: Participant, direction: str, status: str, org_id: int, on: date
) -> ConsentRelease | None:
    """The release that allows this referral, None if none is needed; raise if one is missing."""
    if direction != "to" or status != "sent":
        return None
    release = valid_release(session, participant, org_id, on)
    if release is None:
        raise ConsentMissingError()
    return release


def create_referral(
    session: Session,
    participant: Participant,
    *,
    organisation: Organisation,
    referred_on: date,
    direction: str,
    purpose: str = "",
    status: str = "sent",
    note: str = "",
) -> Referral:
    """Record a referral; an outgoing one is sent only under a valid release for that partner."""
    if direction not in REFERRAL_DIRECTIONS:
        raise ParticipantError(f"unknown direction {direction!r}")
    if status not in REFERRAL_STATUSES:
        raise ParticipantError(f"unknown status {status!r}")
    release = _release_for_sending(
        session, participant, direction, status, organisation.id, referred_on
    )
    referral = Referral(
        participant_id=participant.id,
        organisation_id=organisation.id,
        referred_on=referred_on,
        direction=direction,
        purpose=purpose.strip()[:300],
        status=status,
        note=note.strip(),
    )
    referral.consent_release = release
    referral.participant = participant
    referral.organisation = organisation
    session.add(referral)
    session.flush()
    return referral


def set_referral_status(session: Session, referral: Referral, status: str) -> Referral:
    """Move a referral to another status; back to "sent" needs a valid release again."""
    if status not in REFERRAL_STATUSES:
        raise ParticipantError(f"unknown status {status!r}")
    if status == "sent" and referral.status != "sent":
        release = _release_for_sending(
            session,
            referral.participant,
            referral.direction,
            status,
            referral.organisation_id,
            referral.referred_on,
        )
        referral.consent_release = release or referral.consent_release
    referral.status = status
    session.flush()
    return referral


# --- support checklist --------------------------------------------------------------------------


def active_item_types(session: Session) -> list[SupportItemType]:
    """The active checklist item types in display order."""
    return list(
        session.scalars(
            sa.select(SupportItemType)
            .where(SupportItemType.is_active.is_(True))
            .order_by(SupportItemType.position, SupportItemType.name)
        )
    )


def ensure_checklist(session: Session, participant: Participant) -> list[SupportItem]:
    """Give the participant an item (status open) for every active type they lack yet."""
    have = set(
        session.scalars(
            sa.select(SupportItem.type_id).where(SupportItem.participant_id == participant.id)
        )
    )
    added = []
    for t in active_item_types(session):
        if t.id not in have:
            item = SupportItem(participant_id=participant.id, type_id=t.id, status="open")
            session.add(item)
            added.append(item)
    if added:
        session.flush()
    return added


def checklist(session: Session, participant: Participant) -> list[SupportItem]:
    """The participant's items in the types' display order."""
    return list(
        session.scalars(
            sa.select(SupportItem)
            .join(SupportItem.type)
            .where(SupportItem.participant_id == participant.id)
            .options(joinedload(SupportItem.responsible))
            .order_by(SupportItemType.position, SupportItemType.name)
        ).unique()
    )


@dataclass(frozen=True)
class Progress:
    """Checklist progress: done of relevant items (not_needed ones do not count)."""

    done: int
    relevant: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.relevant) if self.relevant else 0


def progress_of(items: Sequence[SupportItem]) -> Progress:
    """Progress of a checklist."""
    relevant = [i for i in items if i.status != "not_needed"]
    return Progress(done=sum(1 for i in relevant if i.status == "done"), relevant=len(relevant))


def update_support_item(
    session: Session,
    item: SupportItem,
    *,
    status: str,
    due_on: date | None = None,
    note: str = "",
    today: date | None = None,
) -> SupportItem:
    """Change an item's status, due date and note (done_on follows the status)."""
    if status not in SUPPORT_STATUSES:
        raise ParticipantError(f"unknown status {status!r}")
    if status == "done" and item.status != "done":
        item.done_on = today or date.today()
    elif status != "done":
        item.done_on = None
    item.status = status
    item.due_on = due_on
    item.note = note.strip()
    session.flush()
    return item


def set_support_responsible(
    session: Session, item: SupportItem, responsible: User | None
) -> SupportItem:
    """Name who sees to the item (None: the participant's counsellor)."""
    item.responsible_id = responsible.id if responsible is not None else None
    session.flush()
    return item


def open_support_items(
    session: Session,
    user: Any,
    counsellor_id: int,
    *,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[SupportItem], int]:
    """Open and in-progress items of the counsellor's participants (in `user`'s scope), and
    those the counsellor is responsible for: the latter also after an exit, because support
    after a placement (housing, authorities, school) goes on when counselling has ended."""
    visible = (
        visible_participants(user)
        .where(Participant.counsellor_id == counsellor_id, Participant.exit_on.is_(None))
        .with_only_columns(Participant.id)
    )
    any_visible = visible_participants(user).with_only_columns(Participant.id)
    stmt = sa.select(SupportItem).where(
        sa.or_(
            SupportItem.participant_id.in_(visible),
            sa.and_(
                SupportItem.responsible_id == counsellor_id,
                SupportItem.participant_id.in_(any_visible),
            ),
        ),
        SupportItem.status.in_(("open", "in_progress")),
    )
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(
        stmt.options(selectinload(SupportItem.participant))
        .order_by(SupportItem.due_on.is_(None), SupportItem.due_on, SupportItem.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).all()
    return list(items), total


# --- contacts integration -----------------------------------------------------------------------


# Who may merge organisations that participants' data refer to, and review moved releases.
RELEASE_REVIEW_PERMISSION = "participants.releases"
REVIEW_PENDING = "pending"
REVIEW_RENEW = "renew"
REVIEW_DECISIONS = ("confirm", "renew")


def _organisation_is_referenced(session: Session, organisation_id: int) -> bool:
    """True if any release, referral or referrer names the organisation."""
    return any(
        session.scalar(sa.select(sa.exists().where(column == organisation_id)))
        for column in (
            ConsentRelease.organisation_id,
            Referral.organisation_id,
            Participant.referring_organisation_id,
        )
    )


def organisation_merge_impact(
    entity_type: str, *, session: Session, keep_id: int, drop_id: int
) -> MergeImpact | None:
    """merge_impact handler: a merge that moves participants' data needs participant rights."""
    if entity_type != "organisation" or not _organisation_is_referenced(session, drop_id):
        return None
    moves_releases = session.scalar(
        sa.select(sa.exists().where(ConsentRelease.organisation_id == drop_id))
    )
    return MergeImpact(
        permission=RELEASE_REVIEW_PERMISSION,
        message=_l(
            "This merge affects data of participants (releases from confidentiality, "
            "referrals or referring organisation). Only a project lead or an administrator "
            "may carry it out."
        ),
        notice=_l(
            "Releases from confidentiality that named the merged organisation no longer apply "
            "until a project lead or an administrator confirms them."
        )
        if moves_releases
        else None,
        follow_up_endpoint="participants.release_review" if moves_releases else "",
    )


def organisation_delete_impact(
    entity_type: str, *, session: Session, record_id: int
) -> MergeImpact | None:
    """delete_impact handler: deleting a partner removes releases and referrals with it."""
    if entity_type != "organisation" or not _organisation_is_referenced(session, record_id):
        return None
    return MergeImpact(
        permission=RELEASE_REVIEW_PERMISSION,
        message=_l(
            "Releases from confidentiality, referrals or participants' referring organisation "
            "name this organisation; deleting it would remove or unlink them. Only a project "
            "lead or an administrator may delete it."
        ),
    )


def organisation_deleted_rows(
    entity_type: str, *, session: Session, record_id: int
) -> list[RowChange]:
    """deleting handler: the releases, referrals and referrer links the database will drop."""
    if entity_type != "organisation":
        return []
    changes = [
        RowChange(model.__tablename__, row_id, "organisation_id", record_id, None)
        for model in (ConsentRelease, Referral)
        for row_id in session.scalars(
            sa.select(model.id).where(model.organisation_id == record_id).order_by(model.id)
        )
    ]
    changes += [
        RowChange("participant", row_id, "referring_organisation_id", record_id, None)
        for row_id in session.scalars(
            sa.select(Participant.id)
            .where(Participant.referring_organisation_id == record_id)
            .order_by(Participant.id)
        )
    ]
    return changes


def move_organisation_references(
    entity_type: str, *, session: Session, keep_id: int, drop_id: int
) -> list[RowChange]:
    """merging handler: referrals and referrers move; releases move only for review.

    A release names the organisation the person agreed to share with: after the move it no
    longer counts until a lead or admin confirms it for the merged organisation.
    """
    if entity_type != "organisation":
        return []
    changes = move_column(session, Participant.referring_organisation_id, keep_id, drop_id)
    changes += move_column(session, Referral.organisation_id, keep_id, drop_id)
    drop_name = session.scalar(sa.select(Organisation.name).where(Organisation.id == drop_id))
    releases = list(
        session.scalars(
            sa.select(ConsentRelease)
            .where(ConsentRelease.organisation_id == drop_id)
            .order_by(ConsentRelease.id)
        )
    )
    for release in releases:
        release.organisation_id = keep_id
        changes.append(
            RowChange("consent_release", release.id, "organisation_id", drop_id, keep_id)
        )
        if not release.agreed_organisation_name:
            release.agreed_organisation_name = (drop_name or "")[:300]
            changes.append(RowChange("consent_release", release.id, "agreed_organisation_name"))
        # Only a release that counts today goes to review; one already marked as needing
        # renewal stays so (a later merge must not bring it back).
        if release.revoked_on is None and release.review == "":
            changes.append(
                RowChange("consent_release", release.id, "review", release.review, REVIEW_PENDING)
            )
            release.review = REVIEW_PENDING
    session.flush()
    return changes


def connect_signals() -> None:
    """Take part in contact merges and deletions (called once by create_app)."""
    merge_impact.connect(organisation_merge_impact)
    merging.connect(move_organisation_references)
    delete_impact.connect(organisation_delete_impact)
    deleting.connect(organisation_deleted_rows)
    case_followup_moved.connect(follow_case_followup)


def follow_case_followup(
    kind: str, *, session: Session, participant_id: int, due_date: date
) -> None:
    """The next contact's follow-up was snoozed or re-dated: the participant's date follows."""
    participant = session.get(Participant, participant_id)
    if (
        participant is not None
        and kind == "next_contact"
        and participant.erased_at is None
        and participant.next_contact_on != due_date
    ):
        participant.next_contact_on = due_date
        session.flush()


def _releases_to_review_stmt(user: Any, organisation_id: int | None = None) -> sa.Select:
    visible = visible_participants(user).with_only_columns(Participant.id)
    stmt = sa.select(ConsentRelease).where(
        ConsentRelease.review == REVIEW_PENDING, ConsentRelease.participant_id.in_(visible)
    )
    if organisation_id is not None:
        stmt = stmt.where(ConsentRelease.organisation_id == organisation_id)
    return stmt


def count_releases_to_review(session: Session, user: Any) -> int:
    """How many releases moved by a merge await review within `user`'s scope."""
    stmt = _releases_to_review_stmt(user).with_only_columns(sa.func.count())
    return session.scalar(stmt) or 0


def releases_to_review(
    session: Session,
    user: Any,
    *,
    organisation_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[ConsentRelease], int]:
    """Releases moved by a merge and awaiting review, within `user`'s scope."""
    stmt = _releases_to_review_stmt(user, organisation_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(
        stmt.options(
            joinedload(ConsentRelease.participant), joinedload(ConsentRelease.organisation)
        )
        .order_by(ConsentRelease.organisation_id, ConsentRelease.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).all()
    return list(items), total


def review_release(session: Session, release: ConsentRelease, decision: str) -> ConsentRelease:
    """Confirm a moved release for the merged organisation, or mark it as needing a new one."""
    if decision not in REVIEW_DECISIONS:
        raise ParticipantError(f"unknown decision {decision!r}")
    if release.review != REVIEW_PENDING:
        raise ParticipantError("the release is not awaiting review")
    release.review = "" if decision == "confirm" else REVIEW_RENEW
    session.flush()
    return release


# --- exports for a partner ------------------------------------------------------------------------

PARTNER_EXPORT_FIELDS = (
    "last_name",
    "first_name",
    "birth_year",
    "country_of_origin",
    "profession",
    "recognition_status",
    "language_level",
    "target_field",
    "office",
    "counsellor",
    "release_expires_on",
)


def partner_export_rows(
    session: Session, organisation_id: int, on: date, user: Any
) -> list[list[Any]]:
    """Rows for an export to a partner: ONLY participants with a valid release for it on `on`."""
    stmt = (
        participants_shareable_with(organisation_id, on, user)
        .options(selectinload(Participant.office), selectinload(Participant.counsellor))
        .order_by(Participant.sort_name, Participant.id)
    )
    rows = []
    for p in session.scalars(stmt):
        release = valid_release(session, p, organisation_id, on)
        rows.append(
            [
                p.last_name,
                p.first_name,
                p.birth_year,
                p.country_of_origin,
                p.profession,
                p.recognition_status,
                p.language_level,
                p.target_field,
                p.office.name if p.office else "",
                p.counsellor.display_name if p.counsellor else "",
                release.expires_on if release else None,
            ]
        )
    return rows


# --- export of a selection (leads' reporting) ------------------------------------------------

# What a lead reports with; never notes, health or session contents.
SELECTION_EXPORT_FIELDS = (
    "pseudonym",
    "last_name",
    "first_name",
    "office",
    "counsellor",
    "acquisition_channel",
    "referring_organisation",
    "hours",
    "entry_on",
    "exit_on",
    "exit_outcome",
    "recognition_status",
)
_EXPORT_BATCH = 500


def selection_export_rows(
    session: Session, user: Any, ids: Sequence[int], labels: dict[str, dict[str, Any]]
) -> Iterable[list[Any]]:
    """Yield a row per participant in `ids` that `user` may see, in name order, as it is read.

    `labels` maps a coded field (acquisition_channel, exit_outcome, recognition_status) to the
    labels of its codes; an unknown code is exported as stored.
    """
    stmt = (
        visible_participants(user)
        .where(ids_in(Participant.id, ids, session.get_bind().dialect.name))
        .options(
            joinedload(Participant.office),
            joinedload(Participant.counsellor),
            joinedload(Participant.referring_organisation),
        )
        .order_by(Participant.sort_name, Participant.id)
        .execution_options(yield_per=_EXPORT_BATCH)
    )

    def label(field: str, code: str) -> Any:
        return str(labels[field].get(code, code)) if code else ""

    for p in session.scalars(stmt):
        yield [
            p.pseudonym,
            p.last_name,
            p.first_name,
            p.office.name if p.office else "",
            p.counsellor.display_name if p.counsellor else "",
            label("acquisition_channel", p.acquisition_channel),
            p.referring_organisation.name if p.referring_organisation else "",
            # Decimal hours: a number in Excel (sums), "1,5" in the German CSV.
            round((p.total_minutes or 0) / 60, 2),
            p.entry_on,
            p.exit_on,
            label("exit_outcome", p.exit_outcome),
            label("recognition_status", p.recognition_status),
        ]


def record_selection_export(session: Session, ids: Sequence[int], fmt: str) -> None:
    """Audit an export of participants: one entry with count and format, one per participant.

    Exported names are seen names: like a search hit, every participant gets an entry so the
    log answers "who took her data", and her access export (Art. 15) lists it.
    """
    record(
        session,
        "export",
        entity_type="participant",
        summary=f"{len(ids)} rows ({fmt}) selection",
    )
    record_each(
        session,
        "export",
        entity_type="participant",
        entities=[(i, f"Teilnehmende #{i} (Auswahl exportiert, {fmt})") for i in ids],
    )


def partners_with_releases(session: Session) -> list[Organisation]:
    """Organisations that hold at least one release from confidentiality."""
    return list(
        session.scalars(
            sa.select(Organisation)
            .where(Organisation.id.in_(sa.select(ConsentRelease.organisation_id)))
            .order_by(Organisation.sort_name, Organisation.id)
        )
    )


# --- configuring the checklist --------------------------------------------------------------------


def all_item_types(session: Session) -> list[SupportItemType]:
    """Every checklist item type, active or not, in display order."""
    return list(
        session.scalars(
            sa.select(SupportItemType).order_by(SupportItemType.position, SupportItemType.name)
        )
    )


def add_item_type(session: Session, name: str) -> SupportItemType:
    """Add a checklist item type at the end; participants get it when their page is opened."""
    name = name.strip()
    if not name:
        raise ParticipantError(_l("Please enter a name."))
    if session.scalar(sa.select(SupportItemType.id).where(SupportItemType.name == name)):
        raise ParticipantError(_l("An item with this name exists already."))
    last = session.scalar(sa.select(sa.func.max(SupportItemType.position))) or 0
    item_type = SupportItemType(name=name, position=last + 1, is_active=True)
    session.add(item_type)
    session.flush()
    return item_type


def set_item_type_active(session: Session, item_type: SupportItemType, active: bool) -> None:
    """Switch a type on or off; switched-off types are no longer added to checklists."""
    item_type.is_active = active
    session.flush()


# --- case work: case dates, contact log, timeline --------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
# The planned transfer's follow-up falls due this many days before it (CRM_TRANSFER_LEAD_DAYS).
TRANSFER_LEAD_DAYS = 14
# Stored subjects are data in the office's language, like the note `mark_done` logs: the same
# German text whoever saves the date, from a page, the CLI or a job (no request locale there).
CASE_SUBJECTS = {
    "next_contact": "Nächster Kontakt (%(pseudonym)s)",
    "transfer": "Übergang am %(date)s: %(what)s (%(pseudonym)s)",
}


def _open_case_followup(session: Session, participant: Participant, kind: str) -> FollowUp | None:
    return session.scalar(
        sa.select(FollowUp).where(
            FollowUp.participant_id == participant.id,
            FollowUp.case_kind == kind,
            FollowUp.status == "open",
        )
    )


def _case_subject(participant: Participant, kind: str) -> str:
    # The pseudonym, not the name: the subject travels in reminder e-mails.
    if kind == "next_contact":
        return CASE_SUBJECTS[kind] % {"pseudonym": participant.pseudonym}
    assert participant.transfer_on is not None
    return CASE_SUBJECTS[kind] % {
        "date": fmt_date(participant.transfer_on),
        "what": participant.transfer_note or "–",
        "pseudonym": participant.pseudonym,
    }


def _keep_case_followup(
    session: Session, participant: Participant, kind: str, due: date | None, by: User | None
) -> FollowUp | None:
    """Create, move or (with `due` None) cancel the participant's open follow-up of `kind`."""
    fu = _open_case_followup(session, participant, kind)
    if due is None:
        if fu is not None:
            followups.cancel(session, fu)
        return None
    subject = _case_subject(participant, kind)
    if fu is None:
        return followups.create_followup(
            session,
            subject=subject,
            due_date=due,
            assignee=participant.counsellor,
            created_by=by,
            participant=participant,
            case_kind=kind,
        )
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
    return fu


def transfer_due_date(transfer_on: date, lead_days: int, today: date) -> date:
    """When the transfer's follow-up falls due: `lead_days` before it, but not before today."""
    return max(transfer_on - timedelta(days=max(lead_days, 0)), min(today, transfer_on))


def plan_case_dates(
    session: Session,
    participant: Participant,
    *,
    next_contact_on: date | None,
    transfer_on: date | None,
    transfer_note: str = "",
    lead_days: int = TRANSFER_LEAD_DAYS,
    today: date,
    by: User | None = None,
) -> Participant:
    """Set or clear the next contact and the planned transfer, keeping their follow-ups.

    Only a changed date (or transfer text) touches its follow-up, so a follow-up already done
    is not created again by saving the unchanged date. A changed date must not lie in the past.
    """
    transfer_note = transfer_note.strip()[:200]
    contact_changed = next_contact_on != participant.next_contact_on
    transfer_changed = (transfer_on, transfer_note) != (
        participant.transfer_on,
        participant.transfer_note,
    )
    if contact_changed and next_contact_on is not None and next_contact_on < today:
        raise ParticipantError("next contact in the past")
    if transfer_changed and transfer_on is not None and transfer_on < today:
        raise ParticipantError("transfer in the past")
    participant.next_contact_on = next_contact_on
    participant.transfer_on = transfer_on
    participant.transfer_note = transfer_note if transfer_on is not None else ""
    session.flush()
    if contact_changed:
        _keep_case_followup(session, participant, "next_contact", next_contact_on, by)
    if transfer_changed:
        due = transfer_due_date(transfer_on, lead_days, today) if transfer_on else None
        _keep_case_followup(session, participant, "transfer", due, by)
    session.flush()
    return participant


def _reassign_case_followups(session: Session, participant: Participant) -> None:
    """A new responsible counsellor takes over the open follow-ups of the case dates."""
    counsellor = session.get(User, participant.counsellor_id)
    if counsellor is None:
        return
    for fu in session.scalars(
        sa.select(FollowUp).where(
            FollowUp.participant_id == participant.id,
            FollowUp.case_kind != "",
            FollowUp.status == "open",
        )
    ):
        followups.reassign(session, fu, counsellor)


def open_followups(
    session: Session, participant: Participant, *, limit: int = 50
) -> list[FollowUp]:
    """The participant's open follow-ups (anyone's), the most urgent first."""
    return list(
        session.scalars(
            sa.select(FollowUp)
            .where(FollowUp.participant_id == participant.id, FollowUp.status == "open")
            .options(joinedload(FollowUp.assignee))
            .order_by(FollowUp.due_at, FollowUp.id)
            .limit(limit)
        )
    )


def add_contact(
    session: Session,
    participant: Participant,
    *,
    kind: str,
    happened_at: datetime,
    duration_minutes: int | None = None,
    note: str = "",
    user: User | None = None,
) -> ParticipantContact:
    """Log a call, e-mail, meeting or letter; contacts are not counselling hours (no entry)."""
    if kind not in CONTACT_KINDS:
        raise ParticipantError(f"unknown contact kind {kind!r}")
    if duration_minutes is not None and not 0 < duration_minutes <= 24 * 60:
        raise ParticipantError("duration must be between 1 and 1440 minutes")
    if happened_at.tzinfo is None:
        raise ParticipantError("happened_at must be timezone-aware")
    contact = ParticipantContact(
        participant=participant,
        kind=kind,
        happened_at=happened_at.astimezone(UTC),
        duration_minutes=duration_minutes,
        note=note.strip(),
        user=user,
    )
    session.add(contact)
    session.flush()
    return contact


def delete_contact(session: Session, contact: ParticipantContact) -> None:
    """Remove an entry of the contact log."""
    contact.participant.contacts.remove(contact)
    session.delete(contact)
    session.flush()


@dataclass(frozen=True)
class TimelineEntry:
    """A counselling session, a logged contact or a completed follow-up, for the timeline."""

    kind: str  # "session", "followup_done" or one of CONTACT_KINDS
    day: date
    at: datetime | None  # the moment of a contact or completion; sessions have a date only
    minutes: int | None
    note: str
    user: User | None
    record: CounsellingSession | ParticipantContact | followups.DoneFollowUp


def timeline(
    participant: Participant, done_followups: Sequence[followups.DoneFollowUp] = ()
) -> list[TimelineEntry]:
    """Sessions, contacts and completed follow-ups (`followups.done_followups`), newest first."""
    entries = [
        TimelineEntry("session", s.held_on, None, s.minutes, s.note, s.counsellor, s)
        for s in participant.sessions
    ]
    for c in participant.contacts:
        local = c.happened_at.astimezone(BERLIN)
        entries.append(
            TimelineEntry(c.kind, local.date(), local, c.duration_minutes, c.note, c.user, c)
        )
    for fu in done_followups:
        local = fu.done_at.astimezone(BERLIN)
        entries.append(
            TimelineEntry("followup_done", local.date(), local, None, fu.outcome, fu.done_by, fu)
        )

    def key(e: TimelineEntry) -> tuple[date, time, int]:
        # A session (date only) sorts after the contacts of its day.
        return (e.day, e.at.time() if e.at else time.max, e.record.id)

    return sorted(entries, key=key, reverse=True)
