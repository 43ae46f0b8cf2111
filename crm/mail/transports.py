"""Mail transports: a file outbox for development and SMTP for production.

SMTP goes through smtplib unchanged (`SMTP.sendmail` on a kept-open connection). Errors are
sorted into three kinds the sender acts on: TemporaryMailError (4xx, connection refused or
lost: try again later), PermanentMailError (5xx: this message will never go out) and
MailError (configuration: login, TLS; no message is at fault).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import smtplib
import ssl
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from crm.mail.message import RawMessage

__all__ = [
    "FileTransport",
    "MailError",
    "PermanentMailError",
    "SMTPTransport",
    "SendResult",
    "TemporaryMailError",
    "Transport",
    "transport_from_config",
]

Security = Literal["none", "starttls", "ssl"]
_DEFAULT_PORTS: dict[str, int] = {"none": 25, "starttls": 587, "ssl": 465}


class MailError(Exception):
    """A mail could not be sent; neither the message's nor a server's fault (e.g. bad config)."""


class _ReplyError(MailError):
    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code} {message}" if code is not None else message)
        # None means there was no SMTP reply at all (connection refused, lost, timed out).
        self.code = code
        self.message = message


class TemporaryMailError(_ReplyError):
    """Try again later: a 4xx reply, or the connection failed or timed out (code is None)."""


class PermanentMailError(_ReplyError):
    """The server refused this message for good (5xx); retrying will not help."""


@dataclass(frozen=True)
class SendResult:
    """What the transport knows once a message has been accepted."""

    message_id: str | None
    code: int = 250
    response: str = ""
    # Recipients the server refused while accepting the others: address -> (code, text).
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)


class Transport(ABC):
    """Sends messages; use as a context manager so a batch shares one connection."""

    def open(self) -> None:  # noqa: B027 - optional hook, a no-op for most transports
        """Prepare for sending (connect, log in); calling it again is harmless."""

    def send(self, msg: EmailMessage) -> SendResult:
        """Hand one message over; raise TemporaryMailError or PermanentMailError on refusal."""
        return self.send_raw(RawMessage.from_message(msg))

    @abstractmethod
    def send_raw(self, raw: RawMessage) -> SendResult:
        """Hand over a serialised message; raise like send()."""

    def check(self) -> None:  # noqa: B027 - optional hook, a no-op for most transports
        """Raise TemporaryMailError (or MailError) if the transport cannot take mail now."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op for most transports
        """Release the connection; calling it again is harmless."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FileTransport(Transport):
    """Writes each message as an .eml file into a directory (the development outbox)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def open(self) -> None:
        """Create the outbox directory if needed."""
        self.directory.mkdir(parents=True, exist_ok=True)

    def send_raw(self, raw: RawMessage) -> SendResult:
        """Write the message atomically as <UTC timestamp>-<hash>.eml."""
        self.open()
        data, message_id = raw.data, raw.message_id
        digest = hashlib.sha256(message_id.encode() if message_id else data).hexdigest()[:12]
        # Microseconds keep names in send order within a second, so sorting names sorts by time.
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{digest}.eml"
        # Written under a dot-name first so the outbox never lists a half-written file.
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.directory / name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return SendResult(message_id=message_id, code=250, response=f"written to {name}")


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _reply_error(code: int, raw: bytes | str) -> _ReplyError:
    # Only a definite 5xx is permanent; odd codes (smtplib uses -1) are treated as retryable.
    cls = PermanentMailError if 500 <= code < 600 else TemporaryMailError
    return cls(code, _text(raw))


class SMTPTransport(Transport):
    """Sends over SMTP with smtplib as it is, keeping one connection open across sends."""

    def __init__(
        self,
        host: str,
        port: int,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30,
        local_hostname: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in _DEFAULT_PORTS:
            raise ValueError(f"security must be 'none', 'starttls' or 'ssl', not {security!r}")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _usable(self) -> bool:
        """True if the open connection can take a command.

        An idle connection the server closed (timeout, restart) shows up as a readable
        socket: nothing is outstanding between transactions, so anything to read is EOF
        or a 421 goodbye. Checked without a round trip, so no message is ever sent twice
        by a transport-level retry; a connection lost mid-transaction is the caller's call.
        """
        conn = self._conn
        if conn is None or conn.sock is None:
            return False
        try:
            readable, _, _ = select.select([conn.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def open(self) -> None:
        """Connect, secure and log in unless already connected.

        Never raises PermanentMailError: failing to connect says nothing about any message.
        """
        if self._usable():
            return
        self._discard()
        where = f"{self.host}:{self.port}"
        conn: smtplib.SMTP | None = None
        try:
            # The host goes to the constructor (which connects and checks the 220 greeting)
            # because smtplib only uses it as the TLS server_hostname when given there.
            if self.security == "ssl":
                conn = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self._context(),
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            if self.security == "starttls":
                conn.ehlo()
                conn.starttls(context=self._context())
            conn.ehlo()
            if self.username:
                conn.login(self.username, self.password or "")
        except BaseException as exc:
            if conn is not None:
                conn.close()
            mapped = self._open_error(exc, where)
            if mapped is None:
                raise
            raise mapped from exc
        self._conn = conn

    @staticmethod
    def _open_error(exc: BaseException, where: str) -> MailError | None:
        # Credentials, TLS setup and certificates are configuration problems: retrying every
        # queued message would not help, so they are MailError, not per-message errors.
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return MailError(
                f"SMTP login at {where} rejected: {exc.smtp_code} {_text(exc.smtp_error)}"
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError | ssl.SSLCertVerificationError):
            return MailError(f"SMTP server {where}: {exc}")
        if isinstance(exc, smtplib.SMTPResponseException):
            if 400 <= exc.smtp_code < 500:
                return TemporaryMailError(exc.smtp_code, _text(exc.smtp_error))
            return MailError(f"SMTP server {where}: {exc.smtp_code} {_text(exc.smtp_error)}")
        if isinstance(exc, OSError):  # refused, reset, timeout, SMTPServerDisconnected
            return TemporaryMailError(None, f"cannot connect to {where}: {exc}")
        return None

    def check(self) -> None:
        """Connect (EHLO, TLS, login) and say NOOP; raise like send() if the server is not
        ready. Used to find out whether a relay that failed is back."""
        self.open()
        assert self._conn is not None
        try:
            code, reply = self._conn.noop()
        except OSError as exc:
            self._discard()
            raise TemporaryMailError(None, f"connection lost: {exc}") from exc
        if code != 250:
            self._discard()
            raise _reply_error(code, reply)

    def send_raw(self, raw: RawMessage) -> SendResult:
        """Send with smtplib's sendmail over the open connection, connecting first if needed."""
        self.open()
        conn = self._conn
        assert conn is not None
        options: list[str] = []
        if raw.needs_smtputf8:
            if not conn.has_extn("smtputf8"):
                raise PermanentMailError(
                    None,
                    "the address needs SMTPUTF8 (internationalised e-mail), which the server "
                    "does not offer",
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        try:
            refused = conn.sendmail(raw.envelope_from, list(raw.recipients), raw.data, options)
        except smtplib.SMTPRecipientsRefused as exc:
            raise self._refused_error(exc.recipients) from exc
        except smtplib.SMTPResponseException as exc:
            # smtplib reset the transaction (or closed the connection on 421), so the
            # connection stays usable for the next message or gets reopened by open().
            raise _reply_error(exc.smtp_code, exc.smtp_error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            # Lost mid-transaction (SMTPServerDisconnected is an OSError): the message may or
            # may not have been delivered; the caller decides whether to send it again.
            self._discard()
            raise TemporaryMailError(None, f"connection lost: {exc}") from exc
        except BaseException:
            # Interrupted mid-transaction: dropping the connection makes the server abandon
            # an unfinished message.
            self._discard()
            raise
        return SendResult(
            message_id=raw.message_id,
            refused={addr: (c, _text(t)) for addr, (c, t) in refused.items()},
        )

    @staticmethod
    def _refused_error(recipients: Mapping[str, tuple[int, bytes]]) -> _ReplyError:
        details = "; ".join(
            f"{addr}: {code} {_text(text)}" for addr, (code, text) in recipients.items()
        )
        codes = [code for code, _ in recipients.values()]
        # One temporarily refused recipient may still be reached later, so retry the message.
        temporary = [code for code in codes if not 500 <= code < 600]
        if temporary:
            return TemporaryMailError(temporary[0], details)
        return PermanentMailError(codes[0], details)

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Say QUIT and close the connection."""
        if self._conn is None:
            return
        with contextlib.suppress(smtplib.SMTPException, OSError):
            if self._conn.sock is not None:
                self._conn.quit()
        self._discard()


def _setting(config: Mapping[str, Any], key: str) -> Any:
    value = config.get(key)
    # Empty strings come from .env lines like "CRM_SMTP_USERNAME=" and mean "not set".
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _number(
    config: Mapping[str, Any], key: str, kind: type[int] | type[float], default: Any
) -> Any:
    value = _setting(config, key)
    if value is None:
        return default
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{key} must be a number, got {value!r}") from exc


def transport_from_config(config: Mapping[str, Any]) -> Transport:
    """Build the transport the CRM_MAIL_* / CRM_SMTP_* settings describe."""
    kind = str(_setting(config, "CRM_MAIL_TRANSPORT") or "file").strip().lower()
    if kind == "file":
        directory = _setting(config, "CRM_MAIL_OUTBOX_DIR")
        if directory is None:
            raise ValueError("CRM_MAIL_TRANSPORT=file needs CRM_MAIL_OUTBOX_DIR (a directory)")
        return FileTransport(directory)
    if kind == "smtp":
        host = _setting(config, "CRM_SMTP_HOST")
        if host is None:
            raise ValueError("CRM_MAIL_TRANSPORT=smtp needs CRM_SMTP_HOST")
        security = str(_setting(config, "CRM_SMTP_SECURITY") or "starttls").strip().lower()
        if security not in _DEFAULT_PORTS:
            raise ValueError(
                f"CRM_SMTP_SECURITY must be 'none', 'starttls' or 'ssl', not {security!r}"
            )
        return SMTPTransport(
            host=str(host).strip(),
            port=_number(config, "CRM_SMTP_PORT", int, _DEFAULT_PORTS[security]),
            security=security,  # type: ignore[arg-type]
            username=_setting(config, "CRM_SMTP_USERNAME"),
            password=_setting(config, "CRM_SMTP_PASSWORD"),
            timeout=_number(config, "CRM_SMTP_TIMEOUT", float, 30.0),
        )
    raise ValueError(f"unknown CRM_MAIL_TRANSPORT {kind!r}: expected 'file' or 'smtp'")
