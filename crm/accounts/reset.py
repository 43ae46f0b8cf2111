"""Self-service password reset: a signed, expiring, single-use link sent by e-mail.

The token names the user and a fingerprint of their current password hash, signed with the
app's secret. It needs no table: once the password changes (through this link, the own
account page or an admin reset) the hash changes and every earlier link stops working, so a
link works once. Requests are throttled per address and per client address in the database,
like logins, and recorded as failed attempts under their own keys so that asking for links
never locks anybody out of logging in.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.orm import Session

from crm import public_forms
from crm.accounts.models import User
from crm.accounts.service import (
    ThrottlePolicy,
    get_user_by_email,
    normalize_email,
    reserve_attempt,
    set_password,
)
from crm.audit.service import Actor, record
from crm.database import utcnow
from crm.mail.message import build_message
from crm.mail.queue import enqueue, mail_domain

log = logging.getLogger(__name__)

RESET_SALT = "password-reset"
# Long enough to fetch the mail and choose a password, short enough that an old mail in a
# shared mailbox is of no use.
RESET_MAX_AGE_MINUTES = 60
# Kept apart from the login's keys: the throttle counts reset requests by themselves.
KEY_PREFIX = "reset:"


@dataclass(frozen=True)
class ResetMail:
    sender: str
    base_url: str
    secret: str
    max_age_minutes: int = RESET_MAX_AGE_MINUTES


def _fingerprint(user: User) -> str:
    # A digest, not the hash itself: the token's payload is readable by whoever holds it.
    return hashlib.sha256(f"{user.id}\0{user.email}\0{user.password_hash}".encode()).hexdigest()[
        :32
    ]


def make_token(user: User, secret: str) -> str:
    """A signed token for `user` that works until the password changes (or it expires)."""
    return URLSafeTimedSerializer(secret, salt=RESET_SALT).dumps([user.id, _fingerprint(user)])


def user_for_token(
    session: Session,
    secret: str,
    token: str,
    *,
    max_age_minutes: int = RESET_MAX_AGE_MINUTES,
    lock: bool = False,
) -> tuple[User | None, str]:
    """The active user a reset link names, or None with the reason ("expired", "invalid").

    With `lock` the user's row is locked for the transaction and read afresh, so two
    submissions of one link cannot both pass the check and both set a password.
    """
    read = public_forms.read_id_token(secret, RESET_SALT, token, max_age_minutes * 60)
    if isinstance(read, str):
        return None, read
    user_id, fingerprint = read
    stmt = sa.select(User).where(User.id == user_id)
    if lock:
        # `of`: the home office is joined eagerly, and an outer join cannot be locked.
        stmt = stmt.with_for_update(of=User).execution_options(populate_existing=True)
    user = session.scalar(stmt)
    if (
        user is None
        or not user.is_active
        or not secrets.compare_digest(_fingerprint(user), fingerprint)
    ):
        return None, "invalid"
    return user, ""


def _reset_message(user: User, mail: ResetMail) -> Any:
    token = make_token(user, mail.secret)
    link = mail.base_url.rstrip("/") + url_for("accounts.reset_password", token=token)
    lang = "en" if user.locale == "en" else "de"
    context = {"user": user, "link": link, "minutes": mail.max_age_minutes, "lang": lang}
    with force_locale(lang):
        subject = _("Set a new password for netzwerk-crm")
        text = render_template("email/password_reset.txt", **context)
        html = render_template("email/password_reset.html", subject=subject, **context)
    return build_message(
        sender=mail.sender,
        to=(user.display_name, user.email),
        subject=subject,
        text=text,
        html=html,
        extra_headers={"Auto-Submitted": "auto-generated"},
        message_id_domain=mail_domain(mail.sender),
    )


def request_reset(
    session: Session,
    email: str,
    *,
    ip: str,
    policy: ThrottlePolicy,
    mail: ResetMail,
    now: datetime | None = None,
) -> bool:
    """Handle a "forgot password" request; False if the throttle refused it.

    Whether or not an account exists or is active, the caller answers the same; only an
    active account gets a mail, queued in the outbox together with its audit entry (the
    caller commits). The attempt itself is committed at once, like a login attempt.
    """
    now = now or utcnow()
    key = normalize_email(email)[:254]
    actor = Actor(None, key, ip)
    account_key, ip_key = (KEY_PREFIX + key)[:254], (KEY_PREFIX + ip)[:64]
    if reserve_attempt(session, account_key, ip_key, policy, now) is None:
        record(
            session,
            "password_reset_throttled",
            entity_type="user_account",
            summary=key,
            actor=actor,
        )
        return False
    user = get_user_by_email(session, key)
    record(
        session,
        "password_reset_request",
        entity_type="user_account",
        entity_id=user.id if user is not None else None,
        summary=key,
        actor=actor,
    )
    if user is not None and user.is_active:
        try:
            enqueue(session, _reset_message(user, mail), kind="notice", user_id=user.id)
        except ValueError:
            # An address the outbox refuses: the answer must stay the same, so only the log tells.
            log.error("password reset mail for user %s cannot be built", user.id, exc_info=True)
    return True


def reset_with_token(session: Session, user: User, new: str, *, ip: str = "") -> None:
    """Set the password chosen through a reset link and end every session of the user.

    Raises PasswordPolicyError for a password the policy refuses (nothing changed then).
    """
    set_password(session, user, new)
    record(
        session,
        "password_reset_by_link",
        entity_type="user_account",
        entity_id=user.id,
        summary=user.email,
        actor=Actor(user.id, user.email, ip),
    )
