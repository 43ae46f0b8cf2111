"""Resource tests: template bombs are refused with a German message, fast and in little memory.

The payloads are built here, not stored: each one would allocate hundreds of MB or more, or
run for seconds, in a sandbox that bounds only single operations and the final output.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import markupsafe
import pytest

from crm.newsletters.models import NewsletterTemplate
from crm.newsletters.rendering import (
    TemplateProblem,
    render_for_recipient,
    sample_context,
    validate_template,
)

# What one refused template may cost: thread CPU time (robust against a busy test machine)
# and the peak of memory allocated while it is parsed, compiled and run.
MAX_SECONDS = 0.5
MAX_PEAK_BYTES = 8 * 1024 * 1024
# Words that mark our German messages (no English or Python text reaches the author).
GERMAN = ("nicht", "zu ", "höchstens", "Unbekannt", "Syntaxfehler", "erlaubt", "dürfen")
NOT_GERMAN = ("Error", "error", "exceeded", "recursion", "jinja", "<class", "Traceback")


def _chain(statement: str, times: int) -> str:
    return statement * times


def bomb_payloads() -> dict[str, str]:
    """Template sources that try to allocate gigabytes or run for seconds."""
    mb = "{% set a = 'x' * 100 * 100 * 50 %}"  # half a million characters, within the budget
    return {
        "nested multiplication": "{{ 'x' * 100 * 100 * 100 * 100 }}",
        "multiplication over set": "{% set a = 'x' * 100 %}{% set b = a * 100 %}"
        "{% set c = b * 100 %}{% set d = c * 100 %}{{ d|length }}",
        "~ doubling": "{% set a = 'x' * 100 %}"
        + _chain("{% set a = a ~ a %}", 30)
        + "{{ a|length }}",
        "+ doubling": "{% set a = 'x' * 100 %}"
        + _chain("{% set a = a + a %}", 30)
        + "{{ a|length }}",
        "~ of many names": mb + "{{ (" + " ~ ".join(["a"] * 300) + ")|length }}",
        "markup ~ escaping": "{% set m %}<b>{% endset %}{% set q = '\"' * 100 * 100 * 30 %}"
        "{{ (m ~ q)|length }}",
        "escaped output": "{{ '\"' * 100 * 100 * 30 }}",
        "set block of outputs": mb + "{% set b %}" + "{{ a }}" * 300 + "{% endset %}{{ b|length }}",
        "filter block": mb + "{% filter upper %}" + "{{ a }}" * 300 + "{% endfilter %}",
        "slices kept in variables": mb + "".join(f"{{% set b{i} = a[::-1] %}}" for i in range(300)),
        "upper grows ß": "{% set a = 'ß' * 100 * 100 * 40 %}{{ (a|upper|upper)|length }}",
        "title splits words": "{% set a = 'ab ' * 100 * 100 * 10 %}{{ a|title|length }}",
        "striptags splits tags": "{% set a = '<>a' * 100 * 100 * 10 %}{{ a|striptags|length }}",
        "truncate end": mb + "{{ 'x'|truncate(1, end=a ~ a ~ a) }}",
        "list multiplication": "{{ ([1] * 100 * 100 * 100 * 100)|length }}",
        "tuple doubling": "{% set t = (1, 2) %}"
        + _chain("{% set t = t + t %}", 40)
        + "{{ t|length }}",
        "list of big strings": mb + "{% set b = [a, a, a, a, a, a, a, a, a, a] %}{{ b }}",
        "nested tuples": "{% set a = 'x' * 100 * 100 %}{% set b = (a, a, a, a, a, a, a, a, a, a) %}"
        "{% set c = (b, b, b, b, b, b, b, b, b, b) %}{% set d = (c, c, c, c, c, c, c, c, c, c) %}"
        "{{ d|upper|length }}",
        "dict of big strings": mb + "{% set d = {'a': a, 'b': a, 'c': a} %}{{ d }}",
        "big integers": "{% set n = 999999999 %}{{ n * n * n * n }}",
        "power": "{{ 9 ** 9 ** 9 }}",
        "range": "{{ range(999999999)|length }}",
        "join of a big range": "{{ range(99999)|join('x' * 100) }}",
        "printf padding": "{{ '%999999999s' % vorname }}",
        "format method padding": "{{ '{:>999999999}'.format(vorname) }}",
        "format filter padding": "{{ '%999999999s'|format(vorname) }}",
        "center": "{{ vorname|center(999999999) }}",
        "indent": "{{ ('a\\n' * 100 * 100)|indent(999999) }}",
        "wordwrap": "{{ ('x ' * 100 * 100)|wordwrap(1, wrapstring='y' * 100) }}",
        "replace": "{{ ('x' * 100 * 100)|replace('x', 'y' * 100) }}",
        "batch": "{{ vorname|batch(999999999) }}",
        "dictsort of a comprehension-like dict": "{{ dict(a='x' * 100)|dictsort }}",
        "macro calling itself": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "recursive loop": "{% for x in [[1]] recursive %}{{ loop(x) }}{% endfor %}",
        "deep parentheses": "{{ " + "(" * 500 + "1" + ")" * 500 + " }}",
        "long + chain": "{{ " + " + ".join(["1"] * 2000) + " }}",
        "nested ifs": "{% if 1 %}" * 200 + "x" + "{% endif %}" * 200,
        "too many tags": "{{ vorname }}" * 2000,
        "unclosed tags": "{{" * 50_000,
    }


BOMBS = bomb_payloads()
# Escaping makes these grow only in the HTML part.
HTML_ONLY = {"markup ~ escaping", "escaped output"}
PART_BOMBS = [
    pytest.param(part, source, id=f"{part}-{name}")
    for part in ("html", "text")
    for name, source in BOMBS.items()
    if part == "html" or name not in HTML_ONLY
]
SLOW_COMPARISONS = "{% set a = 'x' * 100 * 100 * 40 %}{% set b = 'x' * 100 * 100 * 40 %}" + (
    "{{ a == b }}" * 300
)


@dataclass
class Tpl:
    subject: str = "Hallo {{ vorname }}"
    body_html: str = "<p>{{ anrede }}</p>"
    body_text: str = "{{ anrede }}"


def measure(action: Callable[[], Any]) -> tuple[float, int]:
    """Thread CPU seconds of one call, and the peak bytes it allocated (in a second call).

    The garbage collector is run before and paused during the timed call: late in a long test
    run, a full collection of the whole process's heap can land inside it and cost more than
    the template itself.
    """
    gc.collect()
    gc.disable()
    try:
        started = time.thread_time()
        action()
        seconds = time.thread_time() - started
    finally:
        gc.enable()
    tracemalloc.start()
    try:
        action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return seconds, peak


def _refused(source: str, part: str = "html") -> TemplateProblem:
    tpl = Tpl(body_html=source) if part == "html" else Tpl(body_text=source)
    try:
        render_for_recipient(tpl, sample_context())
    except TemplateProblem as problem:
        return problem
    raise AssertionError("the template was rendered")


@pytest.mark.parametrize(("part", "source"), PART_BOMBS)
def test_a_template_bomb_is_refused_in_german_within_time_and_memory_bounds(source, part):
    problem = _refused(source, part)
    assert any(word in problem.message for word in GERMAN), problem.message
    assert not any(word in problem.message for word in NOT_GERMAN), problem.message
    seconds, peak = measure(lambda: _refused(source, part))
    assert seconds < MAX_SECONDS, f"{seconds:.3f} s"
    assert peak < MAX_PEAK_BYTES, f"{peak / 1e6:.1f} MB"


def test_a_render_that_runs_past_its_time_is_stopped_with_a_german_message():
    # Within the character budget, but hundreds of comparisons of long strings.
    source = SLOW_COMPARISONS
    started = time.thread_time()
    with pytest.raises(TemplateProblem) as info:
        render_for_recipient(Tpl(body_text=source), sample_context(), max_render_seconds=0.001)
    assert info.value.message == (
        "Nur-Text, Zeile 1: Die Vorlage braucht zu viel Rechenzeit (höchstens 0,001 Sekunden)"
    )
    assert time.thread_time() - started < MAX_SECONDS
    # The same template is fine with the default time.
    assert render_for_recipient(Tpl(body_text=source), sample_context()).text == "True" * 300


def test_the_character_budget_counts_every_part_of_the_work():
    eighty_k = "{% set a = 'x' * 100 * 100 * 8 %}"
    ok = eighty_k + "{{ a }}" * 5  # 400,000 characters of output
    assert len(render_for_recipient(Tpl(body_text=ok), sample_context()).text) == 400_000
    with pytest.raises(TemplateProblem) as info:
        render_for_recipient(Tpl(body_text=ok), sample_context(), max_work_chars=300_000)
    assert info.value.message == (
        "Nur-Text, Zeile 1: Die Vorlage baut zu große Texte auf (insgesamt höchstens "
        "300.000 Zeichen)"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ vorname ~ ' ' ~ nachname }}", "Erika Beispiel"),
        ("{{ (vorname ~ nachname)[:6] }}|{{ vorname[1:3] }}", "ErikaB|ri"),
        ("{{ '-' * 20 }}", "-" * 20),
        ("{% set x = vorname|upper %}{{ x ~ '!' }}", "ERIKA!"),
        ("{% if liste in ('Newsletter', 'Info') %}ja{% endif %}", "ja"),
        ("{% set a, b = 'x', 'y' %}{{ a ~ b }}", "xy"),
        ("{{ {'a': 'Eins'}['a'] }} {{ [1, 2][1] + 3 }} {{ 7 // 2 }} {{ 1.5 * 2 }}", "Eins 5 3 3.0"),
        ("{% set t %}{{ anrede }},{% endset %}{{ t|trim|truncate(14) }}", "Sehr..."),
        ("{{ organisation|title }}", "Muster Gmbh"),
    ],
)
def test_ordinary_templates_still_render_with_operators_slices_and_filters(source, expected):
    assert render_for_recipient(Tpl(body_text=source), sample_context()).text == expected


def test_a_list_of_placeholders_is_refused_when_the_template_is_checked():
    problems = validate_template(Tpl(body_text="x\n{% set l = [vorname, nachname] %}"))
    assert [p.message for p in problems] == [
        "Nur-Text, Zeile 2: Listen dürfen nur feste Werte enthalten (keine Platzhalter)"
    ]


def test_too_much_code_is_refused_before_parsing_with_its_line():
    problem = _refused("Hallo\n" + "{{ vorname }}\n" * 600, "text")
    assert problem.line == 502  # the 501st tag
    assert "zu viele Platzhalter und Befehle (höchstens 500" in problem.message


def test_a_deeply_nested_template_is_refused_as_too_deeply_nested():
    problem = _refused("{{ " + "(" * 500 + "1" + ")" * 500 + " }}")
    assert problem.message.endswith("Die Vorlage ist zu tief verschachtelt")
    problem = _refused("{{ " + " + ".join(["1"] * 200) + " }}")
    assert problem.message == "HTML-Text, Zeile 1: Die Vorlage ist zu tief verschachtelt"


@pytest.fixture
def stored_template(db_session: Any) -> Callable[[str], NewsletterTemplate]:
    """Store a template as it is, without the form's check (older rows, imports, campaigns)."""

    def store(body_html: str) -> NewsletterTemplate:
        tpl = NewsletterTemplate(name="Bombe", subject="Hallo", body_html=body_html, body_text="x")
        db_session.add(tpl)
        db_session.commit()
        return tpl

    return store


@pytest.mark.parametrize("source", BOMBS.values(), ids=BOMBS.keys())
def test_a_read_only_user_previewing_a_stored_bomb_gets_the_german_message_quickly(
    client_as, stored_template, source
):
    tpl = stored_template(source)
    expected = _refused(source).message
    c = client_as("readonly")
    url = f"/newsletter/vorlagen/{tpl.id}/vorschau"
    page = c.get(url)
    assert page.status_code == 200
    assert str(markupsafe.escape(expected)).encode() in page.data
    frame = c.get(url + ".html")
    assert frame.status_code == 200
    # The frame is a whole document with an empty body: nothing of the template ran.
    assert frame.data.startswith(b"<!doctype html>")
    assert b"<body>\n\n</body>" in frame.data
    seconds, peak = measure(lambda: c.get(url))
    assert seconds < MAX_SECONDS, f"{seconds:.3f} s"
    assert peak < MAX_PEAK_BYTES, f"{peak / 1e6:.1f} MB"


def test_saving_a_bomb_shows_the_german_message_on_the_form_and_stores_nothing(
    client_as, db_session
):
    c = client_as("staff")
    data = {
        "name": "Bombe",
        "subject": "Hallo",
        "body_html": BOMBS["~ doubling"],
        "body_text": BOMBS["multiplication over set"],
    }
    # CPU time of the request (the test client runs it in this thread), not wall time.
    seconds, _peak = measure(lambda: c.post("/newsletter/vorlagen/neu", data=data))
    assert seconds < 2 * MAX_SECONDS, f"{seconds:.3f} s"
    r = c.post("/newsletter/vorlagen/neu", data=data)
    assert r.status_code == 200
    assert "Die Vorlage baut zu große Texte auf".encode() in r.data
    assert db_session.query(NewsletterTemplate).filter_by(name="Bombe").count() == 0
