"""Every kind of message the outbox writes, read back by an independent parser (issue 19).

Python's `email` package with `policy.default` is the reader; the checks are RFC 5322
(no defects, no header line over 998 characters, List-Unsubscribe folded at every point it
may be) and that each HTML part is a whole document (doctype, lang, charset, title, body).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from crm.events.digest import send_daily_digests
from crm.followups import service as followups
from crm.mail import FileTransport
from crm.mail.store import stores_for
from crm.newsletters import campaigns as campaign_service
from crm.newsletters.models import NewsletterTemplate
from crm.newsletters.sending import SenderSettings, send_outbox
from tests import factories
from tests.newsletter_helpers import make_list
from tests.newsletter_sending_helpers import make_campaign, make_person, subscribe

BERLIN = ZoneInfo("Europe/Berlin")
BASE_URL = "https://crm.example.org"
OWN_DOCUMENT = (
    "<!DOCTYPE html><html lang='de'><head><meta charset='utf-8'><title>Eigen</title></head>"
    "<body><p>{{ anrede }}</p></body></html>"
)
LIST_HEADER = re.compile(rb"^(?:List-Unsubscribe: )?\s*<[^<>\s]+>,?$")


@pytest.fixture
def outbox(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app writes its mail as .eml files into an empty directory of this test."""
    directory = tmp_path / "outbox"
    for key, value in {
        "CRM_MAIL_TRANSPORT": "file",
        "CRM_MAIL_OUTBOX_DIR": str(directory),
        "CRM_BASE_URL": BASE_URL,
        "CRM_NEWSLETTER_UNSUBSCRIBE_MAILTO": "abmelden@netzwerk.example.org",
    }.items():
        monkeypatch.setitem(app.config, key, value)
    return directory


def _campaign_delivery(app: Flask, session: Any, client_as: Any, outbox: Path) -> None:
    lst = make_list(session, name="Newsletter Haus der Wirtschaft für Fachkräfte Sachsen-Anhalt")
    for i, name in enumerate(("Jörg", "Małgorzata")):
        subscribe(session, lst, make_person(session, f"empfaenger{i}@example.org", first=name))
    campaign = make_campaign(session, lst)
    campaign_service.start_campaign(session, campaign)
    own = make_campaign(session, lst, name="Ganzes Dokument", body_html=OWN_DOCUMENT)
    campaign_service.start_campaign(session, own)
    session.commit()
    settings = SenderSettings(backoff_base=timedelta(0))
    report = send_outbox(session, FileTransport(outbox), stores_for(app.config), settings)
    assert report.sent == 4


def _test_send(app: Flask, session: Any, client_as: Any, outbox: Path) -> None:
    lst = make_list(session)
    person = make_person(session, "test@example.org", first="Ümit")
    tpl = NewsletterTemplate(
        name="Vorlage", subject="Hallo {{ vorname }}", body_html="<p>{{ anrede }}</p>"
    )
    session.add(tpl)
    session.commit()
    staff = client_as("staff")
    response = staff.post(
        f"/newsletter/vorlagen/{tpl.id}/testversand?person={person.id}&liste={lst.id}"
    )
    assert response.status_code == 302


def _double_opt_in(app: Flask, session: Any, client_as: Any, outbox: Path) -> None:
    make_list(session, slug="hdw-standards")
    session.commit()
    response = app.test_client().post(
        "/newsletter/anmelden/hdw-standards",
        data={"email": "neu@example.org", "first_name": "Jörg", "consent": "y"},
        csrf=False,
    )
    assert response.status_code == 200


def _reminder(app: Flask, session: Any, client_as: Any, outbox: Path) -> None:
    now = datetime.now(UTC)
    followups.create_followup(
        session,
        subject="Jobcenter zurückrufen wegen der Anerkennung des Berufsabschlusses",
        due_date=now.astimezone(BERLIN).date() - timedelta(days=1),
        due_time=time(9, 0),
        assignee=factories.make_user(session, display_name="Anna Grün"),
        note="Bitte vorher die Unterlagen prüfen.",
    )
    session.commit()
    assert followups.send_due_reminders(session, FileTransport(outbox), now, BASE_URL) == 1


def _digest(app: Flask, session: Any, client_as: Any, outbox: Path) -> None:
    day = date(2026, 11, 23)
    user = factories.make_user(session, display_name="Anna Digest")
    followups.create_followup(session, subject="Heute fällig", due_date=day, assignee=user)
    session.commit()
    now = datetime.combine(day, time(7, 30), tzinfo=BERLIN)
    assert send_daily_digests(session, FileTransport(outbox), now, BASE_URL) >= 1


PRODUCERS: dict[str, Callable[[Flask, Any, Any, Path], None]] = {
    "campaign delivery": _campaign_delivery,
    "test send": _test_send,
    "double opt-in": _double_opt_in,
    "follow-up reminder": _reminder,
    "daily digest": _digest,
}


def _header_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def _field_lines(raw: bytes, name: bytes) -> list[bytes]:
    """The physical lines of one header field: its first line and its continuation lines."""
    found: list[bytes] = []
    inside = False
    for line in _header_lines(raw):
        if line[:1] in (b" ", b"\t"):
            if inside:
                found.append(line)
            continue
        inside = line.lower().startswith(name.lower() + b":")
        if inside:
            found.append(line)
    return found


def _assert_whole_document(html: str) -> None:
    head = html.lstrip().lower()
    assert head.startswith("<!doctype html>"), html[:80]
    assert re.search(r"<html[^>]*\slang=[\"']?de", head), html[:200]
    assert re.search(r"<meta[^>]*charset=[\"']?utf-8", head), html[:300]
    title = re.search(r"<title>([^<]*)</title>", head)
    assert title, html[:300]
    assert title.group(1).strip()
    assert "<body" in head


def _assert_standard(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    for part in msg.walk():
        assert not part.defects, (part.get_content_type(), part.defects)
        for name, value in part.items():
            assert not getattr(value, "defects", ()), (name, value.defects)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    # Folded at every place RFC 5322 allows (between the URIs); a line longer than 78 holds a
    # single URI, which may not be split (RFC 2369: no whitespace inside the brackets).
    for line in _field_lines(raw, b"List-Unsubscribe"):
        assert len(line) <= 78 or LIST_HEADER.match(line), line
    html = msg.get_body(("html",))
    if html is not None:
        _assert_whole_document(html.get_content())
    return msg


@pytest.mark.parametrize("kind", PRODUCERS)
def test_every_message_the_outbox_writes_parses_without_defects_and_is_a_whole_document(
    kind: str, app: Flask, app_ctx: Any, client_as: Any, outbox: Path
) -> None:
    PRODUCERS[kind](app, app_ctx, client_as, outbox)
    files = sorted(outbox.glob("*.eml"))
    assert files
    for path in files:
        msg = _assert_standard(path.read_bytes())
        if kind == "campaign delivery":
            # The folding check above is not vacuous, and unfolding gives the URIs back whole.
            targets = re.findall(r"<([^<>]*)>", str(msg["List-Unsubscribe"]))
            assert [t.split(":", 1)[0] for t in targets] == ["https", "mailto"]
            assert not any(ch.isspace() for t in targets for ch in t)


def test_a_newsletter_that_is_a_whole_document_already_is_sent_unchanged(
    app: Flask, app_ctx: Any, client_as: Any, outbox: Path
) -> None:
    _campaign_delivery(app, app_ctx, client_as, outbox)
    bodies = [
        _assert_standard(path.read_bytes()).get_body(("html",)).get_content()
        for path in sorted(outbox.glob("*.eml"))
    ]
    assert sum(body.startswith(OWN_DOCUMENT[:60]) for body in bodies) == 2
    wrapped = [body for body in bodies if body.startswith("<!doctype html>")]
    assert len(wrapped) == 2
    assert all("<title>Neuigkeiten für " in body for body in wrapped)


def test_the_html_part_of_every_message_the_outbox_writes_is_valid_html(
    app: Flask, app_ctx: Any, client_as: Any, outbox: Path, capsys: pytest.CaptureFixture
) -> None:
    """The Nu Html Checker, once over the HTML parts of every kind of message."""
    from scripts import validate_html as vnu
    from tests.vnu_helpers import missing_validator

    missing = missing_validator()
    if missing:
        pytest.skip(missing)
    for produce in PRODUCERS.values():
        produce(app, app_ctx, client_as, outbox)
    parts: dict[str, str] = {}
    for path in sorted(outbox.glob("*.eml")):
        html = BytesParser(policy=policy.default).parsebytes(path.read_bytes()).get_body(("html",))
        if html is not None:
            parts[f"/outbox/{path.name}"] = html.get_content()
    assert len(parts) >= 3, sorted(outbox.glob("*.eml"))
    messages = vnu.validate(parts)
    with capsys.disabled():
        errors = vnu.report(parts, messages, lambda line: print(f"\n{line}", end=""))
        print()
    assert errors == 0, "\n".join(str(m) for m in messages if m.kind == "error")
