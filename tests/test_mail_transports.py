"""Transports over a real SMTP server and the file outbox, plus the outbox reader."""

from __future__ import annotations

import os
import socket
import ssl
from typing import TYPE_CHECKING

import pytest

from crm.mail import (
    FileTransport,
    MailError,
    PermanentMailError,
    SMTPTransport,
    TemporaryMailError,
    build_message,
    list_outbox,
    read_outbox_message,
    transport_from_config,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    # Only for annotations: importing it at runtime before pytest_plugins would stop pytest
    # from rewriting its asserts (PytestAssertRewriteWarning, an error under filterwarnings).
    from tests.fixtures.smtp import SMTPTestServer

# Until tests/conftest.py collects tests/fixtures/*.py for everyone.
pytest_plugins = ["tests.fixtures.smtp"]


def message(n: int = 1, to: str = "anna@example.org", subject: str | None = None):
    return build_message(
        sender=("Netzwerk CRM", "crm@example.org"),
        to=to,
        subject=subject or f"Nachricht {n}",
        text=f"Text {n}",
        message_id_domain="crm.example.org",
    )


def smtp(server: SMTPTestServer, **kwargs) -> SMTPTransport:
    kwargs.setdefault("security", "none")
    # A fixed local name spares smtplib a reverse DNS lookup (getfqdn) per connection.
    kwargs.setdefault("local_hostname", "crm.test")
    kwargs.setdefault("timeout", 5)
    return SMTPTransport(server.host, server.port, **kwargs)


# --- SMTP ---------------------------------------------------------------------------------


def test_message_arrives_with_its_envelope_and_the_result_names_it(smtp_server: SMTPTestServer):
    msg = message(to="Jürgen Müller <juergen@example.org>")

    with smtp(smtp_server) as transport:
        result = transport.send(msg)

    [received] = smtp_server.messages
    assert received.mail_from == "crm@example.org"
    assert received.rcpt_tos == ["juergen@example.org"]
    assert received.message["Message-ID"] == msg["Message-ID"]
    assert result.message_id == msg["Message-ID"]
    assert result.code == 250
    assert result.refused == {}


def test_one_connection_is_reused_for_a_batch(smtp_server: SMTPTestServer):
    with smtp(smtp_server) as transport:
        for n in range(5):
            transport.send(message(n))

    assert len(smtp_server.messages) == 5
    assert smtp_server.connection_count == 1
    assert {m.connection for m in smtp_server.messages} == {1}


def test_send_without_open_connects_lazily_and_close_is_idempotent(smtp_server: SMTPTestServer):
    transport = smtp(smtp_server)
    transport.send(message(1))
    transport.send(message(2))
    transport.close()
    transport.close()

    assert len(smtp_server.messages) == 2
    assert smtp_server.connection_count == 1


def test_451_raises_temporary_error_and_550_permanent(smtp_server: SMTPTestServer):
    smtp_server.script(
        rcpt=["451 4.7.1 Greylisted, try again later", "550 5.1.1 Mailbox unavailable"]
    )

    with smtp(smtp_server) as transport:
        with pytest.raises(TemporaryMailError) as temporary:
            transport.send(message(1))
        with pytest.raises(PermanentMailError) as permanent:
            transport.send(message(2))
        transport.send(message(3))

    assert temporary.value.code == 451
    assert "Greylisted" in temporary.value.message
    assert permanent.value.code == 550
    assert "Mailbox unavailable" in permanent.value.message
    # The refusals left the connection usable: the third message went over the same one.
    assert [m.message["Subject"] for m in smtp_server.messages] == ["Nachricht 3"]
    assert smtp_server.connection_count == 1


@pytest.mark.parametrize(
    ("command", "reply", "error", "code"),
    [
        ("mail", "451 4.3.0 Sender check failed", TemporaryMailError, 451),
        ("mail", "553 5.7.1 Sender not allowed", PermanentMailError, 553),
        ("data", "452 4.3.1 Insufficient storage", TemporaryMailError, 452),
        ("data", "554 5.7.1 Message rejected as spam", PermanentMailError, 554),
    ],
)
def test_refusals_of_sender_or_content_map_to_temporary_or_permanent(
    smtp_server: SMTPTestServer, command, reply, error, code
):
    smtp_server.script(**{command: [reply]})

    with smtp(smtp_server) as transport, pytest.raises(error) as caught:
        transport.send(message())

    assert caught.value.code == code
    assert reply[4:] in caught.value.message
    assert smtp_server.messages == []


def test_a_partly_refused_message_reports_the_refused_recipient(smtp_server: SMTPTestServer):
    msg = message()
    msg["Cc"] = "bernd@example.org"
    smtp_server.script(rcpt=["250 OK", "550 5.1.1 No such user"])

    with smtp(smtp_server) as transport:
        result = transport.send(msg)

    assert result.refused == {"bernd@example.org": (550, "5.1.1 No such user")}
    assert smtp_server.messages[0].rcpt_tos == ["anna@example.org"]


def test_an_idle_connection_the_server_dropped_is_reopened_once(smtp_server: SMTPTestServer):
    with smtp(smtp_server) as transport:
        transport.send(message(1))
        smtp_server.drop_connections()
        transport.send(message(2))

    assert [m.message["Subject"] for m in smtp_server.messages] == ["Nachricht 1", "Nachricht 2"]
    assert [m.connection for m in smtp_server.messages] == [1, 2]


def test_a_drop_mid_transaction_is_a_temporary_error_and_the_next_send_reconnects(
    smtp_server: SMTPTestServer,
):
    # The sender defers the row; retrying inside the transport could not tell a drop before
    # DATA from one after the server took the message.
    smtp_server.script(rcpt=[smtp_server.DROP])

    with smtp(smtp_server) as transport:
        with pytest.raises(TemporaryMailError) as caught:
            transport.send(message(1))
        transport.send(message(2))

    assert caught.value.code is None
    assert [m.message["Subject"] for m in smtp_server.messages] == ["Nachricht 2"]
    assert smtp_server.connection_count == 2


def test_a_drop_during_data_is_not_retried_so_no_mail_goes_out_twice(
    smtp_server: SMTPTestServer,
):
    # The server may already have queued the message, so only the caller may decide to retry.
    smtp_server.script(data=[smtp_server.DROP])

    with smtp(smtp_server) as transport:
        with pytest.raises(TemporaryMailError, match="connection lost"):
            transport.send(message(1))
        transport.send(message(2))

    assert smtp_server.connection_count == 2
    assert [m.message["Subject"] for m in smtp_server.messages] == ["Nachricht 2"]


def test_421_closes_the_connection_and_the_next_send_reconnects(smtp_server: SMTPTestServer):
    smtp_server.script(mail=["421 4.3.2 Service shutting down"])

    with smtp(smtp_server) as transport:
        with pytest.raises(TemporaryMailError) as caught:
            transport.send(message(1))
        transport.send(message(2))

    assert caught.value.code == 421
    assert smtp_server.connection_count == 2
    assert len(smtp_server.messages) == 1


def test_an_unreachable_server_is_a_temporary_error_without_code():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused

        transport = SMTPTransport("127.0.0.1", port, security="none", local_hostname="crm.test")
        with pytest.raises(TemporaryMailError) as caught:
            transport.open()

    assert caught.value.code is None
    assert "cannot connect" in caught.value.message


def test_auth_login_with_the_right_password_sends(smtp_server_auth: SMTPTestServer):
    with smtp(
        smtp_server_auth, username=smtp_server_auth.username, password=smtp_server_auth.password
    ) as transport:
        transport.send(message())

    assert smtp_server_auth.messages[0].login == smtp_server_auth.username


def test_a_wrong_password_is_a_configuration_error_not_a_message_failure(
    smtp_server_auth: SMTPTestServer,
):
    transport = smtp(smtp_server_auth, username=smtp_server_auth.username, password="falsch")

    with pytest.raises(MailError, match="535") as caught:
        transport.send(message())

    # Neither kind: the outbox must not mark the message failed nor burn its retries.
    assert not isinstance(caught.value, TemporaryMailError | PermanentMailError)
    assert smtp_server_auth.messages == []


def test_without_login_the_server_answer_is_passed_on(smtp_server_auth: SMTPTestServer):
    with smtp(smtp_server_auth) as transport, pytest.raises(PermanentMailError) as caught:
        transport.send(message())

    assert caught.value.code == 530


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_starttls_and_ssl_deliver_with_login(
    smtp_server_factory: Callable[..., SMTPTestServer], security
):
    server = smtp_server_factory(auth=("mailer", "geheim"), tls=security)

    with smtp(
        server,
        security=security,
        username="mailer",
        password="geheim",
        ssl_context=server.client_ssl_context,
    ) as transport:
        transport.send(message(1))
        transport.send(message(2))

    assert [m.login for m in server.messages] == ["mailer", "mailer"]
    assert server.connection_count == 1


def test_an_untrusted_certificate_is_a_configuration_error(
    smtp_server_factory: Callable[..., SMTPTestServer],
):
    server = smtp_server_factory(tls="starttls")

    with pytest.raises(MailError) as caught:
        smtp(server, security="starttls", ssl_context=ssl.create_default_context()).open()

    assert not isinstance(caught.value, TemporaryMailError | PermanentMailError)
    assert "certificate" in str(caught.value).lower()


# --- file transport and outbox -----------------------------------------------------------


def test_file_transport_writes_one_eml_per_message(tmp_path: Path):
    outbox = tmp_path / "outbox"
    sent = [message(n) for n in range(3)]

    with FileTransport(outbox) as transport:
        results = [transport.send(msg) for msg in sent]

    files = sorted(os.listdir(outbox))
    assert len(files) == 3
    assert all(name.endswith(".eml") for name in files)
    assert [r.message_id for r in results] == [m["Message-ID"] for m in sent]
    # Names sort by send time, and no temporary file is left behind.
    assert [read_outbox_message(outbox, name)["Subject"] for name in files] == [
        "Nachricht 0",
        "Nachricht 1",
        "Nachricht 2",
    ]


def test_file_transport_keeps_the_bytes_intact(tmp_path: Path):
    msg = message(subject="Grüße aus Genthin")

    FileTransport(tmp_path).send(msg)

    [path] = tmp_path.iterdir()
    assert path.read_bytes() == msg.as_bytes()
    assert read_outbox_message(tmp_path, path.name)["Subject"] == "Grüße aus Genthin"


def test_outbox_lists_newest_first_with_parsed_headers_and_pages(tmp_path: Path):
    with FileTransport(tmp_path) as transport:
        for n in range(5):
            transport.send(message(n, to=f"Person {n} <p{n}@example.org>"))
    (tmp_path / ".half-written.tmp").write_bytes(b"Subject: no")
    (tmp_path / "notes.txt").write_text("not a message")

    items, total = list_outbox(tmp_path, limit=2, offset=1)

    assert total == 5
    assert [item.subject for item in items] == ["Nachricht 3", "Nachricht 2"]
    assert items[0].to == "Person 3 <p3@example.org>"
    assert items[0].sender == "Netzwerk CRM <crm@example.org>"
    assert items[0].date is not None
    assert items[0].date.tzinfo is not None
    assert items[0].size > 0


def test_a_missing_outbox_is_empty(tmp_path: Path):
    assert list_outbox(tmp_path / "nope") == ([], 0)


@pytest.mark.parametrize(
    "name",
    [
        "../secret.eml",
        "sub/../../secret.eml",
        "/etc/passwd",
        "..",
        "",
        ".hidden.eml",
        "notes.txt",
        "sub\\x.eml",
        "x.eml\x00.txt",
        "missing.eml",
        "link.eml",
    ],
)
def test_outbox_reader_refuses_path_traversal(tmp_path: Path, name):
    outbox = tmp_path / "outbox"
    FileTransport(outbox).send(message())
    (tmp_path / "secret.eml").write_bytes(message(subject="geheim").as_bytes())
    (outbox / ".hidden.eml").write_bytes(b"Subject: hidden\r\n\r\n")
    (outbox / "notes.txt").write_text("Subject: notes\n\n")
    (outbox / "link.eml").symlink_to(tmp_path / "secret.eml")

    with pytest.raises(FileNotFoundError):
        read_outbox_message(outbox, name)


# --- configuration ----------------------------------------------------------------------


def test_config_defaults_to_the_file_transport(tmp_path: Path):
    transport = transport_from_config({"CRM_MAIL_OUTBOX_DIR": str(tmp_path)})

    assert isinstance(transport, FileTransport)
    assert transport.directory == tmp_path


def test_config_builds_an_smtp_transport_from_strings():
    transport = transport_from_config(
        {
            "CRM_MAIL_TRANSPORT": "SMTP",
            "CRM_SMTP_HOST": "mail.example.org",
            "CRM_SMTP_SECURITY": "ssl",
            "CRM_SMTP_USERNAME": "crm",
            "CRM_SMTP_PASSWORD": "pw",
            "CRM_SMTP_TIMEOUT": "12.5",
            "CRM_SMTP_PORT": "",
        }
    )

    assert isinstance(transport, SMTPTransport)
    assert (transport.host, transport.port, transport.security) == ("mail.example.org", 465, "ssl")
    assert (transport.username, transport.password, transport.timeout) == ("crm", "pw", 12.5)


@pytest.mark.parametrize(
    ("config", "message_part"),
    [
        ({"CRM_MAIL_TRANSPORT": "pigeon"}, "unknown CRM_MAIL_TRANSPORT 'pigeon'"),
        ({"CRM_MAIL_TRANSPORT": "file"}, "CRM_MAIL_OUTBOX_DIR"),
        ({"CRM_MAIL_TRANSPORT": "smtp"}, "CRM_SMTP_HOST"),
        ({"CRM_MAIL_TRANSPORT": "smtp", "CRM_SMTP_HOST": "h", "CRM_SMTP_PORT": "x"}, "PORT"),
        (
            {"CRM_MAIL_TRANSPORT": "smtp", "CRM_SMTP_HOST": "h", "CRM_SMTP_SECURITY": "tls"},
            "CRM_SMTP_SECURITY",
        ),
    ],
)
def test_bad_mail_config_fails_with_a_clear_message(config, message_part):
    with pytest.raises(ValueError, match=message_part):
        transport_from_config(config)


# --- send_raw: stored bytes go out through smtplib.sendmail unchanged ---------------------------


def test_send_raw_sends_the_bytes_unchanged_with_dot_stuffing_undone_by_the_server(
    smtp_server: SMTPTestServer,
):
    from crm.mail import RawMessage

    data = (
        b"From: crm@example.org\r\nTo: anna@example.org\r\nSubject: Punkte\r\n"
        b"Message-ID: <p@crm.example.org>\r\n\r\n.\r\n..zwei\r\n.eins\r\n"
    )
    with smtp(smtp_server) as transport:
        result = transport.send_raw(
            RawMessage("crm@example.org", ("anna@example.org",), data, "<p@crm.example.org>")
        )

    [received] = smtp_server.messages
    assert received.raw.replace(b"\r\n", b"\n").endswith(b"\n.\n..zwei\n.eins\n")
    assert received.rcpt_tos == ["anna@example.org"]
    assert result.message_id == "<p@crm.example.org>"
    assert result.code == 250


def test_send_raw_stuffs_a_dot_on_the_very_first_line_too(smtp_server: SMTPTestServer):
    from crm.mail import RawMessage

    data = b".erste Zeile\r\nzweite\r\n"
    with smtp(smtp_server) as transport:
        transport.send_raw(RawMessage("crm@example.org", ("anna@example.org",), data, "<d@x>"))

    [received] = smtp_server.messages
    assert received.raw.replace(b"\r\n", b"\n").startswith(b".erste Zeile\nzweite\n")


def test_an_international_address_goes_out_with_smtputf8_where_the_server_offers_it(
    smtp_server_factory: Callable[..., SMTPTestServer],
):
    server = smtp_server_factory(smtputf8=True)

    with smtp(server) as transport:
        transport.send_raw(_international())

    [received] = server.messages
    assert received.rcpt_tos == ["jürgen@bücher.example"]


def test_an_international_address_without_smtputf8_fails_for_good_with_a_clear_reason(
    smtp_server: SMTPTestServer,
):
    with smtp(smtp_server) as transport:
        with pytest.raises(PermanentMailError, match="SMTPUTF8"):
            transport.send_raw(_international())
        transport.send(message(2))

    assert [m.message["Subject"] for m in smtp_server.messages] == ["Nachricht 2"]


def _international():
    from crm.mail import RawMessage

    data = "From: crm@example.org\r\nTo: jürgen@bücher.example\r\nSubject: Hallo\r\n\r\nText\r\n"
    return RawMessage("crm@example.org", ("jürgen@bücher.example",), data.encode(), "<u@x>")
