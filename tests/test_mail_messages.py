"""Building messages: encoding, header-injection defence, RFC 8058 unsubscribe headers."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import pytest

from crm.mail import (
    SMTPTransport,
    build_message,
    list_unsubscribe_headers,
    sanitize_header,
)

if TYPE_CHECKING:
    # Only for annotations: importing it at runtime before pytest_plugins would stop pytest
    # from rewriting its asserts (PytestAssertRewriteWarning, an error under filterwarnings).
    from tests.fixtures.smtp import SMTPTestServer

# Until tests/conftest.py collects tests/fixtures/*.py for everyone.
pytest_plugins = ["tests.fixtures.smtp"]

DOMAIN = "crm.example.org"


def make(**overrides):
    fields = {
        "sender": ("Netzwerk CRM", "crm@example.org"),
        "to": ("Anna Schmidt", "anna@example.org"),
        "subject": "Ihre Wiedervorlage",
        "text": "Hallo Anna,\nbitte melden.",
        "message_id_domain": DOMAIN,
    }
    fields.update(overrides)
    return build_message(**fields)


def reparse(msg):
    return BytesParser(policy=policy.default).parsebytes(msg.as_bytes())


def header_lines(msg) -> list[str]:
    head = msg.as_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii")
    return head.split("\r\n")


def test_plain_message_is_a_single_text_part_with_date_and_message_id():
    msg = reparse(make())

    assert msg.get_content_type() == "text/plain"
    assert msg.get_content().splitlines() == ["Hallo Anna,", "bitte melden."]
    assert msg["Message-ID"].startswith("<")
    assert msg["Message-ID"].endswith(f"@{DOMAIN}>")
    assert parsedate_to_datetime(msg["Date"]).tzinfo is not None


def test_html_message_is_multipart_alternative_with_text_first():
    msg = reparse(make(html="<p>Hallo <b>Anna</b></p>"))

    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert msg.get_body(preferencelist=("html",)).get_content().strip() == (
        "<p>Hallo <b>Anna</b></p>"
    )


def test_umlauts_in_subject_and_names_are_encoded_as_7bit_and_decode_intact():
    msg = make(
        sender=("Geschäftsstelle Schönebeck", "crm@example.org"),
        to="Jürgen Müller <juergen@example.org>",
        subject="Grüße zur Messe – Übersicht",
        text="Schöne Grüße aus Aschersleben",
        html="<p>Schöne Grüße</p>",
    )

    raw = msg.as_bytes()
    assert raw.isascii(), "headers and bodies must be 7-bit safe for any relay"
    parsed = reparse(msg)
    assert parsed["Subject"] == "Grüße zur Messe – Übersicht"
    assert parsed["From"].addresses[0].display_name == "Geschäftsstelle Schönebeck"
    assert parsed["To"].addresses[0].display_name == "Jürgen Müller"
    assert parsed.get_body(preferencelist=("plain",)).get_content().strip() == (
        "Schöne Grüße aus Aschersleben"
    )


def test_subject_with_umlauts_arrives_intact(smtp_server: SMTPTestServer):
    msg = make(subject="Erinnerung: Beratung mit Frau Çelik in Burg – Überfällig")

    with SMTPTransport(smtp_server.host, smtp_server.port, security="none") as transport:
        transport.send(msg)

    [received] = smtp_server.messages
    assert received.message["Subject"] == "Erinnerung: Beratung mit Frau Çelik in Burg – Überfällig"
    assert received.rcpt_tos == ["anna@example.org"]


def test_crlf_in_subject_cannot_inject_a_bcc_header(smtp_server: SMTPTestServer):
    msg = make(subject="Hallo\r\nBcc: evil@attacker.example\r\n\r\nfake body")

    assert not any(line.lower().startswith("bcc:") for line in header_lines(msg))
    with SMTPTransport(smtp_server.host, smtp_server.port, security="none") as transport:
        transport.send(msg)

    [received] = smtp_server.messages
    assert received.rcpt_tos == ["anna@example.org"]
    assert received.message["Bcc"] is None
    assert received.message["Subject"] == "Hallo Bcc: evil@attacker.example fake body"


def test_crlf_in_a_display_name_stays_inside_the_name():
    msg = make(sender=("Evil\r\nBcc: evil@attacker.example", "crm@example.org"))

    assert not any(line.lower().startswith("bcc:") for line in header_lines(msg))
    assert reparse(msg)["From"].addresses[0].display_name == "Evil Bcc: evil@attacker.example"


@pytest.mark.parametrize(
    "to",
    [
        "anna@example.org\r\nBcc: evil@attacker.example",
        "anna@example.org, evil@attacker.example",
        "anna@example.org>\r\nBcc: evil@attacker.example",
        "not an address",
        ("Anna", "anna@example.org\r\nBcc: evil@attacker.example"),
    ],
)
def test_a_recipient_that_is_not_exactly_one_address_is_refused(to):
    with pytest.raises(ValueError, match="address"):
        make(to=to)


def test_an_umlaut_domain_is_sent_as_punycode(smtp_server: SMTPTestServer):
    msg = make(to=("Bäckerei Müller", "info@müller-bau.de"))

    with SMTPTransport(smtp_server.host, smtp_server.port, security="none") as transport:
        transport.send(msg)

    assert smtp_server.messages[0].rcpt_tos == ["info@xn--mller-bau-q9a.de"]


def test_reply_to_is_set_and_sanitised():
    msg = reparse(make(reply_to="Beratung\r\n <beratung@example.org>"))

    assert msg["Reply-To"].addresses[0].addr_spec == "beratung@example.org"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Hallo\r\nBcc: x@y", "Hallo Bcc: x@y"),
        ("  viel\t\tzu   viel  Platz ", "viel zu viel Platz"),
        ("nul\x00bell\x07", "nul bell"),
        ("line\u2028separator\x85next", "line separator next"),
        ("bidi\u202eeverride and zero\u200bwidth", "bidieverride and zerowidth"),
        ("Grüße, Çelik", "Grüße, Çelik"),
    ],
)
def test_sanitize_header_removes_control_characters_and_collapses_whitespace(raw, clean):
    assert sanitize_header(raw) == clean


def test_extra_headers_are_added_sanitised():
    msg = reparse(make(extra_headers={"X-CRM-Campaign": "42\r\nBcc: evil@attacker.example"}))

    assert msg["X-CRM-Campaign"] == "42 Bcc: evil@attacker.example"
    assert msg["Bcc"] is None


@pytest.mark.parametrize("name", ["Subject", "bcc", "Message-ID", "X-Bad:Name", "X Space", ""])
def test_extra_headers_cannot_override_core_headers_or_use_bad_names(name):
    with pytest.raises(ValueError, match="header"):
        make(extra_headers={name: "value"})


def test_list_unsubscribe_headers_follow_rfc_8058():
    headers = list_unsubscribe_headers(
        "https://crm.example.org/newsletter/abmelden/abc123", "abmelden@example.org"
    )

    assert headers == {
        "List-Unsubscribe": (
            "<https://crm.example.org/newsletter/abmelden/abc123>, <mailto:abmelden@example.org>"
        ),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert list_unsubscribe_headers("https://x.example/u", None) == {
        "List-Unsubscribe": "<https://x.example/u>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


@pytest.mark.parametrize(
    "url", ["http://crm.example.org/u", "javascript:alert(1)", "https://x.example/a b"]
)
def test_list_unsubscribe_refuses_anything_but_a_single_https_url(url):
    with pytest.raises(ValueError, match="https|URI"):
        list_unsubscribe_headers(url, None)


def test_a_long_unsubscribe_url_survives_unencoded(smtp_server: SMTPTestServer):
    url = "https://crm.example.org/newsletter/abmelden?token=" + "t0k3n" * 40
    headers = list_unsubscribe_headers(url, "mailto:abmelden@example.org?subject=abmelden")
    msg = make(extra_headers=headers)

    raw_head = b"\r\n".join(line.encode() for line in header_lines(msg))
    assert b"=?" not in raw_head.split(b"List-Unsubscribe:", 1)[1].split(b"\r\nList-", 1)[0]
    with SMTPTransport(smtp_server.host, smtp_server.port, security="none") as transport:
        transport.send(msg)

    received = smtp_server.messages[0].message
    assert received["List-Unsubscribe"] == (
        f"<{url}>, <mailto:abmelden@example.org?subject=abmelden>"
    )
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_every_message_gets_a_fresh_message_id():
    assert make()["Message-ID"] != make()["Message-ID"]
