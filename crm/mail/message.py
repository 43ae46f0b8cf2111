"""Building outgoing e-mail messages safely (header injection, umlauts, RFC 8058)."""

from __future__ import annotations

import base64
import binascii
import copy
import io
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import errors, policy
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import format_datetime, formataddr, getaddresses, make_msgid

__all__ = [
    "MESSAGE_POLICY",
    "Attachment",
    "BulkMessageBuilder",
    "RawMessage",
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
    value = str(value)
    if value.isprintable():
        # No control, format or line/paragraph separator character (the common case).
        return " ".join(value.split())
    chars = []
    for ch in value:
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


def _check_header_name(name: str) -> None:
    """Refuse malformed names and the headers the builders set themselves."""
    if not _HEADER_NAME.match(name):
        raise ValueError(f"invalid header name: {name!r}")
    if name.lower() in _RESERVED_HEADERS:
        raise ValueError(f"header {name!r} is set by the message builder, not as an extra header")


def _set_extra_header(msg: EmailMessage, name: str, value: str) -> None:
    _check_header_name(name)
    clean = sanitize_header(value)
    if clean.isascii():
        # Stored raw so URLs and tokens are never rewritten as encoded words.
        msg.set_raw(name, _fold_ascii(name, clean))
    else:
        msg[name] = clean


def _body_cte(text: str) -> str | None:
    # Quoted-printable keeps non-ASCII bodies 7-bit safe for relays without 8BITMIME.
    return None if text.isascii() else "quoted-printable"


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (an event's .ics): its name, MIME type and bytes."""

    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "octet-stream"
    params: Mapping[str, str] | None = None


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
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """Build a plain-text or text+HTML (multipart/alternative) message with safe headers;
    with attachments the body becomes the first part of a multipart/mixed message."""
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
    for attachment in attachments:
        msg.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=sanitize_header(attachment.filename),
            params=dict(attachment.params or {}),
        )
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


# --- messages as bytes, and building many of them fast --------------------------------------------


@dataclass(frozen=True)
class RawMessage:
    """A message ready for the wire: the SMTP envelope and the exact bytes (CRLF line ends)."""

    envelope_from: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str | None = None

    @property
    def needs_smtputf8(self) -> bool:
        """True if an envelope address is not ASCII (the server must offer SMTPUTF8)."""
        return not all(a.isascii() for a in (self.envelope_from, *self.recipients))

    @classmethod
    def from_message(cls, msg: Message) -> RawMessage:
        """Serialise msg the way smtplib's send_message would (envelope from its headers)."""
        sender = msg["Sender"] or msg["From"]
        envelope_from = getaddresses([str(sender)])[0][1] if sender else ""
        recipients = tuple(
            addr
            for _, addr in getaddresses(
                [str(v) for field in ("To", "Cc", "Bcc") for v in msg.get_all(field, [])]
            )
            if addr
        )
        if "Bcc" in msg:
            # Bcc recipients get the message but must not see each other. A shallow copy is
            # enough: deleting a header rebinds the copy's header list (as smtplib does).
            msg = copy.copy(msg)
            del msg["Bcc"]
        international = not all(a.isascii() for a in (envelope_from, *recipients))
        buffer = io.BytesIO()
        # A legacy Message (compat32 policy, e.g. from email.message_from_bytes) has no utf8
        # setting: like smtplib, serialise it with its own policy.
        wire = msg.policy
        if isinstance(wire, policy.EmailPolicy):
            wire = wire.clone(utf8=international)
        BytesGenerator(buffer, policy=wire).flatten(msg, linesep="\r\n")
        message_id = msg.get("Message-ID")
        return cls(
            envelope_from,
            recipients,
            buffer.getvalue(),
            str(message_id).strip() if message_id else None,
        )


# A plain dot-atom address with an ASCII domain: the shape of nearly every address in the
# database. Anything else takes the email package's full parser.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SIMPLE_ADDRESS = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})+\Z")
# UTF-8 bytes per RFC 2047 encoded word: base64 of 42 bytes is 56 characters, and with
# "=?utf-8?b?...?=" and "Subject: " the first line stays within 78.
_WORD_BYTES = 42


def _encoded_words(text: str) -> str:
    """text as RFC 2047 base64 encoded words, folded onto continuation lines."""
    data = text.encode("utf-8")
    words = []
    start = 0
    while True:
        end = min(start + _WORD_BYTES, len(data))
        # Never split a character: back off over UTF-8 continuation bytes (10xxxxxx).
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        if end >= len(data):
            return "\r\n ".join(words)
        start = end


def _needs_encoding(text: str) -> bool:
    # "=?" in plain text would be read as the start of an encoded word by mail clients.
    return not text.isascii() or "=?" in text


def _unstructured_line(name: str, value: str) -> bytes:
    """One folded header line for free text (Subject, custom headers), CR/LF neutralised."""
    clean = sanitize_header(value)
    if not _needs_encoding(clean):
        try:
            return f"{name}: {_fold_ascii(name, clean)}\r\n".encode("ascii")
        except ValueError:  # a single token longer than a line: encoded words split it
            pass
    return f"{name}: {_encoded_words(clean)}\r\n".encode("ascii")


def _header_lines(msg: EmailMessage) -> bytes:
    return b"".join(MESSAGE_POLICY.fold_binary(name, value) for name, value in msg.raw_items())


def _recipient_line(name: str, addr: str) -> tuple[bytes, str]:
    """The To line and the envelope address for one recipient."""
    name, addr = sanitize_header(name), sanitize_header(addr)
    if _SIMPLE_ADDRESS.match(addr) and len(name) <= 200:
        if not name:
            value = addr
        elif _needs_encoding(name):
            value = f"{_encoded_words(name)} <{addr}>"
        else:
            value = formataddr((name, addr))  # quotes the name if it holds specials
        line = f"To: {value}"
        if len(line) <= _HARD_MAX_LINE:
            return f"{line}\r\n".encode("ascii"), addr
    # Unusual addresses (quoted local parts, umlaut domains, ...) take the full parser.
    msg = EmailMessage(policy=MESSAGE_POLICY)
    parsed = _address((name, addr), "To")
    msg["To"] = parsed
    return _header_lines(msg), parsed.addr_spec


def _normalise_body(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def _text_part(subtype: str, text: str) -> tuple[bytes, bytes]:
    """(part headers, encoded body) of one text part: 7bit if it can be, else quoted-printable."""
    text = _normalise_body(text)
    data = text.encode("utf-8")
    if text.isascii() and max(map(len, text.split("\n"))) <= _MAX_LINE:
        cte, body = "7bit", data
    else:
        # b2a_qp wraps at 76 with soft breaks and encodes trailing whitespace.
        cte, body = "quoted-printable", binascii.b2a_qp(data, istext=True)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    return head.encode("ascii"), body.replace(b"\n", b"\r\n")


def _boundary(*bodies: bytes) -> str:
    while True:
        token = f"{'=' * 15}{secrets.token_hex(10)}=="
        if not any(token.encode("ascii") in body for body in bodies):
            return token


class BulkMessageBuilder:
    """Builds many messages that share sender and list headers, straight to bytes.

    `build_message` goes through the email package's header objects and generator, which
    costs milliseconds per message; a newsletter with tens of thousands of recipients differs
    per recipient only in To, Subject, the bodies and a few ASCII headers. The shared headers
    are parsed, validated and folded here once by the email package itself; the personal parts
    are encoded directly (RFC 2047 words for non-ASCII header text, quoted-printable bodies), with
    the same CR/LF neutralisation as build_message. tests/test_mail_messages.py checks that
    both builders produce messages that parse to the same content.
    """

    def __init__(
        self,
        *,
        sender: str | tuple[str, str],
        reply_to: str | None = None,
        headers: Mapping[str, str] | None = None,
        message_id_domain: str,
    ) -> None:
        shared = EmailMessage(policy=MESSAGE_POLICY)
        sender_address = _address(sender, "From")
        shared["From"] = sender_address
        self.envelope_from = sender_address.addr_spec
        self._from = _header_lines(shared)
        del shared["From"]
        if reply_to:
            shared["Reply-To"] = _address(reply_to, "Reply-To")
        for name, value in (headers or {}).items():
            _set_extra_header(shared, name, value)
        self._shared = _header_lines(shared)
        domain = sanitize_header(message_id_domain).replace(" ", "")
        if not domain:
            raise ValueError("message_id_domain must not be empty")
        self.message_id_domain = domain

    def build(
        self,
        *,
        to: tuple[str, str],
        subject: str,
        text: str,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
        message_id: str | None = None,
    ) -> RawMessage:
        """One recipient's message: (display name, address), subject, bodies, own headers;
        `message_id` ("<...@...>", ASCII) when the caller derives it, else a random one."""
        to_line, rcpt = _recipient_line(*to)
        if message_id is None:
            message_id = make_msgid(domain=self.message_id_domain)
        elif not message_id.isascii() or any(c in message_id for c in "\r\n "):
            raise ValueError("a Message-ID must be ASCII without spaces or line breaks")
        lines = [
            self._from,
            to_line,
            _unstructured_line("Subject", subject),
            f"Date: {format_datetime(datetime.now(UTC))}\r\nMessage-ID: {message_id}\r\n".encode(
                "ascii"
            ),
            self._shared,
        ]
        for name, value in (headers or {}).items():
            _check_header_name(name)
            lines.append(_unstructured_line(name, value))
        lines.append(b"MIME-Version: 1.0\r\n")
        text_head, text_body = _text_part("plain", text)
        if html is None:
            lines += [text_head, b"\r\n", text_body]
        else:
            html_head, html_body = _text_part("html", html)
            boundary = _boundary(text_body, html_body)
            delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
            lines += [
                f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'.encode(
                    "ascii"
                ),
                delimiter[2:],
                text_head,
                b"\r\n",
                text_body,
                delimiter,
                html_head,
                b"\r\n",
                html_body,
                f"\r\n--{boundary}--\r\n".encode("ascii"),
            ]
        return RawMessage(self.envelope_from, (rcpt,), b"".join(lines), message_id)
