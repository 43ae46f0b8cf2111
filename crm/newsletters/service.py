"""Newsletter rules: lists, consent texts, subscriptions and their ledger, double opt-in,
unsubscribe, signed tokens and building newsletter messages.

Every change of a subscription's status writes one ConsentEvent in the same transaction;
the ledger is the evidence, the subscription row only the current state. A public sign-up
waits in its own table (Signup) and reaches person, subscription and ledger only when confirmed.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

import sqlalchemy as sa
from flask import render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy.orm import Session, joinedload

from crm.contacts.models import Affiliation, Organisation, Person
from crm.contacts.normalize import normalize_email
from crm.contacts.search import matching_ids
from crm.contacts.service import save_person
from crm.database import ids_in, utcnow
from crm.mail import (
    BulkMessageBuilder,
    build_message,
    list_unsubscribe_headers,
    sanitize_header,
)
from crm.mail.models import OutgoingMail
from crm.mail.queue import enqueue, mail_domain
from crm.newsletters.models import (
    CONSENT_METHODS,
    ConsentEvent,
    ConsentText,
    Delivery,
    NewsletterList,
    Signup,
    SignupAttempt,
    Subscription,
)
from crm.newsletters.rendering import (
    RenderedMessage,
    TemplateSource,
    escape,
    render_for_recipient,
)
from crm.newsletters.rendering import salutation_line as _salutation_line
from crm.signals import RowChange, merging, move_column

log = logging.getLogger(__name__)

CONFIRM_SALT = "crm.newsletters.confirm"
UNSUBSCRIBE_SALT = "crm.newsletters.unsubscribe"
WEBVERSION_SALT = "crm.newsletters.webversion"
STAFF_METHODS = ("paper", "existing_business_contact", "import")


class NewsletterError(ValueError):
    """A request the rules do not allow; the message is German."""


class LinkSubject(Protocol):
    """What a public link needs of a person: a Person row or the sender's Recipient copy."""

    # Read-only members, so that the sender's frozen copies qualify as well as rows.
    @property
    def id(self) -> int: ...
    @property
    def token_nonce(self) -> str: ...


class Addressee(LinkSubject, Protocol):
    """What a message's placeholders read of a person: a Person row or a Recipient copy."""

    @property
    def salutation(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...


class ListSource(Protocol):
    """What a message reads of its newsletter list: a NewsletterList row or the sender's copy."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def slug(self) -> str: ...
    @property
    def from_name(self) -> str: ...
    @property
    def reply_to(self) -> str: ...


class ListNameTaken(NewsletterError):
    """Another newsletter list already has this name (the name is unique)."""


class BadToken(ValueError):
    """A token is forged, tampered with, of the wrong kind or expired."""

    def __init__(self, expired: bool = False, list_id: int | None = None) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired
        # The list an expired confirmation link was for (when the link names it), so the
        # page can offer its sign-up form again.
        self.list_id = list_id


# --- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailSettings:
    """What building newsletter mail needs from the configuration (plain values, no app)."""

    secret_key: str
    base_url: str
    sender: str
    reply_to: str = ""
    unsubscribe_mailto: str = ""
    confirm_max_age: timedelta = timedelta(hours=48)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MailSettings:
        """Read CRM_NEWSLETTER_* (falling back to CRM_MAIL_*) from an app config."""
        return cls(
            secret_key=str(config["SECRET_KEY"]),
            base_url=str(config.get("CRM_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
            sender=str(config.get("CRM_NEWSLETTER_FROM") or config.get("CRM_MAIL_FROM") or ""),
            reply_to=str(
                config.get("CRM_NEWSLETTER_REPLY_TO") or config.get("CRM_MAIL_REPLY_TO") or ""
            ),
            unsubscribe_mailto=str(config.get("CRM_NEWSLETTER_UNSUBSCRIBE_MAILTO") or ""),
            confirm_max_age=timedelta(hours=int(config.get("CRM_NEWSLETTER_CONFIRM_HOURS") or 48)),
        )

    @property
    def message_id_domain(self) -> str:
        return mail_domain(self.sender)

    def sender_for(self, newsletter_list: ListSource | None) -> str | tuple[str, str]:
        """The From of a list's mail: its own display name with the configured address."""
        if newsletter_list is not None and newsletter_list.from_name:
            addr = self.sender.rsplit("<", 1)[-1].rstrip(">").strip()
            return (newsletter_list.from_name, addr)
        return self.sender

    def reply_to_for(self, newsletter_list: ListSource | None) -> str:
        return (newsletter_list.reply_to if newsletter_list else "") or self.reply_to


# --- tokens --------------------------------------------------------------------------------------


def confirm_token(settings: MailSettings, signup: Signup) -> str:
    """The signed, expiring token of a sign-up's confirmation link (it names the list, so an
    expired link can lead back to the list's sign-up form)."""
    s = URLSafeTimedSerializer(settings.secret_key, salt=CONFIRM_SALT)
    return s.dumps(["signup", signup.id, signup.nonce, signup.list_id])


def _token_list_id(data: Any) -> int | None:
    if isinstance(data, list) and len(data) == 4 and isinstance(data[3], int):
        return data[3]
    return None


def read_confirm_token(settings: MailSettings, token: str) -> tuple[int, str, int | None]:
    """(sign-up id, nonce, list id or None for older links) from a confirmation token; raise
    BadToken."""
    s = URLSafeTimedSerializer(settings.secret_key, salt=CONFIRM_SALT)
    try:
        data = s.loads(token, max_age=int(settings.confirm_max_age.total_seconds()))
    except SignatureExpired as exc:
        # The signature is genuine, only too old: its payload may be read.
        payload = s.load_payload(exc.payload) if exc.payload is not None else None
        raise BadToken(expired=True, list_id=_token_list_id(payload)) from None
    except BadSignature:
        raise BadToken() from None
    if isinstance(data, list) and len(data) == 2:
        # Our own link from before sign-ups had their own table: it can no longer confirm.
        raise BadToken(expired=True)
    if not (
        isinstance(data, list)
        and len(data) in (3, 4)
        and data[0] == "signup"
        and isinstance(data[1], int)
        and isinstance(data[2], str)
    ):
        raise BadToken()
    return data[1], data[2], _token_list_id(data)


@functools.lru_cache(maxsize=16)
def _serializer(secret_key: str, salt: str) -> URLSafeSerializer:
    # Built once per key and purpose: a campaign signs two or three tokens per recipient.
    return URLSafeSerializer(secret_key, salt=salt)


def _with_nonce(a: int, b: int, nonce: str) -> list[Any]:
    # People created before links carried a nonce have none: their links keep the old form.
    return [a, b, nonce] if nonce else [a, b]


def unsubscribe_token(settings: MailSettings, person: LinkSubject, list_id: int) -> str:
    """The signed token of one person's unsubscribe link for one list (it never expires).

    It carries the person's token_nonce, so it acts only on that very row.
    """
    data = _with_nonce(person.id, list_id, person.token_nonce)
    return _serializer(settings.secret_key, UNSUBSCRIBE_SALT).dumps(data)


def _ids_and_nonce(data: Any) -> tuple[int, int, str]:
    """(a, b, nonce) from a decoded [a, b] or [a, b, nonce] token; raise BadToken."""
    if not isinstance(data, list) or len(data) not in (2, 3):
        raise BadToken()
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in data[:2]):
        raise BadToken()
    nonce = data[2] if len(data) == 3 else ""
    if not isinstance(nonce, str) or (len(data) == 3 and not nonce):
        raise BadToken()
    return data[0], data[1], nonce


def read_unsubscribe_token(settings: MailSettings, token: str) -> tuple[int, int, str]:
    """(person id, list id, nonce) from an unsubscribe token; raise BadToken."""
    try:
        data = _serializer(settings.secret_key, UNSUBSCRIBE_SALT).loads(token)
    except BadSignature:
        raise BadToken() from None
    return _ids_and_nonce(data)


def webversion_token(settings: MailSettings, campaign_id: int, person: LinkSubject) -> str:
    """The signed token of a campaign's web version for one recipient."""
    s = _serializer(settings.secret_key, WEBVERSION_SALT)
    return s.dumps(_with_nonce(campaign_id, person.id, person.token_nonce))


def read_webversion_token(settings: MailSettings, token: str) -> tuple[int, int, str]:
    """(campaign id, person id, nonce) from a web version token; raise BadToken."""
    try:
        data = _serializer(settings.secret_key, WEBVERSION_SALT).loads(token)
    except BadSignature:
        raise BadToken() from None
    return _ids_and_nonce(data)


def person_for_token(session: Session, person_id: int, nonce: str) -> Person | None:
    """The person a public link names, if the link was made for this very row.

    A link without a nonce (made before links carried one) is accepted only for people who
    have none either: everyone created since has one, so an old link can never act on a
    person who got a recycled id.
    """
    person = session.get(Person, person_id)
    if person is None or not secrets.compare_digest(person.token_nonce or "", nonce):
        return None
    return person


def unsubscribe_url(settings: MailSettings, person: LinkSubject, list_id: int) -> str:
    token = unsubscribe_token(settings, person, list_id)
    return f"{settings.base_url}/newsletter/abmelden/{token}"


def webversion_url(settings: MailSettings, campaign_id: int | None, person: LinkSubject) -> str:
    if campaign_id is None:
        return ""
    token = webversion_token(settings, campaign_id, person)
    return f"{settings.base_url}/newsletter/web/{token}"


def confirm_url(settings: MailSettings, signup: Signup) -> str:
    return f"{settings.base_url}/newsletter/bestaetigen/{confirm_token(settings, signup)}"


# --- lists and consent texts ---------------------------------------------------------------------


def create_list(
    session: Session,
    *,
    name: str,
    slug: str,
    consent_text: str,
    description: str = "",
    actor_id: int | None = None,
    **fields: Any,
) -> NewsletterList:
    """Create a list with version 1 of its consent text."""
    if session.scalar(sa.select(NewsletterList.id).where(NewsletterList.name == name)):
        raise ListNameTaken(_l("A newsletter with this name exists already."))
    if session.scalar(sa.select(NewsletterList.id).where(NewsletterList.slug == slug)):
        raise NewsletterError(_l("Another newsletter has this short name already."))
    lst = NewsletterList(name=name, slug=slug, description=description, **fields)
    try:
        # A savepoint, so that a list created at the same moment by someone else is a form
        # error too and the caller's transaction stays usable.
        with session.begin_nested():
            session.add(lst)
            session.flush()
    except sa.exc.IntegrityError as exc:
        taken = _l("A newsletter with this name or short name exists already.")
        raise ListNameTaken(taken) from exc
    add_consent_text(session, lst, consent_text, actor_id=actor_id)
    return lst


def update_list(
    session: Session,
    lst: NewsletterList,
    *,
    name: str,
    description: str,
    from_name: str,
    reply_to: str,
    public_signup: bool,
) -> None:
    """Change a list's name, description, sender and sign-up page (slug and consent stay)."""
    taken = session.scalar(
        sa.select(NewsletterList.id).where(NewsletterList.name == name, NewsletterList.id != lst.id)
    )
    if taken:
        raise ListNameTaken(_l("A newsletter with this name exists already."))
    lst.name, lst.description = name, description
    lst.from_name, lst.reply_to, lst.public_signup = from_name, reply_to, public_signup
    try:
        with session.begin_nested():
            session.flush()
    except sa.exc.IntegrityError as exc:
        raise ListNameTaken(_l("A newsletter with this name exists already.")) from exc


def add_consent_text(
    session: Session, lst: NewsletterList, text: str, *, actor_id: int | None = None
) -> ConsentText:
    """Add the next version of a list's consent text (older versions stay as evidence)."""
    latest = session.scalar(
        sa.select(sa.func.max(ConsentText.version)).where(ConsentText.list_id == lst.id)
    )
    version = ConsentText(
        list_id=lst.id, version=(latest or 0) + 1, text=text.strip(), created_by_id=actor_id
    )
    session.add(version)
    session.flush()
    return version


def current_consent_text(session: Session, list_id: int) -> ConsentText | None:
    """The newest consent text version of a list."""
    return session.scalar(
        sa.select(ConsentText)
        .where(ConsentText.list_id == list_id)
        .order_by(ConsentText.version.desc())
        .limit(1)
    )


def list_counts(session: Session) -> dict[int, dict[str, int]]:
    """Subscriptions per list and status, in one query."""
    rows = session.execute(
        sa.select(Subscription.list_id, Subscription.status, sa.func.count()).group_by(
            Subscription.list_id, Subscription.status
        )
    )
    counts: dict[int, dict[str, int]] = {}
    for list_id, status, n in rows:
        counts.setdefault(list_id, {})[status] = n
    return counts


def get_list_by_slug(session: Session, slug: str) -> NewsletterList | None:
    return session.scalar(
        sa.select(NewsletterList).where(NewsletterList.slug == slug, NewsletterList.active)
    )


# --- the ledger ----------------------------------------------------------------------------------


def _ledger(
    session: Session,
    sub: Subscription,
    action: str,
    channel: str,
    *,
    at: datetime,
    email: str = "",
    ip: str = "",
    user_agent: str = "",
    actor_id: int | None = None,
    note: str = "",
    campaign_id: int | None = None,
    consent_text_id: int | None = None,
) -> ConsentEvent:
    event = ConsentEvent(
        at=at,
        subscription_id=sub.id,
        list_id=sub.list_id,
        person_id=sub.person_id,
        action=action,
        channel=channel,
        consent_text_id=consent_text_id,
        email=(email or "")[:254],
        ip=(ip or "")[:64],
        user_agent=(user_agent or "")[:300],
        actor_id=actor_id,
        note=note,
        campaign_id=campaign_id,
    )
    session.add(event)
    return event


def _subscription(session: Session, list_id: int, person_id: int) -> Subscription | None:
    return session.scalar(
        sa.select(Subscription).where(
            Subscription.list_id == list_id, Subscription.person_id == person_id
        )
    )


def _new_subscription(session: Session, list_id: int, person_id: int, source: str) -> Subscription:
    sub = Subscription(list_id=list_id, person_id=person_id, status="pending", source=source)
    session.add(sub)
    session.flush()
    return sub


# --- public sign-up (double opt-in) --------------------------------------------------------------


@dataclass(frozen=True)
class SignupPolicy:
    window: timedelta = timedelta(hours=1)
    max_per_ip: int = 5


def signup_throttled(session: Session, ip: str, policy: SignupPolicy, now: datetime) -> bool:
    """True if this address has already signed up too often recently (DB-counted)."""
    n = session.scalar(
        sa.select(sa.func.count(SignupAttempt.id)).where(
            SignupAttempt.ip == ip, SignupAttempt.at >= now - policy.window
        )
    )
    return (n or 0) >= policy.max_per_ip


def record_signup_attempt(session: Session, ip: str, now: datetime) -> None:
    session.add(SignupAttempt(ip=(ip or "")[:64], at=now))


def purge_signup_attempts(session: Session, older_than: datetime) -> int:
    """Delete sign-up attempts older than the given moment (nightly clean-up)."""
    result = session.execute(sa.delete(SignupAttempt).where(SignupAttempt.at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class SignupResult:
    """What a sign-up led to. `mail` is "confirm" or "already" (what to send), never shown.

    A "confirm" result carries the waiting sign-up; an "already" result the subscription
    that is confirmed already.
    """

    mail: str
    email: str
    name: str
    consent_text: ConsentText | None
    signup: Signup | None = None
    subscription: Subscription | None = None


def find_person_by_email(session: Session, email: str) -> Person | None:
    """The (oldest) person with this e-mail address; addresses are stored normalised."""
    return session.scalar(
        sa.select(Person).where(Person.email == email).order_by(Person.id).limit(1)
    )


def _signup_row(session: Session, list_id: int, email: str) -> Signup | None:
    return session.scalar(sa.select(Signup).where(Signup.list_id == list_id, Signup.email == email))


def _add_signup(session: Session, list_id: int, email: str) -> Signup:
    """The sign-up row of this list and address, created if missing (safe against a race)."""
    try:
        with session.begin_nested():
            row = Signup(list_id=list_id, email=email, nonce=secrets.token_hex(16))
            session.add(row)
            session.flush()
        return row
    except sa.exc.IntegrityError:
        # A parallel sign-up of the same address won: take its row (and renew it below).
        existing = _signup_row(session, list_id, email)
        if existing is None:
            raise
        return existing


def request_subscription(
    session: Session,
    lst: NewsletterList,
    *,
    email: str,
    first_name: str = "",
    last_name: str = "",
    salutation: str = "",
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> SignupResult:
    """Step 1 of double opt-in: store the sign-up outside the contacts until it is confirmed.

    A confirmed subscription stays exactly as it is (the ledger notes the attempt). Otherwise
    the sign-up of this list and address gets a fresh nonce, so only the newest link confirms.
    """
    now = now or utcnow()
    address = normalize_email(email) or ""
    if "@" not in address or len(address) > 254:
        raise NewsletterError("Bitte geben Sie eine gültige E-Mail-Adresse an.")
    text = current_consent_text(session, lst.id)
    person = find_person_by_email(session, address)
    sub = _subscription(session, lst.id, person.id) if person is not None else None
    if person is not None and sub is not None and sub.status == "confirmed":
        # Nothing changes; the ledger notes the attempt, the page shows the same text.
        _ledger(
            session,
            sub,
            "repeated",
            "web_form",
            at=now,
            email=address,
            ip=ip,
            user_agent=user_agent,
            consent_text_id=sub.consent_text_id,
        )
        session.flush()
        return SignupResult(
            "already", address, person.full_name, sub.consent_text, subscription=sub
        )
    signup = _signup_row(session, lst.id, address) or _add_signup(session, lst.id, address)
    signup.salutation = salutation if salutation in ("frau", "herr", "divers") else ""
    signup.first_name = first_name.strip()[:100]
    signup.last_name = last_name.strip()[:100]
    signup.consent_text_id = text.id if text else None
    signup.nonce = secrets.token_hex(16)
    signup.requested_at = now
    signup.ip = (ip or "")[:64]
    signup.user_agent = (user_agent or "")[:300]
    signup.confirmed_at = None
    signup.subscription_id = None
    session.flush()
    name = " ".join(p for p in (signup.first_name, signup.last_name) if p)
    return SignupResult("confirm", address, name, text, signup=signup)


def _signup_for_token(session: Session, settings: MailSettings, token: str) -> Signup:
    """The sign-up a confirmation link belongs to; BadToken(expired=True) for a link that
    was superseded by a later sign-up or whose sign-up was purged."""
    signup_id, nonce, list_id = read_confirm_token(settings, token)
    signup = session.get(Signup, signup_id)
    if signup is None or not secrets.compare_digest(signup.nonce, nonce):
        raise BadToken(expired=True, list_id=list_id)
    return signup


def _confirmed_subscription(signup: Signup) -> Subscription:
    """A second click on a used link: its subscription if still confirmed, else expired."""
    sub = signup.subscription
    if sub is None or sub.status != "confirmed":
        # Unsubscribed (or bounced) since: an old link must not re-subscribe.
        raise BadToken(expired=True)
    return sub


def confirm_subscription(
    session: Session,
    settings: MailSettings,
    token: str,
    *,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> Subscription:
    """Step 2 of double opt-in; idempotent. Raise BadToken for a bad, expired or stale token.

    Only now does the sign-up reach the contacts: the person (matched by e-mail, else
    created), the subscription and the ledger's "requested" entry with the sign-up's own
    time, address, IP, browser and consent text, then the "confirmed" entry.
    """
    now = now or utcnow()
    signup = _signup_for_token(session, settings, token)
    if signup.confirmed_at is not None:
        return _confirmed_subscription(signup)
    # Claim the sign-up in one statement, so two clicks at once confirm it once.
    claimed = session.execute(
        sa.update(Signup)
        .where(Signup.id == signup.id, Signup.nonce == signup.nonce, Signup.confirmed_at.is_(None))
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(signup)
    if int(getattr(claimed, "rowcount", 0) or 0) != 1:
        if signup.nonce != read_confirm_token(settings, token)[1]:
            raise BadToken(expired=True, list_id=signup.list_id)
        return _confirmed_subscription(signup)
    lst = signup.newsletter_list
    person = find_person_by_email(session, signup.email)
    if person is None:
        person = save_person(
            session,
            {
                "salutation": signup.salutation,
                "first_name": signup.first_name,
                "last_name": signup.last_name,
                "email": signup.email,
                "notes": f"Angelegt durch die Newsletter-Anmeldung „{lst.name}“.",
            },
        )
    sub = _subscription(session, lst.id, person.id)
    if sub is None or sub.status != "confirmed":
        if sub is None:
            sub = _new_subscription(session, lst.id, person.id, "web_form")
        sub.status = "confirmed"
        sub.source = "web_form"
        sub.consent_text_id = signup.consent_text_id
        sub.requested_at = signup.requested_at
        sub.confirmed_at = now
        sub.unsubscribed_at = None
        _ledger(
            session,
            sub,
            "requested",
            "web_form",
            at=signup.requested_at,
            email=signup.email,
            ip=signup.ip,
            user_agent=signup.user_agent,
            consent_text_id=signup.consent_text_id,
        )
        _ledger(
            session,
            sub,
            "confirmed",
            "confirmation_link",
            at=now,
            email=person.email,
            ip=ip,
            user_agent=user_agent,
            consent_text_id=signup.consent_text_id,
        )
    signup.subscription_id = sub.id
    session.flush()
    return sub


def peek_confirmation(session: Session, settings: MailSettings, token: str) -> Signup:
    """The sign-up a confirmation token belongs to, without changing it; raise BadToken."""
    signup = _signup_for_token(session, settings, token)
    if signup.confirmed_at is not None:
        _confirmed_subscription(signup)
    return signup


def purge_signups(session: Session, *, now: datetime, window: timedelta) -> int:
    """Delete sign-ups older than the confirmation window; idempotent (nightly clean-up).

    Unconfirmed ones were never consented to; confirmed ones are in the ledger already.
    """
    result = session.execute(sa.delete(Signup).where(Signup.requested_at < now - window))
    return int(getattr(result, "rowcount", 0) or 0)


def signup_mail(settings: MailSettings, result: SignupResult, lst: NewsletterList) -> EmailMessage:
    """The confirmation mail (or, for a confirmed address, a short notice): no advertising."""
    confirm = result.mail == "confirm" and result.signup is not None
    context = {
        "list": lst,
        "name": result.name,
        "consent_text": result.consent_text.text if result.consent_text else "",
        "confirm_url": confirm_url(settings, result.signup) if confirm and result.signup else "",
        "hours": int(settings.confirm_max_age.total_seconds() // 3600),
    }
    name = "newsletter_confirm" if confirm else "newsletter_already"
    subject = (
        f"Bitte bestätigen Sie Ihre Anmeldung: {lst.name}"
        if confirm
        else f"Ihre Anmeldung: {lst.name}"
    )
    return build_message(
        sender=settings.sender_for(lst),
        to=(result.name, result.email),
        subject=subject,
        text=render_template(f"email/{name}.txt", **context),
        reply_to=settings.reply_to_for(lst) or None,
        # RFC 3834: mail a web form triggers is auto-generated, not an auto-reply to a mail.
        extra_headers={"Auto-Submitted": "auto-generated"},
        message_id_domain=settings.message_id_domain,
    )


def queue_signup_mail(
    session: Session, settings: MailSettings, result: SignupResult, lst: NewsletterList
) -> OutgoingMail:
    """Queue the confirmation mail (or notice) of a sign-up in `session` (no commit).

    The caller commits it with the sign-up, so a sign-up never waits for a mail that is lost:
    the outbox sender delivers it, retrying while the relay is down or answers 4xx. Raises
    ValueError for an address no message can be built for.
    """
    person_id = result.subscription.person_id if result.subscription is not None else None
    return enqueue(
        session, signup_mail(settings, result, lst), kind="confirmation", person_id=person_id
    )


# --- staff-recorded consent, unsubscribe, bounce -------------------------------------------------


def record_consent(
    session: Session,
    *,
    person: Person,
    lst: NewsletterList,
    method: str,
    note: str = "",
    actor_id: int | None = None,
    consented_at: datetime | None = None,
    now: datetime | None = None,
) -> Subscription:
    """Staff record consent given on paper, by an existing business contact or in an import."""
    (sub,) = record_consents(
        session,
        people=[person],
        lst=lst,
        method=method,
        note=note,
        actor_id=actor_id,
        consented_at=consented_at,
        now=now,
    )
    return sub


def record_consents(
    session: Session,
    *,
    people: Sequence[Person],
    lst: NewsletterList,
    method: str,
    note: str = "",
    actor_id: int | None = None,
    consented_at: datetime | None = None,
    now: datetime | None = None,
) -> list[Subscription]:
    """`record_consent` for several people at once (bulk actions): one query per step, not
    per person. Every person gets a confirmed subscription and a ledger entry."""
    if method not in STAFF_METHODS:
        raise NewsletterError("Unbekannte Art der Einwilligung.")
    if any(not person.email for person in people):
        raise NewsletterError("Die Person hat keine E-Mail-Adresse.")
    if not people:
        return []
    now = now or utcnow()
    at = consented_at or now
    text = current_consent_text(session, lst.id)
    existing = {
        sub.person_id: sub
        for sub in session.scalars(
            sa.select(Subscription).where(
                Subscription.list_id == lst.id,
                ids_in(
                    Subscription.person_id,
                    [p.id for p in people],
                    session.get_bind().dialect.name,
                ),
            )
        )
    }
    subs = []
    for person in people:
        sub = existing.get(person.id)
        if sub is None:
            sub = Subscription(list_id=lst.id, person_id=person.id, source=method)
            session.add(sub)
        sub.status = "confirmed"
        sub.source = method
        sub.consent_text_id = text.id if text else None
        sub.requested_at = sub.requested_at or at
        sub.confirmed_at = at
        sub.unsubscribed_at = None
        sub.bounced_at = None
        subs.append(sub)
    # The ledger refers to the subscriptions' ids.
    session.flush()
    ledger_note = note if consented_at is None else f"{note} (Einwilligung vom {at:%d.%m.%Y})"
    for person, sub in zip(people, subs, strict=True):
        _ledger(
            session,
            sub,
            "confirmed",
            method,
            at=now,
            email=person.email,
            actor_id=actor_id,
            note=ledger_note.strip(),
            consent_text_id=sub.consent_text_id,
        )
    session.flush()
    return subs


def unsubscribe(
    session: Session,
    person_id: int,
    list_id: int,
    *,
    channel: str,
    ip: str = "",
    user_agent: str = "",
    actor_id: int | None = None,
    campaign_id: int | None = None,
    note: str = "",
    now: datetime | None = None,
) -> bool:
    """Withdraw consent; True if this changed anything (a repeat is a no-op, not a new entry)."""
    now = now or utcnow()
    sub = _subscription(session, list_id, person_id)
    if sub is None:
        person = session.get(Person, person_id)
        if person is None or session.get(NewsletterList, list_id) is None:
            return False
        # Even without a subscription the wish is recorded, so a later import cannot add them.
        sub = _new_subscription(session, list_id, person_id, "web_form")
    elif sub.status == "unsubscribed":
        return False
    sub.status = "unsubscribed"
    sub.unsubscribed_at = now
    _ledger(
        session,
        sub,
        "withdrawn",
        channel,
        at=now,
        email=sub.person.email if sub.person else "",
        ip=ip,
        user_agent=user_agent,
        actor_id=actor_id,
        campaign_id=campaign_id,
        note=note,
    )
    # Anything still queued for this person on this list will not go out.
    from crm.newsletters.models import Campaign

    session.execute(
        sa.update(Delivery)
        .where(
            Delivery.person_id == person_id,
            Delivery.status == "queued",
            Delivery.campaign_id.in_(sa.select(Campaign.id).where(Campaign.list_id == list_id)),
        )
        .values(status="cancelled", last_error="abgemeldet", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return True


def mark_bounced(
    session: Session,
    person_id: int,
    list_id: int,
    *,
    note: str = "",
    campaign_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Mark a subscription bounced (the address does not accept mail); True if it changed."""
    now = now or utcnow()
    sub = _subscription(session, list_id, person_id)
    if sub is None or sub.status in ("bounced", "unsubscribed"):
        return False
    sub.status = "bounced"
    sub.bounced_at = now
    _ledger(
        session,
        sub,
        "bounced",
        "bounce",
        at=now,
        email=sub.person.email,
        note=note[:2000],
        campaign_id=campaign_id,
    )
    session.flush()
    return True


# --- reading consent -----------------------------------------------------------------------------


def person_subscriptions(session: Session, person_id: int) -> list[Subscription]:
    return list(
        session.scalars(
            sa.select(Subscription)
            .where(Subscription.person_id == person_id)
            .options(
                joinedload(Subscription.newsletter_list), joinedload(Subscription.consent_text)
            )
            .order_by(Subscription.list_id)
        )
    )


def person_ledger(session: Session, person_id: int) -> list[ConsentEvent]:
    """The whole consent ledger of a person, oldest first."""
    return list(
        session.scalars(
            sa.select(ConsentEvent)
            .where(ConsentEvent.person_id == person_id)
            .options(
                joinedload(ConsentEvent.newsletter_list),
                joinedload(ConsentEvent.consent_text),
                joinedload(ConsentEvent.actor),
            )
            .order_by(ConsentEvent.at, ConsentEvent.id)
        )
    )


def list_subscriptions(
    session: Session, list_id: int, *, status: str | None = None, query: str = ""
) -> sa.Select:
    """Subscriptions of a list with their person, newest change first (for a paginated page).

    `query` finds subscribers by name or e-mail address with the contacts' search (every word
    as a prefix), so a recipient who writes in can be found on the list itself.
    """
    stmt = (
        sa.select(Subscription)
        .where(Subscription.list_id == list_id)
        .options(joinedload(Subscription.person))
        .order_by(Subscription.updated_at.desc(), Subscription.id.desc())
    )
    if status:
        stmt = stmt.where(Subscription.status == status)
    found = matching_ids(Person, query, session.get_bind().dialect.name) if query else None
    if found is not None:
        stmt = stmt.where(
            Subscription.person_id.in_(sa.select(Person.id).where(found).scalar_subquery())
        )
    return stmt


# --- recipient context and messages --------------------------------------------------------------


def organisation_names(session: Session, person_ids: Iterable[int]) -> dict[int, str]:
    """The name of one current organisation per person (alphabetically first), in one query."""
    ids = list(person_ids)
    if not ids:
        return {}
    rows = session.execute(
        sa.select(Affiliation.person_id, sa.func.min(Organisation.name))
        .join(Organisation, Organisation.id == Affiliation.organisation_id)
        .where(
            ids_in(Affiliation.person_id, ids, session.get_bind().dialect.name),
            Affiliation.until.is_(None),
        )
        .group_by(Affiliation.person_id)
    )
    return {pid: name for pid, name in rows}


def recipient_context(
    settings: MailSettings,
    person: Addressee,
    lst: ListSource,
    *,
    organisation: str = "",
    campaign_id: int | None = None,
) -> dict[str, str]:
    """Placeholder values for one recipient (the template's only data)."""
    return {
        "anrede": _salutation_line(
            person.salutation, person.title, person.first_name, person.last_name
        ),
        "vorname": person.first_name,
        "nachname": person.last_name,
        "organisation": organisation,
        "abmelde_link": unsubscribe_url(settings, person, lst.id),
        "webversion_link": webversion_url(settings, campaign_id, person),
        "liste": lst.name,
    }


def unsubscribe_headers(
    settings: MailSettings, person: LinkSubject, lst: ListSource, url: str | None = None
) -> dict[str, str]:
    """List-Unsubscribe (https one-click per RFC 8058, and mailto) for one recipient.

    url: the recipient's unsubscribe_url if the caller has it already.
    """
    url = url or unsubscribe_url(settings, person, lst.id)
    mailto = settings.unsubscribe_mailto
    if mailto:
        # The token in the subject lets whoever handles that mailbox find the person.
        token = unsubscribe_token(settings, person, lst.id)
        mailto = f"{mailto.removeprefix('mailto:')}?subject=unsubscribe-{token}"
    if url.lower().startswith("https://"):
        return list_unsubscribe_headers(url, mailto or None)
    if mailto:
        # Development over http: one-click needs https, so only the mailto variant.
        return {"List-Unsubscribe": f"<mailto:{sanitize_header(mailto)}>"}
    return {}


def unsubscribe_header_coverage(settings: MailSettings) -> str:
    """Which List-Unsubscribe headers newsletters get with these settings (see above).

    "one_click" over https; "mailto_only" over plain http with an unsubscribe mailbox;
    "none" over plain http without one: mail programs then offer no unsubscribe button.
    """
    if settings.base_url.lower().startswith("https://"):
        return "one_click"
    return "mailto_only" if settings.unsubscribe_mailto else "none"


def list_headers(
    settings: MailSettings, lst: ListSource, campaign_id: int | None = None
) -> dict[str, str]:
    """The headers every message of a list (and campaign) shares: List-Id, Precedence, ..."""
    list_id = f"{lst.slug}.{settings.message_id_domain}"
    headers = {"List-Id": f"{sanitize_header(lst.name)} <{list_id}>", "Precedence": "bulk"}
    if campaign_id is not None:
        headers["X-CRM-Campaign"] = str(campaign_id)
    return headers


def build_newsletter_message(
    settings: MailSettings,
    rendered: RenderedMessage,
    *,
    to_email: str,
    to_name: str,
    person: LinkSubject | None,
    newsletter_list: NewsletterList,
    campaign_id: int | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative newsletter with List-Unsubscribe (RFC 8058 one-click) for
    `person`; without one for None (a test, whose unsubscribe link is only a sample)."""
    headers = unsubscribe_headers(settings, person, newsletter_list) if person else {}
    headers.update(list_headers(settings, newsletter_list, campaign_id))
    headers.update(extra_headers or {})
    return build_message(
        sender=settings.sender_for(newsletter_list),
        to=(to_name, to_email),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html or None,
        reply_to=settings.reply_to_for(newsletter_list) or None,
        extra_headers=headers,
        message_id_domain=settings.message_id_domain,
    )


def campaign_message_builder(
    settings: MailSettings, lst: ListSource, campaign_id: int | None = None
) -> BulkMessageBuilder:
    """The bulk builder for a campaign's messages: what build_newsletter_message makes,
    with the shared headers prepared once (add unsubscribe_headers per recipient)."""
    return BulkMessageBuilder(
        sender=settings.sender_for(lst),
        reply_to=settings.reply_to_for(lst) or None,
        headers=list_headers(settings, lst, campaign_id),
        message_id_domain=settings.message_id_domain,
    )


def render_for_person(
    session: Session,
    settings: MailSettings,
    template: TemplateSource,
    person: Person,
    lst: NewsletterList,
    *,
    campaign_id: int | None = None,
) -> RenderedMessage:
    """Render a template for one person (preview, test send, web version)."""
    org = organisation_names(session, [person.id]).get(person.id, "")
    context = recipient_context(settings, person, lst, organisation=org, campaign_id=campaign_id)
    return render_for_recipient(template, context)


# Stands in for the web version link while a test is rendered: a test has no delivery, so no
# web version, and the lines that would show the link are left out instead of showing it
# empty. Only [a-z0-9-], so HTML escaping leaves it as it is.
_NO_WEBVERSION = "crm-testversand-ohne-webversion"
# The link's text up to its own </a>, never across it into a following link.
_LINK_TEXT = r"(?:(?!</a>).)*</a>"
_WEBVERSION_PARAGRAPH = re.compile(
    rf"<p\b[^>]*>\s*<a\b[^>]*{_NO_WEBVERSION}[^>]*>{_LINK_TEXT}\s*</p>\s*", re.I | re.S
)
# The link with one separator ("·", "|", "•") beside it, as in "Im Browser ansehen · Abbestellen".
_WEBVERSION_LINK = re.compile(
    rf"(?P<lead>\s*[·|•]\s*)?<a\b[^>]*{_NO_WEBVERSION}[^>]*>{_LINK_TEXT}(?P<trail>\s*[·|•])?",
    re.I | re.S,
)
# Where the test note goes: after <body>, else after </head> or <html> (both may be omitted).
_NOTE_PLACES = (
    re.compile(r"<body\b[^>]*>", re.I),
    re.compile(r"</head\s*>", re.I),
    re.compile(r"<html\b[^>]*>", re.I),
)


def sample_unsubscribe_url(settings: MailSettings) -> str:
    """The unsubscribe link a test shows: the real link's shape, but no token (it only leads
    to the "link not valid" page), so a test never unsubscribes the person it was made for."""
    return f"{settings.base_url}/newsletter/abmelden/muster-testversand"


def _test_banner() -> tuple[str, str]:
    return (
        _("Test send – this is how the message looks to its recipients"),
        _("The unsubscribe link in this test is only a sample and does not work."),
    )


def _without_webversion_html(html: str) -> str:
    html = _WEBVERSION_PARAGRAPH.sub("", html)
    html = _WEBVERSION_LINK.sub(
        lambda m: m.group("lead") if m.group("lead") and m.group("trail") else "", html
    )
    return re.sub(_NO_WEBVERSION, "", html, flags=re.I)


def mark_as_test(rendered: RenderedMessage) -> RenderedMessage:
    """A rendered newsletter as its test: "[Test]" before the subject, a note at the top of
    both bodies that says so and that the unsubscribe link is a sample, and the lines with
    the web version link (empty in a test) left out."""
    title, note = _test_banner()
    subject = " ".join(re.sub(_NO_WEBVERSION, "", rendered.subject, flags=re.I).split())
    lines = [line for line in rendered.text.split("\n") if _NO_WEBVERSION not in line.lower()]
    text = f"{title}\n{note}\n{'=' * len(title)}\n\n" + "\n".join(lines)
    html = rendered.html
    if html:
        html = _without_webversion_html(html)
        banner = (
            '<div role="note" style="border:2px solid #b45309;background:#fef3c7;'
            'color:#1f2937;padding:12px 16px;margin:0 0 16px;font-family:sans-serif">'
            f"<strong>{escape(title)}</strong><br>{escape(note)}</div>\n"
        )
        found = (place.search(html) for place in _NOTE_PLACES)
        start = next((match for match in found if match), None)
        at = start.end() if start else 0
        html = f"{html[:at]}\n{banner}{html[at:]}"
    return RenderedMessage(f"[Test] {subject}", html, text)


def queue_test(
    session: Session,
    settings: MailSettings,
    template: TemplateSource,
    *,
    person: Person,
    lst: NewsletterList,
    to_email: str,
    to_name: str,
    user_id: int | None = None,
) -> OutgoingMail:
    """Queue a template rendered for `person` as a test to a staff member (no commit).

    The test is marked as one (mark_as_test); its unsubscribe link is a sample and it has no
    List-Unsubscribe header, since a working one would unsubscribe `person`, who may be a
    real subscriber chosen for the preview, at a click of the staff member.

    Raises TemplateProblem for a template that does not render and ValueError for a message
    that cannot be sent (e.g. the staff member has no usable address).
    """
    org = organisation_names(session, [person.id]).get(person.id, "")
    context = recipient_context(settings, person, lst, organisation=org)
    context["abmelde_link"] = sample_unsubscribe_url(settings)
    context["webversion_link"] = _NO_WEBVERSION
    rendered = mark_as_test(render_for_recipient(template, context))
    msg = build_newsletter_message(
        settings, rendered, to_email=to_email, to_name=to_name, person=None, newsletter_list=lst
    )
    return enqueue(session, msg, kind="test", user_id=user_id)


# --- merging two people --------------------------------------------------------------------------


_SUBSCRIPTION_STATE = (
    "status",
    "source",
    "consent_text_id",
    "requested_at",
    "confirmed_at",
    "unsubscribed_at",
    "bounced_at",
)


def move_merged_person(
    entity_type: str, *, session: Session, keep_id: int, drop_id: int
) -> list[RowChange]:
    """merging handler: subscriptions, ledger and deliveries move to the person kept."""
    if entity_type != "person":
        return []
    changes: list[RowChange] = []
    kept = {
        s.list_id: s
        for s in session.scalars(sa.select(Subscription).where(Subscription.person_id == keep_id))
    }
    for sub in session.scalars(sa.select(Subscription).where(Subscription.person_id == drop_id)):
        other = kept.get(sub.list_id)
        if other is None:
            sub.person_id = keep_id
            changes.append(
                RowChange("newsletter_subscription", sub.id, "person_id", drop_id, keep_id)
            )
            continue
        # Both had one: the more recent state wins (a later withdrawal beats an earlier consent).
        if sub.updated_at > other.updated_at:
            for name in _SUBSCRIPTION_STATE:
                if getattr(other, name) != getattr(sub, name):
                    changes.append(RowChange("newsletter_subscription", other.id, name))
                setattr(other, name, getattr(sub, name))
        changes += move_column(session, ConsentEvent.subscription_id, other.id, sub.id)
        changes.append(RowChange("newsletter_subscription", sub.id, "person_id", "deleted", None))
        session.delete(sub)
    session.flush()
    changes += move_column(session, ConsentEvent.person_id, keep_id, drop_id)
    kept_campaigns = sa.select(Delivery.campaign_id).where(Delivery.person_id == keep_id)
    changes += move_column(
        session,
        Delivery.person_id,
        keep_id,
        drop_id,
        where=Delivery.campaign_id.not_in(kept_campaigns),
    )
    return changes


def connect_signals() -> None:
    """Take part in contact merges (called once by create_app)."""
    merging.connect(move_merged_person)


__all__ = [
    "CONSENT_METHODS",
    "BadToken",
    "MailSettings",
    "NewsletterError",
    "build_newsletter_message",
    "confirm_subscription",
    "mark_bounced",
    "organisation_names",
    "recipient_context",
    "record_consent",
    "record_consents",
    "queue_signup_mail",
    "queue_test",
    "request_subscription",
    "unsubscribe",
]
