"""Shared set-up for the newsletter tests: an app sending through a real aiosmtpd server."""

from __future__ import annotations

import itertools
import re
from typing import Any

from crm.contacts.service import add_affiliation, save_organisation, save_person
from crm.newsletters import service

_n = itertools.count(1)


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


def make_list(session: Any, **kwargs: Any) -> Any:
    n = next(_n)
    return service.create_list(
        session,
        name=kwargs.pop("name", f"Newsletter {n}"),
        slug=kwargs.pop("slug", f"liste-{n}"),
        consent_text=kwargs.pop("consent_text", "Ich möchte den Newsletter erhalten."),
        **kwargs,
    )


def make_person(session: Any, **data: Any) -> Any:
    n = next(_n)
    data.setdefault("last_name", f"Muster{n}")
    data.setdefault("first_name", "Erika")
    data.setdefault("email", f"person{n}@example.org")
    return save_person(session, data)


def make_org(session: Any, **data: Any) -> Any:
    n = next(_n)
    data.setdefault("name", f"Firma {n}")
    return save_organisation(session, data)


def affiliate(session: Any, person: Any, org: Any) -> None:
    add_affiliation(session, person, org)


def link_from(text: str, path: str) -> str:
    """The first https link with `path` in a mail body."""
    match = re.search(r"https://crm\.example\.org(" + re.escape(path) + r"[^\s<\"]+)", text)
    assert match, f"no {path} link in {text!r}"
    return match.group(1)
