"""Mail transports: a file outbox for development and SMTP for production."""

from __future__ import annotations

import contextlib
import hashlib
import os
import smtplib
import ssl
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

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

    @abstractmethod
    def send(self, msg: EmailMessage) -> SendResult:
        """Hand one message over; raise TemporaryMailError or PermanentMailError on refusal."""

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


def _message_id(msg: Message) -> str | None:
    value = msg.get("Message-ID")
    return str(value).strip() if value else None


class FileTransport(Transport):
    """Writes each message as an .eml file into a directory (the development outbox)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def open(self) -> None:
        """Create the outbox directory if needed."""
        self.directory.mkdir(parents=True, exist_ok=True)

    def send(self, msg: EmailMessage) -> SendResult:
        """Write msg atomically as <UTC timestamp>-<hash>.eml."""
        self.open()
        data = msg.as_bytes()
        message_id = _message_id(msg)
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


class _TrackingMixin:
    """Remembers the last command and reply, which smtplib's send_message does not return."""

    last_command: str = ""
    last_reply: tuple[int, bytes] = (0, b"")

    def putcmd(self, cmd: str, args: str = "") -> None:
        self.last_command = cmd.lower()
        super().putcmd(cmd, args)  # type: ignore[misc]

    def getreply(self) -> tuple[int, bytes]:
        reply: tuple[int, bytes] = super().getreply()  # type: ignore[misc]
        self.last_reply = reply
        return reply


class _SMTP(_TrackingMixin, smtplib.SMTP):
    pass


class _SMTPSSL(_TrackingMixin, smtplib.SMTP_SSL):
    pass


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _reply_error(code: int, raw: bytes | str) -> _ReplyError:
    # Only a definite 5xx is permanent; odd codes (smtplib uses -1) are treated as retryable.
    cls = PermanentMailError if 500 <= code < 600 else TemporaryMailError
    return cls(code, _text(raw))


class SMTPTransport(Transport):
    """Sends over SMTP, keeping one connection open across send() calls."""

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
        self._conn: _SMTP | _SMTPSSL | None = None

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def open(self) -> None:
        """Connect, secure and log in unless already connected.

        Never raises PermanentMailError: failing to connect says nothing about any message.
        """
        if self._conn is not None and self._conn.sock is not None:
            return
        self._discard()
        where = f"{self.host}:{self.port}"
        conn: _SMTP | _SMTPSSL | None = None
        try:
            # The host goes to the constructor (which connects and checks the 220 greeting)
            # because smtplib only uses it as the TLS server_hostname when given there.
            if self.security == "ssl":
                conn = _SMTPSSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self._context(),
                )
            else:
                conn = _SMTP(
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

    def send(self, msg: EmailMessage) -> SendResult:
        """Send msg over the open connection, connecting first if needed."""
        for attempt in (1, 2):
            self.open()
            conn = self._conn
            assert conn is not None
            try:
                refused = conn.send_message(msg)
            except smtplib.SMTPServerDisconnected as exc:
                stage = conn.last_command
                self._discard()
                # A drop before DATA (typically an idle connection the server timed out)
                # cannot have delivered anything, so one retry on a fresh connection is safe.
                # A drop during DATA may have delivered: leave that decision to the caller.
                if attempt == 1 and stage != "data":
                    continue
                raise TemporaryMailError(None, f"connection lost during {stage}: {exc}") from exc
            except smtplib.SMTPRecipientsRefused as exc:
                raise self._refused_error(exc.recipients) from exc
            except smtplib.SMTPNotSupportedError as exc:
                # e.g. a non-ASCII address while the server lacks SMTPUTF8: no retry helps.
                raise PermanentMailError(None, str(exc)) from exc
            except smtplib.SMTPResponseException as exc:
                # smtplib has already sent RSET (or closed on 421), so the connection
                # stays usable for the next message or gets reopened by open().
                raise _reply_error(exc.smtp_code, exc.smtp_error) from exc
            except OSError as exc:
                self._discard()
                raise TemporaryMailError(None, f"connection failed: {exc}") from exc
            code, reply = conn.last_reply
            return SendResult(
                message_id=_message_id(msg),
                code=code or 250,
                response=_text(reply),
                refused={addr: (c, _text(t)) for addr, (c, t) in refused.items()},
            )
        raise AssertionError("unreachable")  # pragma: no cover

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
