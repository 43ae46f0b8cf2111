"""Rendering newsletter templates in Jinja's immutable sandbox, with German error messages.

Authors are staff, but a template must still never reach the application: the environment
is a fresh ImmutableSandboxedEnvironment without Flask's globals (no config, request, url_for),
without Jinja's default globals (range, cycler, joiner, lipsum, namespace, dict), with a short
list of harmless filters, no attribute access at all and no loops, macros or includes. Every
template is checked before rendering, so forbidden expressions are reported with their line
before anything runs; runtime errors are reported with the line too. Output is produced as
a stream and cut off at a size limit.
"""

from __future__ import annotations

import functools
import traceback
from dataclasses import dataclass
from typing import Any, Protocol

import markupsafe
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Placeholders an author may use; the values are plain strings.
PLACEHOLDERS = (
    "anrede",
    "vorname",
    "nachname",
    "organisation",
    "abmelde_link",
    "webversion_link",
    "liste",
)
MAX_SUBJECT_CHARS = 300
DEFAULT_MAX_OUTPUT_CHARS = 512 * 1024
# Jinja names the frames of a template compiled from a string "<template>".
_TEMPLATE_NAME = "<template>"
_FILTERS = (
    "capitalize",
    "d",
    "default",
    "e",
    "escape",
    "first",
    "last",
    "length",
    "lower",
    "striptags",
    "title",
    "trim",
    "truncate",
    "upper",
)
# Node types that would let a template loop, define code or load other templates.
_FORBIDDEN_NODES: dict[type[nodes.Node], str] = {
    nodes.For: "Schleifen ({% for %}) sind in Newsletter-Vorlagen nicht erlaubt",
    nodes.Macro: "Makros sind in Newsletter-Vorlagen nicht erlaubt",
    nodes.CallBlock: "{% call %} ist in Newsletter-Vorlagen nicht erlaubt",
    nodes.Include: "{% include %} ist in Newsletter-Vorlagen nicht erlaubt",
    nodes.Import: "{% import %} ist in Newsletter-Vorlagen nicht erlaubt",
    nodes.FromImport: "{% from … import %} ist in Newsletter-Vorlagen nicht erlaubt",
    nodes.Extends: "{% extends %} ist in Newsletter-Vorlagen nicht erlaubt",
    nodes.Block: "{% block %} ist in Newsletter-Vorlagen nicht erlaubt",
    nodes.Getattr: "Zugriff auf Attribute (mit Punkt) ist nicht erlaubt",
    nodes.Call: "Funktionsaufrufe sind in Newsletter-Vorlagen nicht erlaubt",
}
PART_LABELS = {"subject": "Betreff", "html": "HTML-Text", "text": "Nur-Text"}


class TemplateProblem(ValueError):
    """A template cannot be rendered; `message` is German and names the part and line."""

    def __init__(self, part: str, message: str, line: int | None = None) -> None:
        self.part = part
        self.line = line
        self.detail = message
        where = PART_LABELS.get(part, part)
        self.message = f"{where}, Zeile {line}: {message}" if line else f"{where}: {message}"
        super().__init__(self.message)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox with arithmetic that cannot build huge numbers or strings."""

    intercepted_binops = frozenset({"*", "**", "//", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("Potenzieren (**) ist nicht erlaubt")
        if operator == "*":
            for value, other in ((left, right), (right, left)):
                if isinstance(value, str | list | tuple) and isinstance(other, int) and other > 100:
                    raise SecurityError("Vervielfachen ist höchstens 100-mal erlaubt")
            ints = isinstance(left, int) and isinstance(right, int)
            if ints and (abs(left) > 10**9 or abs(right) > 10**9):
                raise SecurityError("Zahlen dieser Größe sind nicht erlaubt")
        if operator == "%" and isinstance(left, str):
            # printf-style formatting can pad to any width ("%999999999d").
            raise SecurityError("Formatierung mit % ist nicht erlaubt")
        return super().call_binop(context, operator, left, right)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # Placeholders are plain strings; no template needs an attribute or a method.
        return False


def _environment(*, autoescape: bool) -> _Sandbox:
    env = _Sandbox(autoescape=autoescape, undefined=StrictUndefined, auto_reload=False)
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in _FILTERS}
    return env


_HTML_ENV = _environment(autoescape=True)
_TEXT_ENV = _environment(autoescape=False)


# Cached: a campaign renders the same three sources for every recipient, and parsing plus
# compiling them was a quarter of the sender's time per message. Failures are not cached.
@functools.lru_cache(maxsize=128)
def _check(part: str, env: _Sandbox, source: str) -> Any:
    """Parse and inspect a template; raise TemplateProblem for anything not allowed."""
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(part, _syntax_message(exc), exc.lineno) from None
    assigned: set[str] = set()
    for node in tree.find_all(nodes.Assign | nodes.AssignBlock | nodes.With):  # type: ignore[arg-type]
        targets = node.targets if isinstance(node, nodes.With) else [node.target]
        for target in targets:
            names = [target, *target.find_all(nodes.Name)]
            assigned.update(n.name for n in names if isinstance(n, nodes.Name))
    for node in tree.find_all(nodes.Node):  # type: ignore[arg-type]
        for kind, message in _FORBIDDEN_NODES.items():
            if isinstance(node, kind):
                raise TemplateProblem(part, message, node.lineno)
        if isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name == "self":
                raise TemplateProblem(part, "„self“ ist nicht erlaubt", node.lineno)
            if node.name not in PLACEHOLDERS and node.name not in assigned:
                raise TemplateProblem(
                    part,
                    f"Unbekannter Platzhalter „{node.name}“ (erlaubt: "
                    + ", ".join(PLACEHOLDERS)
                    + ")",
                    node.lineno,
                )
    try:
        return env.from_string(tree)
    except TemplateSyntaxError as exc:  # e.g. an unknown filter, found while compiling
        raise TemplateProblem(part, _syntax_message(exc), exc.lineno) from None


def _syntax_message(exc: TemplateSyntaxError) -> str:
    text = str(exc.message or "")
    if text.startswith("No filter named"):
        name = text.split("'")[1] if "'" in text else ""
        return f"Unbekannter Filter „{name}“ (erlaubt: {', '.join(_FILTERS)})"
    if "unexpected end of template" in text:
        return "Die Vorlage endet mitten in einem Ausdruck oder Block (fehlt ein Abschluss?)"
    if text.startswith("unexpected"):
        return f"Syntaxfehler: unerwartetes Zeichen ({text.split(' ', 1)[-1]})"
    if text.startswith("Encountered unknown tag"):
        name = text.split("'")[1] if "'" in text else ""
        return f"Unbekannter Befehl „{name}“"
    return f"Syntaxfehler ({text})"


def _runtime_message(exc: BaseException) -> str:
    if isinstance(exc, UndefinedError):
        return "Ein Platzhalter oder Wert ist nicht definiert"
    if isinstance(exc, SecurityError):
        text = str(exc)
        # Our own messages are German; Jinja's are replaced by a neutral one without details.
        if any(ch in text for ch in "äöüß") or text.endswith("erlaubt"):
            return text
        return "Dieser Ausdruck ist aus Sicherheitsgründen nicht erlaubt"
    if isinstance(exc, ZeroDivisionError):
        return "Division durch null"
    if isinstance(exc, TemplateError) and str(exc).startswith("No filter named"):
        return "Unbekannter Filter"
    return "Der Ausdruck kann nicht ausgewertet werden"


def _error_line(exc: BaseException) -> int | None:
    """The template line where a runtime error happened (Jinja rewrites the traceback)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == _TEMPLATE_NAME:
            line = frame.lineno
    return line


def _render_part(part: str, env: _Sandbox, source: str, context: dict[str, str], limit: int) -> str:
    template = _check(part, env, source)
    chunks: list[str] = []
    size = 0
    try:
        for chunk in template.generate(context):
            size += len(chunk)
            if size > limit:
                raise TemplateProblem(
                    part,
                    f"Das Ergebnis ist zu lang (höchstens {limit:,} Zeichen)".replace(",", "."),
                )
            chunks.append(chunk)
    except TemplateProblem:
        raise
    except Exception as exc:  # any error inside a template is the author's, never a 500
        raise TemplateProblem(part, _runtime_message(exc), _error_line(exc)) from None
    return "".join(chunks)


class TemplateSource(Protocol):
    """Anything with the three template parts (a NewsletterTemplate, a Campaign)."""

    subject: str
    body_html: str
    body_text: str


@dataclass(frozen=True)
class RenderedMessage:
    """A template rendered for one recipient."""

    subject: str
    html: str
    text: str


def validate_template(source: TemplateSource) -> list[TemplateProblem]:
    """Every problem of the three parts, checked with a sample recipient (empty if none)."""
    problems = []
    sample = sample_context()
    for part, env, text in (
        ("subject", _TEXT_ENV, source.subject),
        ("html", _HTML_ENV, source.body_html),
        ("text", _TEXT_ENV, source.body_text),
    ):
        try:
            _render_part(part, env, text or "", sample, DEFAULT_MAX_OUTPUT_CHARS)
        except TemplateProblem as problem:
            problems.append(problem)
    return problems


def render_for_recipient(
    template: TemplateSource,
    recipient_context: dict[str, str],
    *,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
) -> RenderedMessage:
    """Render subject, HTML (autoescaped) and text for one recipient; raise TemplateProblem."""
    context = {name: str(recipient_context.get(name, "")) for name in PLACEHOLDERS}
    subject = _render_part(
        "subject", _TEXT_ENV, template.subject or "", context, MAX_SUBJECT_CHARS * 4
    )
    # A subject is one line: newlines in the template or a value must not reach the header.
    subject = " ".join(subject.split())[:MAX_SUBJECT_CHARS]
    html = _render_part("html", _HTML_ENV, template.body_html or "", context, max_output_chars)
    text = _render_part("text", _TEXT_ENV, template.body_text or "", context, max_output_chars)
    return RenderedMessage(subject=subject, html=html, text=text)


def salutation_line(salutation: str, title: str, first_name: str, last_name: str) -> str:
    """The German letter salutation ("Sehr geehrte Frau Dr. Müller")."""
    name = " ".join(p for p in (title, last_name) if p)
    if salutation == "frau" and name:
        return f"Sehr geehrte Frau {name}"
    if salutation == "herr" and name:
        return f"Sehr geehrter Herr {name}"
    full = " ".join(p for p in (first_name, last_name) if p)
    return f"Guten Tag {full}" if full else "Guten Tag"


def sample_context() -> dict[str, str]:
    """Placeholder values for checking a template without a recipient."""
    return {
        "anrede": "Sehr geehrte Frau Dr. Beispiel",
        "vorname": "Erika",
        "nachname": "Beispiel",
        "organisation": "Muster GmbH",
        "abmelde_link": "https://example.org/newsletter/abmelden/beispiel",
        "webversion_link": "https://example.org/newsletter/web/beispiel",
        "liste": "Newsletter",
    }


def escape(value: str) -> str:
    """HTML-escape a value (for callers building HTML around rendered parts)."""
    return str(markupsafe.escape(value))
