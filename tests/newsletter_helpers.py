"""Shared set-up for the newsletter tests: an app sending through a real aiosmtpd server.

The records themselves (lists, people, organisations) come from tests/factories.py.
"""

from __future__ import annotations

import re
from typing import Any


def use_smtp(app: Any, smtp_server: Any, monkeypatch: Any) -> None:
    """Route the app's mail to the test SMTP server, with an https base URL."""
    for key, value in {
        "CRM_MAIL_TRANSPORT": "smtp",
        "CRM_SMTP_HOST": smtp_server.host,
        "CRM_SMTP_PORT": smtp_server.port,
        "CRM_SMTP_SECURITY": "none",
        "CRM_SMTP_USERNAME": "",
        "CRM_BASE_URL": "https://crm.example.org",
        "CRM_NEWSLETTER_FROM": "Netzwerk Süd <newsletter@netzwerk.example.org>",
        "CRM_NEWSLETTER_UNSUBSCRIBE_MAILTO": "abmelden@netzwerk.example.org",
    }.items():
        monkeypatch.setitem(app.config, key, value)


def link_from(text: str, path: str) -> str:
    """The first https link with `path` in a mail body."""
    match = re.search(r"https://crm\.example\.org(" + re.escape(path) + r"[^\s<\"]+)", text)
    assert match, f"no {path} link in {text!r}"
    return match.group(1)
