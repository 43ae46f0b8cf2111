"""The rules of needs surveys: building questions, freezing versions, rounds and their
recipients, personal links, invitations and reminders through the outbox, answers and their
needs on the organisation, and the results of a round."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from crm.contacts.models import (
    QUALIFICATION_LEVELS,
    Affiliation,
    ContactListMember,
    Organisation,
    Person,
    QualificationNeed,
)
from crm.mail.message import build_message
from crm.mail.queue import enqueue, mail_domain
from crm.newsletters.audiences import (
    ORGANISATION_FILTER_KEYS,
    FilterSpecError,
    clean_filter_spec,
    organisation_conditions,
)
from crm.signals import RowChange, merging, move_column
from crm.surveys.models import (
    QUESTION_KINDS,
    TIME_FRAMES,
    Survey,
    SurveyRecipient,
    SurveyResponse,
    SurveyRound,
    SurveyUnreached,
    SurveyVersion,
)

log = logging.getLogger(__name__)

LINK_SALT = "survey-link"
# Rows of the needs matrix offered on the answer page (no script adds rows).
NEEDS_ROWS = 6
MAX_TEXT = 2000
MAX_NUMBER = 1_000_000
MAX_OPTIONS = 20


class SurveyError(ValueError):
    """An action the rules refuse; the message is shown to the user."""


# --- building ------------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip()[:200] for line in (text or "").splitlines() if line.strip()]


def check_question(data: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A question from the builder's form fields, and the errors by field (empty if none)."""
    kind = (data.get("kind") or "").strip()
    text_de = (data.get("text_de") or "").strip()[:500]
    text_en = (data.get("text_en") or "").strip()[:500]
    options_de = _lines(data.get("options_de", ""))
    options_en = _lines(data.get("options_en", ""))
    errors: dict[str, Any] = {}
    if kind not in QUESTION_KINDS:
        errors["kind"] = _l("Please choose a kind of question.")
    if not text_de:
        errors["text_de"] = (
            _l("Please enter the heading in German.")
            if kind == "section"
            else _l("Please enter the question in German.")
        )
    if kind in ("single", "multiple"):
        if len(options_de) < 2:
            errors["options_de"] = _l("A choice needs at least two options, one per line.")
        elif len(options_de) > MAX_OPTIONS:
            errors["options_de"] = _l("At most 20 options.")
        elif options_en and len(options_en) != len(options_de):
            errors["options_en"] = _l("Give as many English options as German ones, or none.")
    else:
        options_de, options_en = [], []
    question: dict[str, Any] = {
        "kind": kind,
        "text_de": text_de,
        "text_en": text_en,
        "options_de": options_de,
        "options_en": options_en,
    }
    if kind == "section":
        # Only sections carry an introduction: the other kinds keep the keys they always had,
        # so an unchanged question never makes a new version.
        question["intro_de"] = (data.get("intro_de") or "").strip()[:MAX_TEXT]
        question["intro_en"] = (data.get("intro_en") or "").strip()[:MAX_TEXT]
    return question, errors


def add_question(survey: Survey, question: dict[str, Any]) -> str:
    """Append a question to the survey's working copy; returns its key."""
    key = secrets.token_hex(4)
    # Reassigned, not mutated: the JSON column notices only a new list.
    survey.questions = [*survey.questions, {**question, "key": key}]
    return key


def find_question(survey: Survey, key: str) -> dict[str, Any] | None:
    """The question with this key in the working copy."""
    return next((q for q in survey.questions if q.get("key") == key), None)


def update_question(survey: Survey, key: str, question: dict[str, Any]) -> None:
    """Replace a question of the working copy (a sent version keeps its own copy)."""
    survey.questions = [
        {**question, "key": key} if q["key"] == key else q for q in survey.questions
    ]


def move_question(survey: Survey, key: str, step: int) -> None:
    """Move a question or a section heading up (-1) or down (+1)."""
    items = list(survey.questions)
    index = next((i for i, q in enumerate(items) if q["key"] == key), None)
    if index is None:
        return
    target = index + step
    if 0 <= target < len(items):
        items[index], items[target] = items[target], items[index]
        survey.questions = items


def delete_question(survey: Survey, key: str) -> None:
    """Remove a question from the working copy."""
    survey.questions = [q for q in survey.questions if q["key"] != key]


def current_version(session: Session, survey: Survey) -> SurveyVersion:
    """The frozen version matching the working copy, created if the copy changed since the
    last version: a round always points at questions that no later edit touches."""
    latest = session.scalar(
        sa.select(SurveyVersion)
        .where(SurveyVersion.survey_id == survey.id)
        .order_by(SurveyVersion.number.desc())
        .limit(1)
    )
    content = (survey.title, survey.intro_de, survey.intro_en, survey.questions)
    if (
        latest is not None
        and (
            latest.title,
            latest.intro_de,
            latest.intro_en,
            latest.questions,
        )
        == content
    ):
        return latest
    version = SurveyVersion(
        survey_id=survey.id,
        number=(latest.number + 1) if latest is not None else 1,
        title=survey.title,
        intro_de=survey.intro_de,
        intro_en=survey.intro_en,
        questions=[dict(q) for q in survey.questions],
    )
    session.add(version)
    session.flush()
    return version


@dataclass(frozen=True)
class Group:
    """A section of the answer page: its heading (None for the questions before the first
    section) and its questions, each with its number on the page."""

    section: dict[str, Any] | None
    questions: list[tuple[int, dict[str, Any]]]


def answer_groups(questions: list[dict[str, Any]]) -> list[Group]:
    """The questions grouped under the section headings that precede them, numbered across
    the whole survey (headings take no number)."""
    groups: list[Group] = []
    number = 0
    for q in questions:
        if q["kind"] == "section":
            groups.append(Group(q, []))
            continue
        if not groups:
            groups.append(Group(None, []))
        number += 1
        groups[-1].questions.append((number, q))
    return groups


# --- rounds and links ----------------------------------------------------------------------------


def link_token(secret: str, round_id: int, organisation_id: int) -> str:
    """The signed token of an organisation's personal link in a round."""
    return str(URLSafeSerializer(secret, salt=LINK_SALT).dumps([round_id, organisation_id]))


def token_hash(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def recipient_for_token(session: Session, secret: str, token: str) -> SurveyRecipient | None:
    """The recipient a personal link names, or None for a forged, altered or unknown one."""
    try:
        URLSafeSerializer(secret, salt=LINK_SALT).loads(token)
    except BadSignature:
        return None
    return session.scalar(
        sa.select(SurveyRecipient).where(SurveyRecipient.token_hash == token_hash(token))
    )


def _reachable(today: date) -> sa.ColumnElement[bool]:
    """A person who can get a link: an e-mail address and a current affiliation."""
    return sa.and_(
        Person.email != "",
        Person.email.is_not(None),
        sa.or_(Affiliation.until.is_(None), Affiliation.until >= today),
    )


def list_recipients(
    session: Session, contact_list_id: int, today: date
) -> list[tuple[int, int, str]]:
    """(organisation_id, person_id, email) for a static contact list: members with an e-mail
    address and a current affiliation; one person per organisation (the lowest id)."""
    rows = session.execute(
        sa.select(Affiliation.organisation_id, Person.id, Person.email)
        .join(ContactListMember, ContactListMember.person_id == Person.id)
        .join(Affiliation, Affiliation.person_id == Person.id)
        .where(ContactListMember.list_id == contact_list_id, _reachable(today))
        .order_by(Affiliation.organisation_id, Person.id)
    )
    chosen: dict[int, tuple[int, int, str]] = {}
    for org_id, person_id, email in rows:
        chosen.setdefault(org_id, (org_id, person_id, email))
    return list(chosen.values())


def clean_audience(raw: Any, kinds: Collection[str]) -> dict[str, list[str]]:
    """The organisation filter of a round (kinds, sectors, regions, size classes) in the
    newsletters' declarative spec; raises SurveyError for unknown values or an empty filter
    (a round to every organisation is never what staff mean)."""
    try:
        spec = clean_filter_spec(raw, keys=ORGANISATION_FILTER_KEYS, kinds=kinds)
    except FilterSpecError as exc:
        raise SurveyError(_l("Please choose the audience from the values offered.")) from exc
    if not spec:
        raise SurveyError(_l("Please choose at least one kind, sector, region or size class."))
    return spec


def _first_contacts(spec: dict[str, list[str]], today: date) -> Any:
    """Per matching organisation the lowest id of a reachable contact person."""
    return (
        sa.select(
            Affiliation.organisation_id.label("org_id"),
            sa.func.min(Person.id).label("person_id"),
        )
        .join(Person, Person.id == Affiliation.person_id)
        .join(Organisation, Organisation.id == Affiliation.organisation_id)
        .where(*organisation_conditions(spec), _reachable(today))
        .group_by(Affiliation.organisation_id)
        .subquery()
    )


def audience_recipients(
    session: Session, spec: dict[str, list[str]], today: date
) -> list[tuple[int, int, str]]:
    """(organisation_id, person_id, email) for the organisations a cleaned filter matches: one
    contact person each with an e-mail address and a current affiliation (the lowest id)."""
    first = _first_contacts(spec, today)
    rows = session.execute(
        sa.select(first.c.org_id, Person.id, Person.email)
        .join(Person, Person.id == first.c.person_id)
        .order_by(first.c.org_id)
    )
    return [(org_id, person_id, email) for org_id, person_id, email in rows]


def unreached_select(spec: dict[str, list[str]], today: date) -> sa.Select:
    """Ids of the matching organisations without a reachable contact person."""
    reachable = (
        sa.select(Affiliation.id)
        .join(Person, Person.id == Affiliation.person_id)
        .where(Affiliation.organisation_id == Organisation.id, _reachable(today))
        .exists()
    )
    return sa.select(Organisation.id).where(*organisation_conditions(spec), ~reachable)


def sector_choices(session: Session, limit: int = 500) -> list[str]:
    """The sectors organisations have, for the audience form."""
    return list(
        session.scalars(
            sa.select(Organisation.sector)
            .where(Organisation.sector != "")
            .distinct()
            .order_by(Organisation.sector)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Reach:
    """How many organisations a round would reach, and how many match but cannot be mailed."""

    recipients: int
    unreached: int


def _count(session: Session, select: sa.Select) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(select.subquery())) or 0)


def reach(
    session: Session,
    today: date,
    *,
    contact_list_id: int | None = None,
    audience: dict[str, list[str]] | None = None,
) -> Reach:
    """The preview of a round's recipients before it is created (counted in the database)."""
    if audience is not None:
        first = _first_contacts(audience, today)
        return Reach(
            _count(session, sa.select(first.c.org_id)),
            _count(session, unreached_select(audience, today)),
        )
    return Reach(len(list_recipients(session, contact_list_id or 0, today)), 0)


def create_round(
    session: Session,
    survey: Survey,
    *,
    name: str,
    closes_on: date,
    secret: str,
    today: date,
    contact_list_id: int | None = None,
    audience: dict[str, list[str]] | None = None,
) -> SurveyRound:
    """A round of the survey's current version for the organisations of a contact list or of
    an audience (a cleaned organisation filter, see `clean_audience`). Organisations the
    audience matches without a reachable contact person are kept as unreached."""
    if not any(q.get("kind") != "section" for q in survey.questions or []):
        raise SurveyError(_l("The survey has no questions yet."))
    if closes_on < today:
        raise SurveyError(_l("The closing date lies in the past."))
    if audience is not None:
        recipients = audience_recipients(session, audience, today)
        if not recipients:
            raise SurveyError(
                _l("No organisation of this audience has a contact person with an e-mail address.")
            )
    else:
        recipients = list_recipients(session, contact_list_id or 0, today)
        if not recipients:
            raise SurveyError(
                _l("Nobody on this list has an e-mail address and works at an organisation.")
            )
    version = current_version(session, survey)
    survey_round = SurveyRound(
        survey_id=survey.id,
        version_id=version.id,
        name=name,
        closes_on=closes_on,
        status="draft",
        audience_spec=audience,
    )
    session.add(survey_round)
    session.flush()
    # One executemany (an audience may match thousands of firms).
    session.execute(
        sa.insert(SurveyRecipient),
        [
            {
                "round_id": survey_round.id,
                "organisation_id": org_id,
                "person_id": person_id,
                "email": email,
                "token_hash": token_hash(link_token(secret, survey_round.id, org_id)),
            }
            for org_id, person_id, email in recipients
        ],
    )
    if audience is not None:
        unreached = unreached_select(audience, today).subquery()
        session.execute(
            sa.insert(SurveyUnreached).from_select(
                ["round_id", "organisation_id"],
                sa.select(sa.literal(survey_round.id), unreached.c.id),
            )
        )
    session.flush()
    return survey_round


def is_open(survey_round: SurveyRound, today: date) -> bool:
    """Answers are taken until the end of the closing day."""
    return survey_round.status != "closed" and today <= survey_round.closes_on


@dataclass(frozen=True)
class MailSettings:
    sender: str
    secret: str
    # link(token, language) -> the absolute URL of the answer page
    link: Callable[[str, str], str]
    # render(recipient, person, link, reminder) -> (subject, text)
    render: Callable[[SurveyRecipient, Person | None, str, bool], tuple[str, str]]


def _queue(
    session: Session, recipient: SurveyRecipient, mail: MailSettings, *, reminder: bool
) -> bool:
    person = session.get(Person, recipient.person_id) if recipient.person_id else None
    language = person.language if person is not None and person.language in ("de", "en") else "de"
    token = link_token(mail.secret, recipient.round_id, recipient.organisation_id)
    subject, text = mail.render(recipient, person, mail.link(token, language), reminder)
    name = person.full_name if person is not None else ""
    try:
        message = build_message(
            sender=mail.sender,
            to=(name, recipient.email),
            subject=subject,
            text=text,
            extra_headers={"Auto-Submitted": "auto-generated"},
            message_id_domain=mail_domain(mail.sender),
        )
        enqueue(session, message, kind="notice", person_id=recipient.person_id)
    except ValueError:
        # One unusable address must not stop the others.
        log.warning("survey round %s: no mail for recipient %s", recipient.round_id, recipient.id)
        return False
    return True


def _pending(round_id: int, *, reminder: bool, since: datetime) -> sa.ColumnElement[bool]:
    """Recipients a sending still has to mail. A reminder goes to those invited before it was
    asked for (`since`) who have not answered and were not reminded since: a run resumed
    after a crash, or run twice, mails nobody twice."""
    if not reminder:
        return sa.and_(SurveyRecipient.round_id == round_id, SurveyRecipient.invited_at.is_(None))
    return sa.and_(
        SurveyRecipient.round_id == round_id,
        SurveyRecipient.invited_at.is_not(None),
        SurveyRecipient.invited_at <= since,
        SurveyRecipient.responded_at.is_(None),
        sa.or_(SurveyRecipient.reminded_at.is_(None), SurveyRecipient.reminded_at < since),
    )


def count_pending(session: Session, round_id: int, *, reminder: bool, since: datetime) -> int:
    """How many recipients a sending has still to mail."""
    return int(
        session.scalar(
            sa.select(sa.func.count(SurveyRecipient.id)).where(
                _pending(round_id, reminder=reminder, since=since)
            )
        )
        or 0
    )


@dataclass(frozen=True)
class Batch:
    """What one batch of a sending did: recipients looked at, mails queued, the last id."""

    seen: int
    queued: int
    last_id: int


def send_batch(
    session: Session,
    survey_round: SurveyRound,
    mail: MailSettings,
    *,
    reminder: bool,
    since: datetime,
    now: datetime,
    after_id: int = 0,
    size: int = 200,
) -> Batch:
    """Queue the invitations (or reminders) of the next `size` pending recipients after
    `after_id` through the outbox and mark them invited (reminded) in the same transaction;
    the caller commits. A recipient whose mail cannot be built stays pending (and is passed
    over by the next batch through `after_id`)."""
    recipients = session.scalars(
        sa.select(SurveyRecipient)
        .where(
            _pending(survey_round.id, reminder=reminder, since=since),
            SurveyRecipient.id > after_id,
        )
        .order_by(SurveyRecipient.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    ).all()
    queued = 0
    for recipient in recipients:
        if _queue(session, recipient, mail, reminder=reminder):
            if reminder:
                recipient.reminded_at = now
            else:
                recipient.invited_at = now
            queued += 1
    if queued and not reminder and survey_round.status == "draft":
        survey_round.status = "sent"
    session.flush()
    return Batch(len(recipients), queued, recipients[-1].id if recipients else after_id)


# --- answers -------------------------------------------------------------------------------------


@dataclass
class Parsed:
    """Answers read from the answer form: `answers` as typed (for showing again), `errors` by
    field name."""

    answers: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)


def _int(text: str) -> int | None:
    text = text.strip().replace(".", "").replace(" ", "")
    if not text.isdigit() or len(text) > 9:
        return None
    return int(text)


def parse_answers(questions: list[dict[str, Any]], form: Any) -> Parsed:
    """Read and check the answer form's fields for these questions (`form`: a werkzeug
    MultiDict or anything with its `get` and `getlist`)."""
    parsed = Parsed()
    for q in questions:
        name = f"q_{q['key']}"
        kind = q["kind"]
        if kind == "section":
            continue  # a heading: nothing to answer, and nothing stored
        if kind == "single":
            value = str(form.get(name, "") or "")
            if value and value not in {str(i) for i in range(len(q["options_de"]))}:
                parsed.errors[name] = _l("Please choose one of the options.")
                value = ""
            parsed.answers[q["key"]] = value
        elif kind == "multiple":
            allowed = {str(i) for i in range(len(q["options_de"]))}
            parsed.answers[q["key"]] = [v for v in form.getlist(name) if v in allowed]
        elif kind == "yesno":
            value = str(form.get(name, "") or "")
            parsed.answers[q["key"]] = value if value in ("yes", "no") else ""
        elif kind == "number":
            raw = str(form.get(name, "") or "").strip()[:20]
            if raw and (_int(raw) is None or (_int(raw) or 0) > MAX_NUMBER):
                parsed.errors[name] = _l("Please enter a whole number (0 or more).")
            parsed.answers[q["key"]] = raw
        elif kind == "text":
            parsed.answers[q["key"]] = str(form.get(name, "") or "")[:MAX_TEXT]
        elif kind == "needs":
            rows = []
            for i in range(NEEDS_ROWS):
                occupation = str(form.get(f"{name}_occ_{i}", "") or "").strip()[:200]
                count = str(form.get(f"{name}_count_{i}", "") or "").strip()[:20]
                frame = str(form.get(f"{name}_tf_{i}", "") or "")
                frame = frame if frame in TIME_FRAMES else ""
                level = str(form.get(f"{name}_lvl_{i}", "") or "")
                level = level if level in QUALIFICATION_LEVELS else ""
                if not occupation and not count:
                    continue
                number = _int(count)
                if not occupation:
                    parsed.errors[f"{name}_occ_{i}"] = _l("Please name the occupation.")
                if number is None or number < 1 or number > MAX_NUMBER:
                    parsed.errors[f"{name}_count_{i}"] = _l(
                        "Please enter how many people (1 or more)."
                    )
                rows.append(
                    {
                        "occupation": occupation,
                        "count": count,
                        "time_frame": frame,
                        "qualification_level": level,
                    }
                )
            parsed.answers[q["key"]] = rows
    return parsed


def has_any_answer(answers: dict[str, Any]) -> bool:
    """True if at least one question has an answer (a choice, a text, a row of needs)."""
    return any(str(v).strip() if isinstance(v, str) else bool(v) for v in answers.values())


def response_of(session: Session, recipient: SurveyRecipient) -> SurveyResponse | None:
    """The organisation's response in the recipient's round."""
    return session.scalar(
        sa.select(SurveyResponse).where(
            SurveyResponse.round_id == recipient.round_id,
            SurveyResponse.organisation_id == recipient.organisation_id,
        )
    )


def save_answers(
    session: Session,
    recipient: SurveyRecipient,
    answers: dict[str, Any],
    *,
    final: bool,
    now: datetime,
    today: date,
) -> SurveyResponse:
    """Keep the answers as a draft, or submit them: the response is locked and the needs matrix
    becomes the organisation's qualification needs, in the caller's transaction."""
    survey_round = session.get(SurveyRound, recipient.round_id)
    assert survey_round is not None
    if not is_open(survey_round, today):
        raise SurveyError(_l("This survey is closed."))
    response = response_of(session, recipient)
    if response is not None and response.status == "final":
        raise SurveyError(_l("Your organisation has already answered this survey. Thank you!"))
    if response is None:
        response = SurveyResponse(
            round_id=recipient.round_id,
            organisation_id=recipient.organisation_id,
            recipient_id=recipient.id,
            status="draft",
        )
        session.add(response)
    response.answers = answers
    if final:
        response.status = "final"
        response.submitted_at = now
        recipient.responded_at = now
        session.flush()
        version = session.get(SurveyVersion, survey_round.version_id)
        assert version is not None
        for q in version.questions:
            if q["kind"] != "needs":
                continue
            for row in answers.get(q["key"]) or []:
                session.add(
                    QualificationNeed(
                        organisation_id=recipient.organisation_id,
                        occupation=row["occupation"],
                        count=_int(str(row["count"])) or 1,
                        surveyed_on=today,
                        time_frame=row["time_frame"],
                        # Drafts saved before the matrix asked for it have no level.
                        qualification_level=row.get("qualification_level", ""),
                        note=survey_round.name[:200],
                        survey_response_id=response.id,
                    )
                )
    session.flush()
    return response


def enter_phone_answer(
    session: Session,
    recipient: SurveyRecipient,
    answers: dict[str, Any],
    *,
    user_id: int,
    now: datetime,
    today: date,
) -> SurveyResponse:
    """Submit the answers a firm gave on the phone, entered by staff: the same final submit as
    the firm's own (needs land on the organisation, the recipient counts as answered), marked
    with the channel and who entered it. A firm that has answered already is refused."""
    # Locks the recipient's row on PostgreSQL: two colleagues saving the same call at once
    # give one answer and one refusal.
    responded_at = session.scalar(
        sa.select(SurveyRecipient.responded_at)
        .where(SurveyRecipient.id == recipient.id)
        .with_for_update()
    )
    existing = response_of(session, recipient)
    if responded_at is not None or (existing is not None and existing.status == "final"):
        raise SurveyError(_l("This organisation has already answered this survey."))
    response = save_answers(session, recipient, answers, final=True, now=now, today=today)
    response.channel = "phone"
    response.entered_by_id = user_id
    session.flush()
    return response


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    recipients: int
    responded: int
    by_occupation: list[tuple[str, int]]
    by_sector: list[tuple[str, int]]
    by_region: list[tuple[str, int]]
    by_size: list[tuple[str, int]]
    # By qualification level key ("" = not said); the pages show the level's name.
    by_level: list[tuple[str, int]] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        """Share of recipients that answered (None without recipients)."""
        return self.responded / self.recipients if self.recipients else None


def _totals(session: Session, round_id: int, column: Any) -> list[tuple[str, int]]:
    total = sa.func.sum(QualificationNeed.count)
    rows = session.execute(
        sa.select(column, total)
        .join(SurveyResponse, SurveyResponse.id == QualificationNeed.survey_response_id)
        .join(Organisation, Organisation.id == QualificationNeed.organisation_id)
        .where(SurveyResponse.round_id == round_id)
        .group_by(column)
        .order_by(total.desc(), column)
    )
    return [(str(key or ""), int(n or 0)) for key, n in rows]


def totals_by_qualification_level(
    session: Session, survey_round: SurveyRound
) -> list[tuple[str, int]]:
    """People needed in the round's answers by qualification level ("" = not said)."""
    return _totals(session, survey_round.id, QualificationNeed.qualification_level)


def results(session: Session, survey_round: SurveyRound) -> Results:
    """Response rate and the needs of the round's answers, totalled."""
    counts = session.execute(
        sa.select(
            sa.func.count(SurveyRecipient.id),
            sa.func.count(SurveyRecipient.responded_at),
        ).where(SurveyRecipient.round_id == survey_round.id)
    ).one()
    return Results(
        recipients=int(counts[0] or 0),
        responded=int(counts[1] or 0),
        by_occupation=_totals(session, survey_round.id, QualificationNeed.occupation),
        by_sector=_totals(session, survey_round.id, Organisation.sector),
        by_region=_totals(session, survey_round.id, Organisation.region),
        by_size=_totals(session, survey_round.id, Organisation.size_class),
        by_level=totals_by_qualification_level(session, survey_round),
    )


@dataclass(frozen=True)
class CompareRow:
    """One value of a breakdown in two rounds."""

    key: str
    this: int
    other: int

    @property
    def difference(self) -> int:
        """This round minus the compared round."""
        return self.this - self.other


@dataclass(frozen=True)
class Comparison:
    """Two rounds' results side by side, breakdown by breakdown."""

    this: Results
    other: Results
    by_occupation: list[CompareRow]
    by_sector: list[CompareRow]
    by_region: list[CompareRow]
    by_size: list[CompareRow]
    by_level: list[CompareRow]

    @property
    def rate_difference(self) -> float | None:
        """This round's response rate minus the compared one's (None if either has none)."""
        if self.this.rate is None or self.other.rate is None:
            return None
        return self.this.rate - self.other.rate


def _side_by_side(this: list[tuple[str, int]], other: list[tuple[str, int]]) -> list[CompareRow]:
    first, second = dict(this), dict(other)
    keys = list(dict.fromkeys([*first, *second]))
    rows = [CompareRow(k, first.get(k, 0), second.get(k, 0)) for k in keys]
    # Largest need of this round first, then of the compared one: the order of the tables.
    return sorted(rows, key=lambda r: (-r.this, -r.other, r.key))


def compare(this: Results, other: Results) -> Comparison:
    """The results of two rounds side by side; a value missing in one round counts 0."""
    return Comparison(
        this=this,
        other=other,
        by_occupation=_side_by_side(this.by_occupation, other.by_occupation),
        by_sector=_side_by_side(this.by_sector, other.by_sector),
        by_region=_side_by_side(this.by_region, other.by_region),
        by_size=_side_by_side(this.by_size, other.by_size),
        by_level=_side_by_side(this.by_level, other.by_level),
    )


# --- merges --------------------------------------------------------------------------------------


def move_merged_references(
    entity_type: str, *, session: Session, keep_id: int, drop_id: int
) -> list[RowChange]:
    """merging handler: links and answers move to the record kept. In a round where the kept
    organisation has its own link or answer, the merged one's stays behind and goes with it
    (one answer per organisation and round)."""
    changes: list[RowChange] = []
    if entity_type == "person":
        changes += move_column(session, SurveyRecipient.person_id, keep_id, drop_id)
    elif entity_type == "organisation":
        for model in (SurveyRecipient, SurveyResponse, SurveyUnreached):
            taken = sa.select(model.round_id).where(model.organisation_id == keep_id)
            changes += move_column(
                session,
                model.organisation_id,
                keep_id,
                drop_id,
                where=model.round_id.not_in(taken),
            )
        # The kept firm's own link counts as answered where the merged firm's answer moved in.
        answered = session.execute(
            sa.select(SurveyResponse.round_id, SurveyResponse.submitted_at).where(
                SurveyResponse.organisation_id == keep_id, SurveyResponse.status == "final"
            )
        ).all()
        for round_id, submitted_at in answered:
            session.execute(
                sa.update(SurveyRecipient)
                .where(
                    SurveyRecipient.round_id == round_id,
                    SurveyRecipient.organisation_id == keep_id,
                    SurveyRecipient.responded_at.is_(None),
                )
                .values(responded_at=submitted_at)
            )
    return changes


def connect_signals() -> None:
    """Take part in contact merges (called once by create_app)."""
    merging.connect(move_merged_references)
