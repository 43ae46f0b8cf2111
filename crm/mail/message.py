"""Building outgoing e-mail messages safely (header injection, umlauts, RFC 8058)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from email import errors, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

__all__ = [
    "MESSAGE_POLICY",
    "build_message",
    "list_unsubscribe_headers",
    "sanitize_header",
]

# refold_source="none" only affects headers stored with set_raw(): those are our pre-folded
# ASCII headers (List-Unsubscribe ...). policy.SMTP would otherwise turn a long URL into
# RFC 2047 encoded words, which mail clients do not decode in List-Unsubscribe.
MESSAGE_POLICY = policy.SMTP.clone(refold_source="none")

# RFC 5322 field names: printable ASCII except colon.
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
# Headers build_message sets itself; letting extra_headers add them would duplicate them.
_RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "sender",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
_MAX_LINE = 78
_HARD_MAX_LINE = 998


def sanitize_header(value: str) -> str:
    """Return value with control characters removed and whitespace collapsed to single spaces."""
    chars = []
    for ch in str(value):
        category = unicodedata.category(ch)
        if category in {"Cc", "Zl", "Zp"}:
            # A space, not nothing, so "a\r\nb" stays two words instead of "ab".
            chars.append(" ")
        elif category != "Cf" or ch == "\u200d":
            # Format characters (bidi overrides, zero-width spaces) can disguise a sender's
            # name; the zero-width joiner stays because emoji sequences need it.
            chars.append(ch)
    return " ".join("".join(chars).split())


def _address(value: str | tuple[str, str], field: str) -> Address:
    """Parse one mailbox from "addr", "Name <addr>" or (name, addr); refuse anything else."""
    if isinstance(value, tuple):
        name, addr_spec = value
        name, addr_spec = sanitize_header(name), sanitize_header(addr_spec)
        if "@" not in addr_spec:
            raise ValueError(f"{field}: not an e-mail address: {addr_spec!r}")
        try:
            return _ascii_domain(Address(display_name=name, addr_spec=addr_spec), field)
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{field}: not an e-mail address: {addr_spec!r}") from exc
    header = MESSAGE_POLICY.header_factory(field, sanitize_header(value))
    addresses = header.addresses
    # The parser skips text it cannot read ("a@b.org Bcc: c@d.org" yields a@b.org); refuse
    # such input instead of silently sending to a guess. A comma would add a second recipient.
    if (
        any(isinstance(defect, errors.InvalidHeaderDefect) for defect in header.defects)
        or len(addresses) != 1
        or not addresses[0].username
        or not addresses[0].domain
    ):
        raise ValueError(f"{field}: expected exactly one e-mail address, got {value!r}")
    parsed = addresses[0]
    return _ascii_domain(
        Address(display_name=sanitize_header(parsed.display_name), addr_spec=parsed.addr_spec),
        field,
    )


def _ascii_domain(address: Address, field: str) -> Address:
    """Return address with an umlaut domain (müller-bau.de) in its IDNA (punycode) form."""
    if address.domain.isascii():
        return address
    # Without this, smtplib would need SMTPUTF8 from the relay; punycode works everywhere.
    try:
        domain = address.domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"{field}: invalid domain {address.domain!r}") from exc
    return Address(display_name=address.display_name, username=address.username, domain=domain)


def _fold_ascii(name: str, value: str) -> str:
    """Fold an ASCII header value at spaces so lines stay short, never inside a token."""
    lines: list[str] = []
    current = ""
    for word in value.split(" "):
        if len(name) + 2 + len(word) > _HARD_MAX_LINE:
            raise ValueError(f"{name}: a single token is longer than {_HARD_MAX_LINE} characters")
        if not current:
            current = word
            continue
        # The first line also carries "Name: ", continuation lines a leading space.
        budget = _MAX_LINE - (len(name) + 2 if not lines else 1)
        if len(current) + 1 + len(word) > budget:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}"
    lines.append(current)
    return "\r\n ".join(lines)


def _set_extra_header(msg: EmailMessage, name: str, value: str) -> None:
    if not _HEADER_NAME.match(name):
        raise ValueError(f"invalid header name: {name!r}")
    if name.lower() in _RESERVED_HEADERS:
        raise ValueError(f"header {name!r} is set by build_message, not through extra_headers")
    clean = sanitize_header(value)
    if clean.isascii():
        # Stored raw so URLs and tokens are never rewritten as encoded words.
        msg.set_raw(name, _fold_ascii(name, clean))
    else:
        msg[name] = clean


def _body_cte(text: str) -> str | None:
    # Quoted-printable keeps non-ASCII bodies 7-bit safe for relays without 8BITMIME.
    return None if text.isascii() else "quoted-printable"


def build_message(
    *,
    sender: str | tuple[str, str],
    to: str | tuple[str, str],
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    message_id_domain: str,
) -> EmailMessage:
    """Build a plain-text or text+HTML (multipart/alternative) message with safe headers."""
    msg = EmailMessage(policy=MESSAGE_POLICY)
    msg["From"] = _address(sender, "From")
    msg["To"] = _address(to, "To")
    if reply_to:
        msg["Reply-To"] = _address(reply_to, "Reply-To")
    msg["Subject"] = sanitize_header(subject)
    msg["Date"] = format_datetime(datetime.now(UTC))
    domain = sanitize_header(message_id_domain).replace(" ", "")
    if not domain:
        raise ValueError("message_id_domain must not be empty")
    msg["Message-ID"] = make_msgid(domain=domain)
    for name, value in (extra_headers or {}).items():
        _set_extra_header(msg, name, value)
    msg.set_content(text, cte=_body_cte(text))
    if html is not None:
        msg.add_alternative(html, subtype="html", cte=_body_cte(html))
    return msg


def _angle(uri: str, what: str) -> str:
    clean = sanitize_header(uri)
    if not clean or any(ch in clean for ch in " <>,"):
        raise ValueError(f"{what} must be a single URI without spaces, '<', '>' or ',': {uri!r}")
    return f"<{clean}>"


def list_unsubscribe_headers(https_url: str, mailto: str | None) -> dict[str, str]:
    """Return List-Unsubscribe and List-Unsubscribe-Post headers for one-click unsubscribe."""
    # RFC 8058 requires an HTTPS URI for one-click; plain http would leak the token.
    if not https_url.lower().startswith("https://"):
        raise ValueError(f"one-click unsubscribe needs an https:// URL, got {https_url!r}")
    targets = [_angle(https_url, "https_url")]
    if mailto:
        address = mailto if mailto.lower().startswith("mailto:") else f"mailto:{mailto}"
        targets.append(_angle(address, "mailto"))
    return {
        "List-Unsubscribe": ", ".join(targets),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
