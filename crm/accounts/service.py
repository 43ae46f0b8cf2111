"""Account rules: creating users, logging in with throttling, server-side sessions."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import InstrumentedAttribute, Session

from crm.accounts.models import ROLE_VALUES, LoginAttempt, LoginSession, Office, User
from crm.accounts.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from crm.accounts.signals import user_deactivated
from crm.audit.service import Actor, record
from crm.database import rows_affected, utcnow, write_intent
from crm.security import ROLE_PERMISSIONS


class AccountError(ValueError):
    """A rule about accounts was broken; the message is shown to the user."""


@dataclass(frozen=True)
class ThrottlePolicy:
    window: timedelta = timedelta(minutes=15)
    max_failures_account: int = 5
    max_failures_ip: int = 20


@dataclass(frozen=True)
class AuthResult:
    user: User | None
    outcome: str  # "ok", "invalid", "throttled"


def normalize_email(email: str) -> str:
    """Login names are e-mail addresses compared case-insensitively."""
    return email.strip().lower()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_user_by_email(session: Session, email: str) -> User | None:
    """The user with this e-mail address, if any."""
    return session.scalar(sa.select(User).where(User.email == normalize_email(email)))


def assignable_users(session: Session, permission: str = "followups.edit") -> list[User]:
    """Active users whose role grants `permission`, by name: who may be given a task or a shift."""
    roles = [r.value for r, perms in ROLE_PERMISSIONS.items() if permission in perms]
    return list(
        session.scalars(
            sa.select(User)
            .where(User.is_active_flag.is_(True), User.role.in_(roles))
            .order_by(User.display_name)
        )
    )


def assignable_user(
    session: Session, user_id: int | None, permission: str = "followups.edit"
) -> User | None:
    """The user with this id if `assignable_users` lists them, else None (a stale or forged id)."""
    return next((u for u in assignable_users(session, permission) if u.id == user_id), None)


def create_user(
    session: Session,
    *,
    email: str,
    display_name: str,
    password: str,
    role: str,
    office: Office | None = None,
    other_offices: Iterable[Office] = (),
    locale: str = "de",
    must_change_password: bool = False,
) -> User:
    """Create a user after checking role, uniqueness and the password policy.

    `office` is the home office; `other_offices` are further offices the user works in.
    """
    email = normalize_email(email)
    if role not in ROLE_VALUES:
        raise AccountError(_l("Unknown role."))
    if not email or "@" not in email:
        raise AccountError(_l("Please enter a valid e-mail address."))
    if get_user_by_email(session, email) is not None:
        raise AccountError(_l("A user with this e-mail address exists already."))
    check_password_policy(password, user_inputs=(email, display_name))
    user = User(
        email=email,
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        role=role,
        office=office,
        locale=locale,
        must_change_password=must_change_password,
        password_changed_at=utcnow(),
    )
    session.add(user)
    set_offices(session, user, office, other_offices, audit=False)
    session.flush()
    return user


def set_offices(
    session: Session,
    user: User,
    home: Office | None,
    others: Iterable[Office] = (),
    *,
    audit: bool = True,
) -> None:
    """Set the user's home office and every further office they work in.

    The home office is always one of the user's offices, so "any of the user's offices"
    (participant scope, board) can read the association alone or together with `office_id`.
    """
    wanted = {o.id: o for o in others if o is not None}
    if home is not None:
        wanted[home.id] = home
    before = user.office_ids if user.id is not None else []
    user.office = home
    user.offices = sorted(wanted.values(), key=lambda o: o.name)
    after = sorted(wanted)
    if audit and before != after:
        # The association is no column of the user, so the flush hook does not see it.
        record(
            session,
            "update",
            entity_type="user_account",
            entity_id=user.id,
            summary=user.audit_label(),
            changes={"fields": ["offices"], "values": {"offices": [before, after]}},
        )


def is_throttled(
    session: Session, account_key: str, ip: str, policy: ThrottlePolicy, now: datetime
) -> bool:
    """True if too many failed logins came recently for this account or from this address."""
    since = now - policy.window

    def failures(column: InstrumentedAttribute[str], value: str) -> int:
        stmt = sa.select(sa.func.count(LoginAttempt.id)).where(
            column == value, LoginAttempt.at >= since, LoginAttempt.success.is_(False)
        )
        return session.scalar(stmt) or 0

    return (
        failures(LoginAttempt.account_key, account_key) >= policy.max_failures_account
        or failures(LoginAttempt.ip, ip) >= policy.max_failures_ip
    )


def _lock_throttle_keys(session: Session, account_key: str, ip: str) -> None:
    """Serialise count-and-record per account and per address until the transaction ends.

    SQLite needs nothing here: a writing transaction begins IMMEDIATE and so already holds
    the database's one write lock. PostgreSQL's READ COMMITTED would let two workers both
    count four failures and both record a fifth, so they queue on transaction-scoped
    advisory locks, taken in sorted order so that two requests never wait on each other.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted((f"login-account:{account_key}", f"login-ip:{ip}")):
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))


def reserve_attempt(
    session: Session, account_key: str, ip: str, policy: ThrottlePolicy, now: datetime
) -> LoginAttempt | None:
    """Count and record one attempt atomically; None if the throttle refuses it.

    The attempt is recorded as a failure before the password is checked and committed at
    once, so the slow hash verification that follows holds no lock and a crash in between
    still counts against the guesser.
    """
    _lock_throttle_keys(session, account_key, ip)
    if is_throttled(session, account_key, ip, policy, now):
        session.rollback()
        return None
    attempt = LoginAttempt(at=now, account_key=account_key, ip=ip, success=False)
    session.add(attempt)
    session.commit()
    return attempt


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    ip: str,
    policy: ThrottlePolicy,
    now: datetime | None = None,
) -> AuthResult:
    """Check credentials, counting attempts; commits the attempt itself, the caller the rest."""
    now = now or utcnow()
    key = normalize_email(email)[:254]
    actor = Actor(None, key, ip)
    attempt = reserve_attempt(session, key, ip, policy, now)
    if attempt is None:
        record(session, "login_throttled", entity_type="user_account", summary=key, actor=actor)
        return AuthResult(None, "throttled")
    user = get_user_by_email(session, key)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        record(
            session,
            "login_failure",
            entity_type="user_account",
            entity_id=user.id if user else None,
            summary=key,
            actor=actor,
        )
        return AuthResult(None, "invalid")
    attempt.success = True
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    record(
        session,
        "login_success",
        entity_type="user_account",
        entity_id=user.id,
        summary=key,
        actor=Actor(user.id, user.email, ip),
    )
    return AuthResult(user, "ok")


def start_session(session: Session, user: User, *, ip: str = "", user_agent: str = "") -> str:
    """Create a server-side login session and return its secret token for the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            ip=ip[:64],
            user_agent=user_agent[:300],
        )
    )
    user._session_token = token
    return token


def load_session_user(
    session: Session,
    token: str,
    *,
    idle: timedelta,
    max_age: timedelta,
    now: datetime | None = None,
) -> User | None:
    """The active user of a live login session, or None if it ended, expired or is unknown."""
    now = now or utcnow()
    login = session.scalar(
        sa.select(LoginSession).where(LoginSession.token_hash == _token_hash(token))
    )
    if login is None:
        return None
    if now - login.last_seen_at > idle or now - login.created_at > max_age:
        login_id = login.id
        session.rollback()
        with write_intent():
            session.execute(sa.delete(LoginSession).where(LoginSession.id == login_id))
            session.commit()
        return None
    user = login.user
    if not user.is_active:
        return None
    # Touch at most once a minute: a write per request would serialise requests on SQLite.
    if now - login.last_seen_at > timedelta(minutes=1):
        login_id = login.id
        # Its own short write transaction: the request's read transaction may not upgrade
        # to a write on SQLite, and the touch must stick even on GET requests.
        session.rollback()
        with write_intent():
            session.execute(
                sa.update(LoginSession).where(LoginSession.id == login_id).values(last_seen_at=now)
            )
            session.commit()
        login = session.get(LoginSession, login_id)
        if login is None:
            return None
        user = login.user
    user.login_session = login
    user._session_token = token
    return user


def end_session(session: Session, user: User) -> None:
    """End the session the user is logged in with (logout)."""
    if user.login_session is not None:
        session.delete(user.login_session)
        user.login_session = None
    record(session, "logout", entity_type="user_account", entity_id=user.id)


def end_all_sessions(session: Session, user_id: int) -> int:
    """End every login session of a user; returns how many were ended."""
    result = session.execute(sa.delete(LoginSession).where(LoginSession.user_id == user_id))
    return rows_affected(result)


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Change the user's own password and end all their sessions (the caller starts a new one)."""
    if not verify_password(user.password_hash, current):
        raise AccountError(_l("The current password is wrong."))
    set_password(session, user, new)
    record(session, "password_change", entity_type="user_account", entity_id=user.id)


def set_password(session: Session, user: User, new: str, *, must_change: bool = False) -> None:
    """Set a new password (policy-checked) and end every session of the user."""
    check_password_policy(new, user_inputs=(user.email, user.display_name))
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    user.must_change_password = must_change
    end_all_sessions(session, user.id)


def generate_temporary_password() -> str:
    """A random one-time password (about 108 bits) for new or reset accounts."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))


def reset_password(session: Session, user: User) -> str:
    """Give the user a random one-time password they must change at the next login."""
    temporary = generate_temporary_password()
    set_password(session, user, temporary, must_change=True)
    record(session, "password_reset", entity_type="user_account", entity_id=user.id)
    return temporary


def set_active(session: Session, user: User, active: bool) -> None:
    """Activate or deactivate a user; deactivation ends all their sessions at once.

    Reactivation restores the login only: what deactivation revoked elsewhere (feed tokens)
    stays revoked and has to be issued anew.
    """
    user.is_active_flag = active
    if not active:
        end_all_sessions(session, user.id)
        user_deactivated.send(session, user=user, at=utcnow())


def set_role(
    session: Session,
    user: User,
    role: str,
    office: Office | None,
    other_offices: Iterable[Office] | None = None,
) -> None:
    """Change a user's role and home office (and the further offices, if given)."""
    if role not in ROLE_VALUES:
        raise AccountError(_l("Unknown role."))
    user.role = role
    if other_offices is None:
        other_offices = [o for o in user.offices if o.id != user.office_id]
    set_offices(session, user, office, other_offices)


def purge_expired(session: Session, *, idle: timedelta, keep_attempts: timedelta) -> int:
    """Delete idle login sessions and old login attempts (nightly job)."""
    now = utcnow()
    n = session.execute(sa.delete(LoginSession).where(LoginSession.last_seen_at < now - idle))
    m = session.execute(sa.delete(LoginAttempt).where(LoginAttempt.at < now - keep_attempts))
    return rows_affected(n) + rows_affected(m)
