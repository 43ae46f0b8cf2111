"""Users, branch offices, server-side login sessions and login attempts."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.audit.mixins import Audited
from crm.database import TimestampMixin, UTCDateTime, utcnow
from crm.extensions import db


class Role(enum.StrEnum):
    ADMIN = "admin"
    LEAD = "lead"
    COUNSELLOR = "counsellor"
    STAFF = "staff"
    READONLY = "readonly"


ROLE_VALUES = tuple(r.value for r in Role)


class Office(Audited, TimestampMixin, db.Model):
    """A branch office (Geschäftsstelle) with its address and weekly entry/exit targets."""

    __tablename__ = "office"
    # An office's name, address and targets are no personal data: log the values.
    __audit_values__ = frozenset(
        {
            "name",
            "is_head_office",
            "street",
            "postcode",
            "city",
            "is_active",
            "weekly_entries",
            "weekly_exits",
        }
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    is_head_office: Mapped[bool] = mapped_column(default=False)
    street: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    postcode: Mapped[str] = mapped_column(sa.String(10), default="", server_default="")
    city: Mapped[str] = mapped_column(sa.String(120), default="", server_default="")
    # Inactive offices keep their participants and history but are offered for nothing new
    # and left out of the summed weekly target.
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true(), index=True)
    # "One entry and one exit a week" per office unless the admin sets otherwise.
    weekly_entries: Mapped[float] = mapped_column(
        sa.Numeric(6, 2, asdecimal=False), default=1, server_default="1"
    )
    weekly_exits: Mapped[float] = mapped_column(
        sa.Numeric(6, 2, asdecimal=False), default=1, server_default="1"
    )

    __table_args__ = (
        sa.CheckConstraint("weekly_entries >= 0", name="weekly_entries_not_negative"),
        sa.CheckConstraint("weekly_exits >= 0", name="weekly_exits_not_negative"),
    )

    def audit_label(self) -> str:
        return f"Geschäftsstelle #{self.id}"

    @property
    def address(self) -> str:
        """Street, postcode and city on one line (empty parts left out)."""
        place = " ".join(p for p in (self.postcode, self.city) if p)
        return ", ".join(p for p in (self.street, place) if p)


# Offices a user works in besides (or including) the home office `User.office_id`.
user_office = sa.Table(
    "user_office",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "office_id", sa.ForeignKey("office.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class User(Audited, UserMixin, TimestampMixin, db.Model):
    """A staff member who logs in."""

    __tablename__ = "user_account"
    __audit_values__ = frozenset(
        {"role", "is_active_flag", "office_id", "locale", "must_change_password"}
    )
    __audit_ignore__ = frozenset({"created_at", "updated_at", "last_login_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(20), index=True)
    is_active_flag: Mapped[bool] = mapped_column("is_active", default=True)
    office_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("office.id", ondelete="SET NULL"), index=True
    )
    locale: Mapped[str] = mapped_column(sa.String(8), default="de")
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when an admin resets the password: the user must choose a new one first.
    must_change_password: Mapped[bool] = mapped_column(default=False)

    office: Mapped[Office | None] = relationship(lazy="joined")
    # Every office the user works in; the home office `office` is kept in it by the service.
    offices: Mapped[list[Office]] = relationship(secondary=user_office, order_by=Office.name)

    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('admin', 'lead', 'counsellor', 'staff', 'readonly')", name="role_valid"
        ),
    )

    # Set by the user loader: the login session this request authenticated with.
    login_session = None  # LoginSession | None, not a column

    @property
    def is_active(self) -> bool:  # Flask-Login reads this
        return bool(self.is_active_flag)

    def get_id(self) -> str:
        """Flask-Login stores this in the cookie: the session token, never the user id."""
        token = getattr(self, "_session_token", None)
        if token is None:
            raise RuntimeError("user has no login session; use accounts.service.start_session")
        return token

    @property
    def office_ids(self) -> list[int]:
        """Ids of every office the user works in: the home office and the others."""
        ids = {o.id for o in self.offices}
        if self.office_id is not None:
            ids.add(self.office_id)
        return sorted(ids)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def audit_label(self) -> str:
        return f"Benutzer #{self.id}"


class LoginSession(db.Model):
    """A server-side login session; deleting the row logs the browser out for good."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(300), default="")

    user: Mapped[User] = relationship(lazy="joined")


class LoginAttempt(db.Model):
    """A login attempt, counted for throttling per account and per address."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    account_key: Mapped[str] = mapped_column(sa.String(254))
    ip: Mapped[str] = mapped_column(sa.String(64))
    success: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        sa.Index("ix_login_attempt_account_at", "account_key", "at"),
        sa.Index("ix_login_attempt_ip_at", "ip", "at"),
    )


ABSENCE_KINDS = ("vacation", "sick", "travel", "other")


class Absence(Audited, TimestampMixin, db.Model):
    """A user's absence (Abwesenheit): whole days in Europe/Berlin, first and last inclusive.

    The round robin of the inquiry rules skips a user on the days they are absent.
    """

    __tablename__ = "absence"
    # Whether somebody is on leave or ill is personal: only the dates and the person are logged
    # as values, the kind and note by name only.
    __audit_values__ = frozenset({"user_id", "first_day", "last_day"})

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    first_day: Mapped[date] = mapped_column(sa.Date)
    last_day: Mapped[date] = mapped_column(sa.Date, index=True)
    kind: Mapped[str] = mapped_column(sa.String(20), default="vacation")
    note: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    __table_args__ = (
        sa.CheckConstraint("last_day >= first_day", name="days_in_order"),
        sa.CheckConstraint("kind IN ('vacation', 'sick', 'travel', 'other')", name="kind_valid"),
        # "Who is away on day X": the user's absences by their last day.
        sa.Index("ix_absence_user_last_day", "user_id", "last_day"),
        {"sqlite_autoincrement": True},
    )

    def audit_label(self) -> str:
        return f"Abwesenheit #{self.id}"
