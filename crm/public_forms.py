"""What every public form (the inquiry form, event registration) shares: the per-address
limit counted in the database, and the signed, dated form token that stands in for the
session's CSRF token on pages other websites may frame.

Each form counts its posts in its own table (one row per post: `ip_hash`, `at`), so a busy
registration page does not use up the inquiry form's allowance.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

# A form token older than this is refused (the visitor reloads the page and sends again).
FORM_TOKEN_MAX_AGE = 24 * 3600


def ip_bucket(ip: str) -> str:
    """What the limit counts: an IPv4 address, or the /64 network of an IPv6 address (one
    household or customer gets a whole /64 and could otherwise post from endless addresses)."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return ip or ""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def hash_ip(secret: str, ip: str) -> str:
    """A keyed hash of the address's bucket: enough to count posts, useless to find who sent
    them."""
    return hmac.new(secret.encode(), ip_bucket(ip).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Limit:
    window: timedelta = timedelta(hours=1)
    max_per_ip: int = 5


def throttled(session: Session, model: Any, ip_hash: str, limit: Limit, now: datetime) -> bool:
    """True if this address has posted the form (counted in `model`) too often lately."""
    n = session.scalar(
        sa.select(sa.func.count(model.id)).where(
            model.ip_hash == ip_hash, model.at >= now - limit.window
        )
    )
    return (n or 0) >= limit.max_per_ip


def record_attempt(session: Session, model: Any, ip_hash: str, now: datetime) -> None:
    """Count one post of the form (in the caller's transaction)."""
    session.add(model(ip_hash=ip_hash, at=now))


def purge_attempts(session: Session, model: Any, older_than: datetime) -> int:
    """Delete counted posts older than the given moment."""
    result = session.execute(sa.delete(model).where(model.at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)


def form_token(secret: str, salt: str, payload: Any) -> str:
    """A signed, dated token for a public form's hidden field."""
    return URLSafeTimedSerializer(secret, salt=salt).dumps(payload)


def form_token_valid(secret: str, salt: str, token: str, max_age: int = FORM_TOKEN_MAX_AGE) -> bool:
    """True for a token this app signed with this salt within `max_age` seconds."""
    try:
        URLSafeTimedSerializer(secret, salt=salt).loads(token, max_age=max_age)
    except BadSignature:
        return False
    return True


def read_id_token(secret: str, salt: str, token: str, max_age: int) -> tuple[int, str] | str:
    """(record id, text) from a signed, dated personal link's token, or why it is refused:
    "expired" for a genuine but too old one, "invalid" for anything else."""
    try:
        payload: Any = URLSafeTimedSerializer(secret, salt=salt).loads(token, max_age=max_age)
    except SignatureExpired:
        return "expired"
    except BadSignature:
        return "invalid"
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not isinstance(payload[0], int)
        or isinstance(payload[0], bool)
        or not isinstance(payload[1], str)
    ):
        return "invalid"
    return payload[0], payload[1]
