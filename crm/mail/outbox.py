"""Reading the development outbox that FileTransport writes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

__all__ = ["OutboxItem", "list_outbox", "read_outbox_message"]


@dataclass(frozen=True)
class OutboxItem:
    """One message in the outbox, as the list page shows it."""

    filename: str
    subject: str
    to: str
    sender: str
    date: datetime | None
    size: int


def _is_message_name(name: str) -> bool:
    # Dot-names are FileTransport's half-written temp files (and hidden files generally).
    return name.endswith(".eml") and not name.startswith(".")


def _header(msg: EmailMessage, name: str) -> str:
    try:
        return str(msg.get(name, ""))
    except Exception:  # a malformed header must not break the whole list
        return ""


def _date(msg: EmailMessage) -> datetime | None:
    try:
        header = msg.get("Date")
        return getattr(header, "datetime", None)
    except Exception:  # a malformed date is shown as missing
        return None


def list_outbox(
    directory: str | os.PathLike[str], *, limit: int = 50, offset: int = 0
) -> tuple[list[OutboxItem], int]:
    """Return one page of outbox messages, newest first, and the total number of messages."""
    try:
        entries = [
            entry
            for entry in os.scandir(directory)
            if _is_message_name(entry.name) and entry.is_file(follow_symlinks=False)
        ]
    except FileNotFoundError:
        return [], 0
    # FileTransport names start with a UTC timestamp, so name order is time order; this avoids
    # a stat() per file on an outbox holding a whole test newsletter.
    entries.sort(key=lambda entry: entry.name, reverse=True)
    parser = BytesParser(policy=policy.default)
    items = []
    for entry in entries[max(offset, 0) : max(offset, 0) + max(limit, 0)]:
        with open(entry.path, "rb") as fh:
            msg = parser.parse(fh, headersonly=True)
        assert isinstance(msg, EmailMessage)
        items.append(
            OutboxItem(
                filename=entry.name,
                subject=_header(msg, "Subject"),
                to=_header(msg, "To"),
                sender=_header(msg, "From"),
                date=_date(msg),
                size=entry.stat(follow_symlinks=False).st_size,
            )
        )
    return items, len(entries)


def read_outbox_message(directory: str | os.PathLike[str], name: str) -> EmailMessage:
    """Parse one outbox message; any name that is not a plain .eml file in directory is missing."""
    # Everything that is not a bare file name of ours is refused with FileNotFoundError, so a
    # view turns it into the same 404 as a deleted message and a traversal attempt learns nothing.
    if (
        not isinstance(name, str)
        or not _is_message_name(name)
        or name != os.path.basename(name)
        or any(ch in name for ch in "/\\\0:")
    ):
        raise FileNotFoundError(f"no such outbox message: {name!r}")
    base = Path(directory).resolve()
    path = base / name
    # A symlink inside the outbox must not lead out of it either.
    if path.is_symlink() or path.resolve().parent != base or not path.is_file():
        raise FileNotFoundError(f"no such outbox message: {name!r}")
    with open(path, "rb") as fh:
        msg = BytesParser(policy=policy.default).parse(fh)
    assert isinstance(msg, EmailMessage)
    return msg
