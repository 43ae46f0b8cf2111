"""The short survey's mail to the former participant: text in her language, link to the public
answer page. Built in Python so that its strings are extracted for the catalogues; it names
no ESF datum (and nothing of Art. 9 GDPR), only that her counselling ended."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from crm.esf.followup_link import LINK_VALID_DAYS, LinkMail
from crm.participants.models import Participant


def render(participant: Participant, link: str, language: str, until: date) -> tuple[str, str]:
    """(subject, text) of the mail with the personal link."""
    with force_locale(language):
        subject = _("Two short questions six months after your counselling")
        name = participant.full_name
        greeting = _("Hello %(name)s,", name=name) if name else _("Hello,")
        office = participant.office.name if participant.office is not None else ""
        text = "\n\n".join(
            [
                greeting,
                _(
                    "about six months ago your counselling with us ended. Our project is funded "
                    "by the European Social Fund Plus, and we would like to know how you are "
                    "doing today. There are only two questions; answering takes a minute."
                ),
                _("Your personal link:") + "\n" + link,
                _(
                    "The link works until %(date)s. If you would rather not answer, you need "
                    "not do anything.",
                    date=until.strftime("%d.%m.%Y"),
                ),
                _("Kind regards") + "\n" + (office or _("Your counselling team")),
            ]
        )
    return subject, text


def link_mail(config: Any, secret: str, base_url: str | None) -> LinkMail:
    """The mail settings (needs a request context for url_for). `base_url` (no trailing
    slash) is put before the path; None takes the request's own host (the scheduler's
    request context is made for CRM_BASE_URL)."""

    def link(token: str, lang: str) -> str:
        if base_url is None:
            return url_for("esf.followup_answer", token=token, sprache=lang, _external=True)
        return base_url + url_for("esf.followup_answer", token=token, sprache=lang)

    return LinkMail(
        sender=str(config["CRM_MAIL_FROM"]),
        secret=secret,
        link=link,
        render=render,
        valid_days=valid_days(config),
    )


def valid_days(config: Any) -> int:
    """How many days a link takes answers (CRM_ESF_LINK_VALID_DAYS, default 60)."""
    try:
        days = int(config.get("CRM_ESF_LINK_VALID_DAYS", LINK_VALID_DAYS))
    except (TypeError, ValueError):
        return LINK_VALID_DAYS
    return days if days > 0 else LINK_VALID_DAYS
