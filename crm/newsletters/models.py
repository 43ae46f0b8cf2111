"""Newsletters: lists, consent texts, subscriptions with an append-only consent ledger,
audiences, templates, campaigns and one delivery row per campaign recipient (the outbox).

Rules the schema itself guarantees:
- one subscription per (list, person) and one delivery per (campaign, person), so a campaign can
  never be frozen twice for the same recipient;
- consent ledger rows are never rewritten (a database trigger refuses UPDATEs of their content;
  only the person reference may move when two contacts are merged);
- every status column is restricted to its known values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.accounts.models import User
from crm.audit.mixins import Audited
from crm.contacts.models import ContactList, Person
from crm.database import TimestampMixin, UTCDateTime, utcnow
from crm.extensions import db

SUBSCRIPTION_STATUSES = ("pending", "confirmed", "unsubscribed", "bounced")
# How consent was given (the "source" of a subscription).
CONSENT_METHODS = ("web_form", "paper", "existing_business_contact", "import")
# What happened, in the ledger.
CONSENT_ACTIONS = (
    "requested",  # web sign-up received, confirmation mail sent (double opt-in step 1)
    "confirmed",  # confirmation link followed (step 2) or consent recorded by staff
    "repeated",  # a further sign-up for an address that was already pending/confirmed
    "withdrawn",  # unsubscribed
    "bounced",  # the address does not accept mail
)
# Channels through which an action reached us (more than the consent methods).
LEDGER_CHANNELS = (
    *CONSENT_METHODS,
    "confirmation_link",
    "unsubscribe_link",
    "one_click",
    "mailto",
    "staff",
    "bounce",
)
AUDIENCE_KINDS = ("subscribers", "static", "filter")
CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "paused", "sent", "cancelled")
DELIVERY_STATUSES = ("queued", "sending", "sent", "failed", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class NewsletterList(TimestampMixin, db.Model):
    """A newsletter people subscribe to (e.g. "Newsletter Haus der Wirtschaft")."""

    __tablename__ = "newsletter_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    # The public sign-up page is /newsletter/anmelden/<slug>.
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # Lists are archived, never deleted: their consent ledger is evidence.
    active: Mapped[bool] = mapped_column(default=True)
    public_signup: Mapped[bool] = mapped_column(default=True)
    # Optional per-list sender; empty means CRM_NEWSLETTER_FROM / _REPLY_TO.
    from_name: Mapped[str] = mapped_column(sa.String(120), default="")
    reply_to: Mapped[str] = mapped_column(sa.String(254), default="")

    consent_texts: Mapped[list[ConsentText]] = relationship(
        back_populates="newsletter_list", order_by="ConsentText.version.desc()"
    )


class ConsentText(db.Model):
    """One version of the consent wording shown for a list; never edited, only superseded."""

    __tablename__ = "consent_text"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(
        sa.ForeignKey("newsletter_list.id", ondelete="RESTRICT"), index=True
    )
    version: Mapped[int] = mapped_column()
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    newsletter_list: Mapped[NewsletterList] = relationship(back_populates="consent_texts")

    __table_args__ = (
        sa.UniqueConstraint("list_id", "version", name="uq_consent_text_list_version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )


class Subscription(Audited, TimestampMixin, db.Model):
    """The current consent state of one person for one list (the ledger holds the history)."""

    __tablename__ = "newsletter_subscription"
    __audit_values__ = frozenset({"status", "source", "list_id", "person_id", "consent_text_id"})

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(sa.ForeignKey("newsletter_list.id", ondelete="RESTRICT"))
    person_id: Mapped[int] = mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(15), default="pending")
    # How consent was (or is being) given: web_form, paper, existing_business_contact, import.
    source: Mapped[str] = mapped_column(sa.String(30), default="web_form")
    consent_text_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("consent_text.id", ondelete="RESTRICT"), index=True
    )
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    newsletter_list: Mapped[NewsletterList] = relationship()
    person: Mapped[Person] = relationship()
    consent_text: Mapped[ConsentText | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("list_id", "person_id", name="uq_newsletter_subscription_list_person"),
        sa.CheckConstraint(_in("status", SUBSCRIPTION_STATUSES), name="status_valid"),
        sa.CheckConstraint(_in("source", CONSENT_METHODS), name="source_valid"),
        sa.CheckConstraint(
            "status <> 'confirmed' OR confirmed_at IS NOT NULL", name="confirmed_has_time"
        ),
        # audience_recipients(): "confirmed subscribers of list X".
        sa.Index("ix_newsletter_subscription_list_status", "list_id", "status", "person_id"),
    )

    def audit_label(self) -> str:
        return f"Newsletter-Abo #{self.id}"


class ConsentEvent(db.Model):
    """One entry of the append-only consent ledger: what happened, when, how, with which text."""

    __tablename__ = "consent_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    subscription_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("newsletter_subscription.id", ondelete="SET NULL"), index=True
    )
    list_id: Mapped[int] = mapped_column(sa.ForeignKey("newsletter_list.id", ondelete="RESTRICT"))
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(sa.String(15))
    channel: Mapped[str] = mapped_column(sa.String(30))
    consent_text_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("consent_text.id", ondelete="RESTRICT"), index=True
    )
    # The address the action concerned, as it was then.
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(300), default="")
    # Staff member who recorded it (paper consent, manual unsubscribe); NULL for the public.
    actor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    # Free text, e.g. where the signed paper form is filed, or the bounce reason.
    note: Mapped[str] = mapped_column(sa.Text, default="")
    # The campaign whose unsubscribe link or bounce caused the entry, if any.
    campaign_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("newsletter_campaign.id", ondelete="SET NULL"), index=True
    )

    newsletter_list: Mapped[NewsletterList] = relationship()
    consent_text: Mapped[ConsentText | None] = relationship()
    actor: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(_in("action", CONSENT_ACTIONS), name="action_valid"),
        sa.CheckConstraint(_in("channel", LEDGER_CHANNELS), name="channel_valid"),
        sa.Index("ix_consent_event_person_at", "person_id", "at", "id"),
        sa.Index("ix_consent_event_list_at", "list_id", "at"),
    )


class Signup(db.Model):
    """A public sign-up waiting for its confirmation link (double opt-in step 1).

    Deliberately outside the contacts: nobody becomes a person, subscriber or ledger entry
    before they confirmed; only then are these values (the consent proof) copied over. One row
    per list and address; a new sign-up replaces the nonce, so only the newest link confirms.
    Unconfirmed rows are purged once the confirmation window has passed.
    """

    __tablename__ = "newsletter_signup"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(sa.ForeignKey("newsletter_list.id", ondelete="CASCADE"))
    # Normalised, as Person.email: confirmation matches an existing person by it.
    email: Mapped[str] = mapped_column(sa.String(254))
    salutation: Mapped[str] = mapped_column(sa.String(10), default="")
    first_name: Mapped[str] = mapped_column(sa.String(100), default="")
    last_name: Mapped[str] = mapped_column(sa.String(100), default="")
    consent_text_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("consent_text.id", ondelete="RESTRICT"), index=True
    )
    # Random per sign-up and part of the signed link: an earlier link cannot confirm this one.
    nonce: Mapped[str] = mapped_column(sa.String(32))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(300), default="")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The subscription the confirmation led to (a second click shows it, changes nothing).
    subscription_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("newsletter_subscription.id", ondelete="SET NULL"), index=True
    )

    newsletter_list: Mapped[NewsletterList] = relationship()
    consent_text: Mapped[ConsentText | None] = relationship()
    subscription: Mapped[Subscription | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("list_id", "email", name="uq_newsletter_signup_list_email"),
        sa.CheckConstraint("nonce <> ''", name="nonce_not_empty"),
    )


class SignupAttempt(db.Model):
    """A public sign-up, counted per IP address for rate limiting (like LoginAttempt)."""

    __tablename__ = "newsletter_signup_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ip: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (sa.Index("ix_newsletter_signup_attempt_ip_at", "ip", "at"),)


class Audience(TimestampMixin, db.Model):
    """Who a campaign goes to: all confirmed subscribers of a list, a static contact list,
    or a saved filter over contacts, always intersected with the list's confirmed consent."""

    __tablename__ = "newsletter_audience"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # Whose consent applies: a recipient must be a confirmed subscriber of this list.
    list_id: Mapped[int] = mapped_column(
        sa.ForeignKey("newsletter_list.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(15), default="subscribers")
    contact_list_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contact_list.id", ondelete="RESTRICT"), index=True
    )
    # A small declarative spec (see crm.newsletters.audiences), never SQL.
    filter_spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    newsletter_list: Mapped[NewsletterList] = relationship()
    contact_list: Mapped[ContactList | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(_in("kind", AUDIENCE_KINDS), name="kind_valid"),
        sa.CheckConstraint(
            "kind <> 'static' OR contact_list_id IS NOT NULL", name="static_has_list"
        ),
    )


class NewsletterTemplate(TimestampMixin, db.Model):
    """Subject, HTML body and text body with placeholders, rendered in Jinja's sandbox."""

    __tablename__ = "newsletter_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    subject: Mapped[str] = mapped_column(sa.String(300))
    body_html: Mapped[str] = mapped_column(sa.Text, default="")
    body_text: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    created_by: Mapped[User | None] = relationship()


class Campaign(TimestampMixin, db.Model):
    """One mailing: draft → scheduled → sending (⇄ paused) → sent, or cancelled.

    Subject and bodies are the campaign's own copy (taken from a template when created), so
    editing a template never changes a campaign that is already on its way or archived.
    """

    __tablename__ = "newsletter_campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    list_id: Mapped[int] = mapped_column(
        sa.ForeignKey("newsletter_list.id", ondelete="RESTRICT"), index=True
    )
    audience_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("newsletter_audience.id", ondelete="SET NULL"), index=True
    )
    # A static contact list that narrows the list's confirmed subscribers (instead of a saved
    # audience). RESTRICT: deleting the list must not silently widen a campaign to everyone.
    contact_list_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contact_list.id", ondelete="RESTRICT"), index=True
    )
    template_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("newsletter_template.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str] = mapped_column(sa.String(300), default="")
    body_html: Mapped[str] = mapped_column(sa.Text, default="")
    body_text: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(10), default="draft")
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who paused it: "staff"; "errors" (the sender, after CRM_NEWSLETTER_PAUSE_AFTER_SECONDS
    # without an accepted message; it resumes by itself once the relay answers again); or
    # "refused" (the sender, after permanent refusals in a row; waits for staff).
    pause_kind: Mapped[str] = mapped_column(sa.String(10), default="")
    # The server's last answer when the sender paused it.
    pause_reason: Mapped[str] = mapped_column(sa.Text, default="")
    # Since when no message of this campaign was accepted (None while messages go out).
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Number of delivery rows frozen at start (the progress bar's 100 %).
    recipients_total: Mapped[int] = mapped_column(default=0)
    # Counts the edits of the text: a save based on an older version would overwrite a
    # colleague's changes (crm.newsletters.campaigns.update_campaign refuses it).
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    newsletter_list: Mapped[NewsletterList] = relationship()
    audience: Mapped[Audience | None] = relationship()
    contact_list: Mapped[ContactList | None] = relationship()
    template: Mapped[NewsletterTemplate | None] = relationship()
    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(_in("status", CAMPAIGN_STATUSES), name="status_valid"),
        sa.CheckConstraint(
            "status <> 'scheduled' OR send_at IS NOT NULL", name="scheduled_has_time"
        ),
        sa.CheckConstraint(
            "pause_kind IN ('', 'staff', 'errors', 'refused')", name="pause_kind_valid"
        ),
        sa.CheckConstraint(
            "audience_id IS NULL OR contact_list_id IS NULL", name="one_audience_kind"
        ),
        # The scheduler tick: "scheduled campaigns whose send_at has come".
        sa.Index("ix_newsletter_campaign_status_send_at", "status", "send_at"),
    )


class Delivery(db.Model):
    """One recipient of one campaign: the outbox row the sender claims, sends and marks."""

    __tablename__ = "newsletter_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("newsletter_campaign.id", ondelete="CASCADE")
    )
    person_id: Mapped[int] = mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    # The address frozen at start, so the recipient list cannot change under the sender.
    email: Mapped[str] = mapped_column(sa.String(254))
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    # When the row may be (re)tried; back-off moves it into the future.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A claimed row is 'sending' with a lease; a crashed sender's expired lease is reclaimed.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str] = mapped_column(sa.String(100), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str] = mapped_column(sa.String(255), default="")
    smtp_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship()
    person: Mapped[Person] = relationship()

    __table_args__ = (
        sa.UniqueConstraint(
            "campaign_id", "person_id", name="uq_newsletter_delivery_campaign_person"
        ),
        sa.CheckConstraint(_in("status", DELIVERY_STATUSES), name="status_valid"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.CheckConstraint("status <> 'sent' OR sent_at IS NOT NULL", name="sent_has_time"),
        # Expired leases, looked up before every claim. Partial: only rows being sent are in
        # it, so a claim and a 'sent' mark touch fewer index entries (every delivery row is
        # written twice per campaign; bench/README.md). The claim itself walks the index
        # below in id order.
        sa.Index(
            "ix_newsletter_delivery_sending_claimed",
            "claimed_at",
            sqlite_where=sa.text("status = 'sending'"),
            postgresql_where=sa.text("status = 'sending'"),
        ),
        # Progress (counts per status) and the per-recipient list of one campaign.
        sa.Index("ix_newsletter_delivery_campaign_status", "campaign_id", "status", "id"),
    )
