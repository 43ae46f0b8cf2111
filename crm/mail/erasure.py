"""The mail domain's part of an erasure: file-outbox messages addressed to the person."""

from __future__ import annotations

import os
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from sqlalchemy.orm import Session


def _recipients(path: str) -> set[str]:
    try:
        with open(path, "rb") as fh:
            msg = BytesParser(policy=policy.compat32).parse(fh, headersonly=True)
    except OSError:
        return set()
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in msg.get_all(name, [])]
    return {addr.strip().lower() for _name, addr in getaddresses(fields) if addr}


def plan_erasure(session: Session, *, plan: Any) -> None:
    """Every .eml in the outbox directory with one of her addresses as a recipient."""
    directory = plan.directories.get("outbox")
    emails = {e.lower() for e in plan.subject.emails}
    if directory is None or not emails:
        return
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    for entry in entries:
        is_message = entry.name.endswith(".eml") and entry.is_file(follow_symlinks=False)
        if is_message and _recipients(entry.path) & emails:
            plan.remove_file(directory / entry.name, "mail")
