"""A test of a newsletter text to the signed-in staff member: one helper for the template
preview and the campaign page, so both queue, explain a failure and confirm alike."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, flash, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from crm.contacts.models import Person
from crm.extensions import db
from crm.newsletters import service
from crm.newsletters.models import NewsletterList
from crm.newsletters.rendering import TemplateProblem
from crm.security import has_permission

log = logging.getLogger(__name__)


def stand_in() -> Person:
    """The addressee of a test without a chosen recipient: the staff member's own name (no
    subscriber's data leaves the list)."""
    return Person(id=0, first_name="", last_name=current_user.display_name, email="")


def queued_note(row_id: int, email: str) -> Markup | str:
    """The flash after a test send: in the outbox, with a link to its row for admins."""
    text = _("The test mail to %(email)s is in the outbox and will be sent shortly.", email=email)
    if not has_permission(current_user, "admin.system"):
        return text
    link = Markup('<a class="alert-link" href="{}">{}</a>').format(
        url_for("mail.detail", mail_id=row_id), _("Show in the outbox")
    )
    return Markup("{} {}").format(text, link)


def send_test_to_me(source: Any, person: Person, lst: NewsletterList) -> None:
    """Queue `source` (a template or a campaign's own copy) rendered for `person` to the
    signed-in staff member, commit, and flash what happened."""
    try:
        row = service.queue_test(
            db.session,
            service.MailSettings.from_config(current_app.config),
            source,
            person=person,
            lst=lst,
            to_email=current_user.email,
            to_name=current_user.display_name,
            user_id=current_user.id,
        )
        db.session.commit()
    except TemplateProblem as problem:
        db.session.rollback()
        flash(problem.message, "danger")
    except ValueError as exc:
        db.session.rollback()
        log.warning("newsletter test send failed: %s", exc)
        flash(_("The test mail could not be sent: %(error)s", error=str(exc)), "danger")
    else:
        flash(queued_note(row.id, current_user.email), "success")
