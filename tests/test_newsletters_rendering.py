"""The template sandbox: placeholders, autoescaping, forbidden expressions, size limit."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crm.newsletters.rendering import (
    TemplateProblem,
    render_for_recipient,
    sample_context,
    validate_template,
)


@dataclass
class Tpl:
    subject: str = "Hallo {{ vorname }}"
    body_html: str = "<p>{{ anrede }}</p>"
    body_text: str = "{{ anrede }}"


def test_placeholders_are_filled_and_html_is_autoescaped_but_text_is_not():
    ctx = {**sample_context(), "vorname": "<b>Jörg</b>", "organisation": "Müller & Söhne"}
    out = render_for_recipient(
        Tpl(body_html="<p>{{ vorname }} – {{ organisation }}</p>", body_text="{{ organisation }}"),
        ctx,
    )
    assert out.subject == "Hallo <b>Jörg</b>"
    assert "<body>\n<p>&lt;b&gt;Jörg&lt;/b&gt; – Müller &amp; Söhne</p>\n</body>" in out.html
    assert out.text == "Müller & Söhne"


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        ("Hallo\n{{ ''.__class__ }}", 2, "Attribute"),
        ("{{ config }}", 1, "config"),
        ("a\nb\n{{ self }}", 3, "self"),
        ("{{ cycler.__init__.__globals__ }}", 1, "Attribute"),
        ("{{ request }}", 1, "request"),
        ("{{ lipsum() }}", 1, "Funktionsaufrufe"),
        ("{{ vorname.__class__.__mro__ }}", 1, "Attribute"),
        ("\n{{ vorname['__class__'] }}", 2, "Sicherheitsgründen"),
        ("{% for x in [1] %}{% endfor %}", 1, "Schleifen"),
        ("{% include 'base.html' %}", 1, "include"),
        ("x\n{{ 10 ** 100 }}", 2, "Potenzieren"),
        ("{{ vorname|attr('__class__') }}", 1, "Filter"),
    ],
)
def test_forbidden_expressions_are_refused_with_a_german_message_and_the_line(source, line, words):
    with pytest.raises(TemplateProblem) as info:
        render_for_recipient(Tpl(body_html=source), sample_context())
    problem = info.value
    assert problem.part == "html"
    assert problem.line == line
    assert words in problem.message
    assert f"Zeile {line}" in problem.message
    # Never a leak of Python internals.
    for leak in ("<class", "function", "Traceback", "jinja2", "SECRET"):
        assert leak not in problem.message


def test_syntax_errors_name_the_line_in_german():
    with pytest.raises(TemplateProblem) as info:
        render_for_recipient(Tpl(body_text="eins\nzwei {{ vorname \ndrei"), sample_context())
    assert info.value.part == "text"
    assert info.value.line in (2, 3)
    assert "Nur-Text, Zeile" in info.value.message


def test_runtime_errors_are_reported_not_raised():
    with pytest.raises(TemplateProblem) as info:
        render_for_recipient(Tpl(subject="a {{ 1 / 0 }}"), sample_context())
    assert info.value.message == "Betreff, Zeile 1: Division durch null"


def test_output_size_is_limited():
    big = Tpl(body_html="{{ vorname }}" * 200)
    with pytest.raises(TemplateProblem) as info:
        render_for_recipient(
            big, {**sample_context(), "vorname": "x" * 100}, max_output_chars=10_000
        )
    assert "zu lang" in info.value.message
    with pytest.raises(TemplateProblem):
        render_for_recipient(Tpl(body_html="{{ 'x' * 1000000 }}"), sample_context())


def test_the_sandbox_has_none_of_flasks_globals(app):
    with app.test_request_context():
        for name in ("config", "request", "session", "g", "url_for", "get_flashed_messages"):
            with pytest.raises(TemplateProblem):
                render_for_recipient(Tpl(body_html=f"{{{{ {name} }}}}"), sample_context())


def test_validate_template_reports_every_part():
    problems = validate_template(Tpl(subject="{{ x", body_html="{{ self }}", body_text="ok"))
    assert [p.part for p in problems] == ["subject", "html"]


def test_a_subject_is_one_line():
    out = render_for_recipient(
        Tpl(subject="A\r\nBcc: x@example.org {{ vorname }}"), sample_context()
    )
    assert "\n" not in out.subject
    assert "\r" not in out.subject
