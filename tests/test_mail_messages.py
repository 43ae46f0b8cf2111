"""Building messages: encoding, header-injection defence, RFC 8058 unsubscribe headers."""

from __future__ import annotations

from email import policy
from email.header import decode_header, make_header
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


# --- the bulk builder (newsletters) produces what build_message produces --------------------

BULK_CASES = [
    {},
    {"to": ("Jürgen Müller", "juergen@example.org"), "subject": "Grüße für Jürgen"},
    {"to": ('Weiß, "Bärbel" (Vorstand)', "b.weiss@example.org")},
    {"to": ("", "ohne.namen@example.org")},
    {"to": ("Małgorzata Nowak-Wiśniewska von und zu Groß-Schönebeck", "m@example.org")},
    {"to": ("Evil\r\nBcc: evil@attacker.example", "anna@example.org")},
    {"to": ("Bäckerei Müller", "info@müller-bau.de")},  # IDNA domain: the full parser
    {"to": ("Anna", '"anna schmidt"@example.org')},  # quoted local part: the full parser
    {"subject": "Hallo\r\nBcc: evil@attacker.example\r\n\r\nfake body"},
    {"subject": "Literally =?utf-8?q?not_encoded?= text"},
    {"subject": "🎉 Einladung zum Netzwerktreffen " * 6},
    {"subject": "x" * 1200},
    {"subject": ""},
    {"text": "Zeile mit Leerzeichen am Ende   \n.\n. Punkt am Anfang\nFrom here\n" + "ä" * 300},
    {"text": "ASCII only, but a long line: " + "word " * 300},
    {"text": "ohne Zeilenende", "html": "<p>Grüße</p>\r\n<p>Zweite\rZeile</p>"},
    {"html": "<p>Hallo <b>Anna</b>, " + "lange Zeile mit Umlauten äöü " * 40 + "</p>"},
    {"headers": {"List-Unsubscribe": "<https://crm.example.org/abmelden/" + "t" * 120 + ">"}},
    {"headers": {"X-Kampagne": "Grüße\r\nBcc: evil@attacker.example"}},
]


def _bulk_pair(case, reply_to="Rückfragen <team@example.org>"):
    from crm.mail import BulkMessageBuilder

    sender = ("Netzwerk Müller & Söhne", "crm@example.org")
    shared = {
        "List-Id": "Newsletter Haus der Wirtschaft <hdw.crm.example.org>",
        "Precedence": "bulk",
    }
    fields = {
        "to": ("Anna Schmidt", "anna@example.org"),
        "subject": "Ihre Wiedervorlage",
        "text": "Hallo Anna,\nbitte melden.",
        "html": None,
        "headers": {},
    }
    fields.update(case)
    slow = build_message(
        sender=sender,
        to=fields["to"],
        subject=fields["subject"],
        text=fields["text"],
        html=fields["html"],
        reply_to=reply_to,
        extra_headers={**shared, **fields["headers"]},
        message_id_domain=DOMAIN,
    )
    builder = BulkMessageBuilder(
        sender=sender, reply_to=reply_to, headers=shared, message_id_domain=DOMAIN
    )
    fast = builder.build(
        to=fields["to"],
        subject=fields["subject"],
        text=fields["text"],
        html=fields["html"],
        headers=fields["headers"],
    )
    return slow, fast


def _content(msg):
    """What a mail client shows: addresses, decoded headers, decoded bodies."""
    headers = {
        name: str(msg[name])
        for name in ("Subject", "List-Id", "Precedence", "List-Unsubscribe", "X-Kampagne")
        if msg[name] is not None
    }
    # Whitespace is left out of display names: Python's address parser keeps the folding
    # space between two adjacent encoded words ("Sch önebeck"), which RFC 2047 (6.2) and
    # mail clients drop; both builders split long names, at different places.
    addresses = {
        name: [("".join(a.display_name.split()), a.addr_spec) for a in msg[name].addresses]
        for name in ("From", "To", "Reply-To")
    }
    bodies = [
        (part.get_content_type(), part.get_content_charset(), part.get_content())
        for part in (msg.iter_parts() if msg.is_multipart() else [msg])
    ]
    return headers, addresses, bodies, msg.get_content_type(), msg["Bcc"], msg["MIME-Version"]


@pytest.mark.parametrize("case", BULK_CASES, ids=range(len(BULK_CASES)))
def test_bulk_builder_makes_the_same_message_as_build_message(case):
    slow, fast = _bulk_pair(case)

    parser = BytesParser(policy=policy.default)
    fast_content, slow_content = _content(parser.parsebytes(fast.data)), _content(reparse(slow))
    if "=?" in case.get("subject", ""):
        # Text that looks like an encoded word must arrive as typed. build_message (the email
        # package) writes it out raw, so clients decode it; the bulk builder encodes it.
        assert fast_content[0].pop("Subject") == case["subject"]
        slow_content[0].pop("Subject")
    assert fast_content == slow_content
    assert fast.data.isascii(), "7-bit safe for any relay"
    assert all(len(line) <= 998 for line in fast.data.split(b"\r\n"))
    assert b"\n" not in fast.data.replace(b"\r\n", b""), "CRLF line ends only"
    head = fast.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert not any(line.lower().startswith("bcc:") for line in head.split("\r\n"))
    parsed = parser.parsebytes(fast.data)
    assert parsed["Message-ID"] == fast.message_id
    assert parsedate_to_datetime(parsed["Date"]).tzinfo is not None
    assert fast.recipients == (parsed["To"].addresses[0].addr_spec,)
    assert fast.envelope_from == "crm@example.org"
    # Decoded as RFC 2047 prescribes, the recipient's name is exact, spaces included.
    raw_to = BytesParser(policy=policy.compat32).parsebytes(fast.data)["To"]
    name = sanitize_header(case.get("to", ("Anna Schmidt", ""))[0])
    if name and "@" in raw_to and "müller-bau" not in raw_to and '"anna' not in raw_to:
        assert str(make_header(decode_header(raw_to))).startswith(
            (f"{name} <", f'"{name}" <', f'"{name.replace(chr(34), chr(92) + chr(34))}" <')
        )


def test_bulk_builder_gives_every_message_its_own_message_id_and_boundary():
    from crm.mail import BulkMessageBuilder

    builder = BulkMessageBuilder(sender="crm@example.org", message_id_domain=DOMAIN)
    a, b = (
        builder.build(to=("A", "a@example.org"), subject="s", text="t", html="<p>h</p>")
        for _ in range(2)
    )
    assert a.message_id != b.message_id
    boundary = BytesParser(policy=policy.default).parsebytes(a.data).get_boundary()
    assert boundary
    assert boundary.encode() not in b.data


@pytest.mark.parametrize("name", ["Subject", "To", "Content-Type", "bad name", "X:Y"])
def test_bulk_builder_refuses_headers_it_sets_itself_or_bad_names(name):
    from crm.mail import BulkMessageBuilder

    builder = BulkMessageBuilder(sender="crm@example.org", message_id_domain=DOMAIN)
    with pytest.raises(ValueError, match="header"):
        builder.build(to=("A", "a@example.org"), subject="s", text="t", headers={name: "x"})


def test_a_bulk_recipient_that_is_not_one_address_is_refused():
    from crm.mail import BulkMessageBuilder

    builder = BulkMessageBuilder(sender="crm@example.org", message_id_domain=DOMAIN)
    with pytest.raises(ValueError, match="address"):
        builder.build(to=("A", "a@example.org, b@example.org"), subject="s", text="t")


def test_raw_message_from_a_message_keeps_bcc_in_the_envelope_only():
    from crm.mail import RawMessage

    msg = make()
    msg["Bcc"] = "archiv@example.org"
    raw = RawMessage.from_message(msg)

    assert raw.recipients == ("anna@example.org", "archiv@example.org")
    assert raw.envelope_from == "crm@example.org"
    assert b"archiv@example.org" not in raw.data
    assert msg["Bcc"] == "archiv@example.org", "the caller's message is left as it was"
    assert raw.message_id == msg["Message-ID"]


def test_a_parsed_message_with_the_legacy_policy_serialises_for_the_wire():
    from email import message_from_bytes

    from crm.mail.message import RawMessage

    # message_from_bytes defaults to compat32, a policy without a utf8 setting.
    parsed = message_from_bytes(
        b"From: a@crm.example.org\nTo: b@example.org\nSubject: Hi\n\nBody\n"
    )
    raw = RawMessage.from_message(parsed)
    assert raw.envelope_from == "a@crm.example.org"
    assert raw.recipients == ("b@example.org",)
    assert raw.data.endswith(b"\r\n\r\nBody\r\n")
