"""Demo data: one needs survey, one round to the fair contacts' firms with two answers and an
earlier round to the employers by audience with one, so that rounds can be compared."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from crm.contacts.models import ContactList
from crm.database import utcnow
from crm.surveys import service
from crm.surveys.models import Survey, SurveyRecipient

QUESTIONS = [
    {
        "kind": "needs",
        "text_de": "Welche Fachkräfte suchen Sie, wie viele und bis wann?",
        "text_en": "Which skilled workers do you need, how many and by when?",
    },
    {
        "kind": "yesno",
        "text_de": "Können Sie sich vorstellen, Fachkräfte aus dem Ausland einzustellen?",
        "text_en": "Would you consider hiring skilled workers from abroad?",
    },
    {
        "kind": "single",
        "text_de": "Wie viele Beschäftigte hat Ihr Betrieb?",
        "text_en": "How many employees does your firm have?",
        "options_de": "1–9\n10–49\n50–249\n250 und mehr",
        "options_en": "1–9\n10–49\n50–249\n250 or more",
    },
    {
        "kind": "text",
        "text_de": "Was sollten wir noch wissen?",
        "text_en": "Anything else we should know?",
    },
]

ANSWERS = [
    [("Pflegefachkraft", 3, "now", "skilled"), ("Koch/Köchin", 1, "6m", "")],
    [("Pflegefachkraft", 2, "12m", "skilled"), ("Elektroniker/in", 2, "6m", "master")],
]


def seed_surveys(session: Session, offices: dict[str, Any]) -> dict[str, int]:
    """A survey with a round on the fair contacts' list; two firms have answered."""
    contact_list = session.scalar(sa.select(ContactList).order_by(ContactList.id).limit(1))
    survey = Survey(
        title="Fachkräftebedarf",
        intro_de="Mit dieser kurzen Befragung erfassen wir, welche Fachkräfte Sie suchen.",
        intro_en="With this short survey we learn which skilled workers you are looking for.",
        questions=[],
    )
    session.add(survey)
    session.flush()
    for data in QUESTIONS:
        question, errors = service.check_question(data)
        if not errors:
            service.add_question(survey, question)
    if contact_list is None:
        return {"surveys": 1}
    now = utcnow()
    today = now.date()
    earlier = _earlier_round(session, survey, now)
    try:
        survey_round = service.create_round(
            session,
            survey,
            name="Bedarfsanalyse 1. Halbjahr 2027",
            closes_on=today + timedelta(days=30),
            contact_list_id=contact_list.id,
            secret=str(current_app.secret_key or ""),
            today=today,
        )
    except service.SurveyError:
        return {"surveys": 1}
    # The invitations count as sent before the demo starts (no mail is queued for them).
    survey_round.status = "sent"
    recipients = session.scalars(
        sa.select(SurveyRecipient)
        .where(SurveyRecipient.round_id == survey_round.id)
        .order_by(SurveyRecipient.id)
    ).all()
    for recipient in recipients:
        recipient.invited_at = now - timedelta(days=7)
    needs_key = survey_round.version.questions[0]["key"]
    answered = 0
    for recipient, rows in zip(recipients, ANSWERS, strict=False):
        answers = {
            needs_key: [
                {"occupation": occ, "count": str(n), "time_frame": tf, "qualification_level": lv}
                for occ, n, tf, lv in rows
            ]
        }
        service.save_answers(session, recipient, answers, final=True, now=now, today=today)
        answered += 1
    return {"surveys": 1, "survey_responses": answered + earlier}


EARLIER_ANSWER = [("Pflegefachkraft", 1, "now"), ("Lagerist/in", 2, "now")]


def _earlier_round(session: Session, survey: Survey, now: datetime) -> int:
    """The round of the half-year before, to the employers chosen by audience; one answer.
    Returns how many answers it got."""
    today = now.date()
    try:
        survey_round = service.create_round(
            session,
            survey,
            name="Bedarfsanalyse 2. Halbjahr 2026",
            closes_on=today + timedelta(days=7),
            audience={"org_kinds": ["employer"]},
            secret=str(current_app.secret_key or ""),
            today=today,
        )
    except service.SurveyError:
        return 0
    survey_round.status = "sent"
    recipient = session.scalar(
        sa.select(SurveyRecipient)
        .where(SurveyRecipient.round_id == survey_round.id)
        .order_by(SurveyRecipient.id)
        .limit(1)
    )
    if recipient is None:
        return 0
    for each in session.scalars(
        sa.select(SurveyRecipient).where(SurveyRecipient.round_id == survey_round.id)
    ):
        each.invited_at = now - timedelta(days=60)
    needs_key = survey_round.version.questions[0]["key"]
    rows = [{"occupation": occ, "count": str(n), "time_frame": tf} for occ, n, tf in EARLIER_ANSWER]
    service.save_answers(
        session, recipient, {needs_key: rows}, final=True, now=now - timedelta(days=50), today=today
    )
    return 1
