"""Rendering newsletter templates in Jinja's immutable sandbox, with German error messages.

Authors are staff, but a template must still never reach the application: the environment
is a fresh ImmutableSandboxedEnvironment without Flask's globals (no config, request, url_for),
without Jinja's default globals (range, cycler, joiner, lipsum, namespace, dict), with a short
list of harmless filters, no attribute access at all and no loops, macros or includes. Every
template is checked before rendering, so forbidden expressions are reported with their line
before anything runs; runtime errors are reported with the line too. Output is produced as
a stream and cut off at a size limit.

Without loops, a template runs each expression once, so its cost is bounded by three limits:
the source may hold only so much code (tags and characters inside tags); every string the
sandbox builds (operators, `~`, slices, filters, output) is charged to a per-part budget
*before* it is built; and every one of those hooks, and every comparison, checks a deadline
of CPU time.
Lists, tuples and dicts may hold only constants and cannot grow, so they stay as small as
the source.
"""

from __future__ import annotations

import functools
import re
import time
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import markupsafe
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.nodes import EvalContext
from jinja2.runtime import markup_join
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
# Characters a part may build in total (intermediate strings and output), counted before
# each string is built; a str takes 1-4 bytes per character, so this is a few MB at most.
DEFAULT_MAX_WORK_CHARS = 2 * DEFAULT_MAX_OUTPUT_CHARS
# CPU seconds the three parts of a message may take to run once compiled.
DEFAULT_MAX_RENDER_SECONDS = 0.2
_CLOCK_EVERY = 32
# Parsing and compiling are not interruptible, so the code in a template is limited instead;
# a newsletter has a few dozen placeholders, and a long text outside tags costs little.
MAX_TAGS = 500
MAX_CODE_CHARS = 10_000
# Compiling takes much longer per level of nesting the deeper an expression is nested
# (a + b + ... nests one level per operator); real templates stay below ten.
MAX_NESTING = 40
# Jinja names the frames of a template compiled from a string "<template>".
_TEMPLATE_NAME = "<template>"
# The allowed filters, each with the characters of work it may do per character of its
# string arguments, charged before it runs: upper("ß") is "SS", escape("<") is "&lt;",
# title and striptags split into many small strings; 0 means it builds nothing new. A filter
# whose output does not grow with its input (center, indent, wordwrap, format, replace,
# batch, ...) cannot be bounded this way and must not be added.
_FILTERS: dict[str, int] = {
    "capitalize": 3,
    "d": 0,
    "default": 0,
    "e": 5,
    "escape": 5,
    "first": 0,
    "last": 0,
    "length": 0,
    "lower": 2,
    "striptags": 25,
    "title": 25,
    "trim": 1,
    "truncate": 1,
    "upper": 3,
}
# Escaping a character for HTML makes at most five ("&#34;").
_ESCAPE_GROWTH = 5
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


class _LimitExceeded(SecurityError):
    """A template went over its budget of characters or time; the message is German."""


def _german_number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


class _Limits:
    """The characters a part may still build and the CPU time its message has left.

    CPU time of the rendering thread, not wall-clock time: a busy machine that pauses the
    thread must not fail a harmless template. Reading that clock is a system call, so it
    is read only every `_CLOCK_EVERY` checkpoints; between two readings a template can do
    at most that many operations, each bounded by the character budget.
    """

    def __init__(self, work_chars: int, seconds: float) -> None:
        self.work_chars = work_chars
        self.remaining = work_chars
        self.seconds = seconds
        self.deadline = time.thread_time() + seconds
        self.ticks = 0

    def new_part(self) -> None:
        """Give the next part the whole character budget (the time goes on)."""
        self.remaining = self.work_chars

    def checkpoint(self) -> None:
        """Stop a render that is past its deadline."""
        self.ticks += 1
        if self.ticks % _CLOCK_EVERY == 0 and time.thread_time() > self.deadline:
            seconds = f"{self.seconds:g}".replace(".", ",")
            raise _LimitExceeded(
                f"Die Vorlage braucht zu viel Rechenzeit (höchstens {seconds} Sekunden)"
            )

    def charge(self, chars: int) -> None:
        """Book `chars` characters before they are built; refuse what exceeds the budget."""
        if chars > self.remaining:
            raise _LimitExceeded(
                "Die Vorlage baut zu große Texte auf (insgesamt höchstens "
                f"{_german_number(self.work_chars)} Zeichen)"
            )
        self.checkpoint()
        self.remaining -= chars


# The limits of the render running in this thread (or task); None while compiling.
_LIMITS: ContextVar[_Limits | None] = ContextVar("newsletter_template_limits", default=None)


def _checkpoint() -> _Limits | None:
    limits = _LIMITS.get()
    if limits is not None:
        limits.checkpoint()
    return limits


def _charge(chars: int) -> None:
    limits = _LIMITS.get()
    if limits is not None:
        limits.charge(chars)


def _text_len(value: Any) -> int:
    """The characters a filter works on for one argument (only text and constant lists)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple | dict):
        return len(str(value))
    return 0


def _bounded_filter(func: Callable[..., Any], growth: int) -> Callable[..., Any]:
    """Wrap a filter so it is charged `growth` characters per argument character first."""

    @functools.wraps(func)  # keeps jinja_pass_arg, so Jinja passes the same arguments
    def bounded(*args: Any, **kwargs: Any) -> Any:
        limits = _LIMITS.get()
        if limits is not None:
            if growth:
                chars = sum(map(_text_len, args)) + sum(map(_text_len, kwargs.values()))
                limits.charge(growth * chars)
            else:
                limits.checkpoint()
        return func(*args, **kwargs)

    return bounded


def _timed_test(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a test (`is ...`) so it checks the deadline; tests build nothing."""

    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        _checkpoint()
        return func(*args, **kwargs)

    return timed


@pass_eval_context
def _bounded_output(eval_ctx: EvalContext, value: Any) -> Any:
    """Charge every `{{ ... }}` value, escaped where it will be, also inside `{% set %}` blocks."""
    limits = _LIMITS.get()
    if limits is None:
        return value
    # Jinja escapes (or converts) the value right after this; here it is only charged.
    text = value if isinstance(value, str) else str(value)
    escaped = eval_ctx.autoescape and not hasattr(text, "__html__")
    limits.charge(_ESCAPE_GROWTH * len(text) if escaped else len(text))
    return text


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `~`, slices and comparisons into calls of the sandbox's budget hooks.

    Jinja runs these inline, without asking the environment, so neither the character
    budget nor the deadline would see them.
    """

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # The same choice of join function as Jinja's own code generator.
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.bounded_concat({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.bounded_slice(")
        self.visit(node.node, frame)
        for part in (node.arg.start, node.arg.stop, node.arg.step):
            self.write(", ")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write(")")

    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        self.write("(environment.checkpoint() or ")
        super().visit_Compare(node, frame)
        self.write(")")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox whose every operation is charged to a budget of characters and time."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse operators that grow without bound; charge the strings they build."""
        _checkpoint()
        if operator == "**":
            raise SecurityError("Potenzieren (**) ist nicht erlaubt")
        containers = (list, tuple, dict)
        if operator in "+*" and (isinstance(left, containers) or isinstance(right, containers)):
            raise SecurityError("Listen dürfen nicht verkettet oder vervielfacht werden")
        if operator == "*":
            for value, other in ((left, right), (right, left)):
                if isinstance(value, str) and isinstance(other, int):
                    if other > 100:
                        raise SecurityError("Vervielfachen ist höchstens 100-mal erlaubt")
                    _charge(len(value) * max(other, 0))
            ints = isinstance(left, int) and isinstance(right, int)
            if ints and (abs(left) > 10**9 or abs(right) > 10**9):
                raise SecurityError("Zahlen dieser Größe sind nicht erlaubt")
        if operator == "+" and isinstance(left, str) and isinstance(right, str):
            markup = hasattr(left, "__html__") or hasattr(right, "__html__")
            _charge((_ESCAPE_GROWTH if markup else 1) * (len(left) + len(right)))
        if operator == "%" and isinstance(left, str):
            # printf-style formatting can pad to any width ("%999999999d").
            raise SecurityError("Formatierung mit % ist nicht erlaubt")
        return super().call_binop(context, operator, left, right)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Subscript with a deadline check (one item builds nothing worth counting)."""
        _checkpoint()
        return super().getitem(obj, argument)

    def checkpoint(self) -> None:
        """Called by compiled comparisons: stop a render past its deadline."""
        _checkpoint()

    def bounded_concat(self, join: Callable[[Any], str], values: tuple[Any, ...]) -> str:
        """`a ~ b ~ ...`, charged (escaped if any part is markup) before joining."""
        _checkpoint()
        texts = [v if isinstance(v, str) else str(v) for v in values]
        size = sum(len(t) for t in texts)
        if join is markup_join and any(hasattr(t, "__html__") for t in texts):
            size *= _ESCAPE_GROWTH
        _charge(size)
        return join(texts)

    def bounded_slice(self, obj: Any, start: Any, stop: Any, step: Any) -> Any:
        """`obj[start:stop:step]`, charged with the length of the copy before it is made."""
        _checkpoint()
        if isinstance(obj, str | list | tuple):
            try:
                copied = len(range(*slice(start, stop, step).indices(len(obj))))
            except (TypeError, ValueError):
                copied = 0  # a bad index raises the same error below
            _charge(copied)
        return obj[start:stop:step]

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # Placeholders are plain strings; no template needs an attribute or a method.
        return False


def _environment(*, autoescape: bool) -> _Sandbox:
    env = _Sandbox(
        autoescape=autoescape,
        undefined=StrictUndefined,
        auto_reload=False,
        finalize=_bounded_output,
        # Jinja's constant folding revisits every nested node once per level (quadratic in
        # the length of a filter chain); templates are compiled once, so it buys nothing.
        optimized=False,
    )
    env.globals.clear()
    env.filters = {
        name: _bounded_filter(env.filters[name], growth) for name, growth in _FILTERS.items()
    }
    # Jinja types its test table as builtins.function, which mypy does not treat as callable.
    env.tests = {name: _timed_test(test) for name, test in env.tests.items()}  # type: ignore[arg-type]
    return env


_HTML_ENV = _environment(autoescape=True)
_TEXT_ENV = _environment(autoescape=False)


# Cached: a campaign renders the same three sources for every recipient, and parsing plus
# compiling them was a quarter of the sender's time per message. Failures are not cached.
@functools.lru_cache(maxsize=128)
def _check(part: str, env: _Sandbox, source: str) -> Any:
    """Parse and inspect a template; raise TemplateProblem for anything not allowed."""
    _check_code_size(part, source)
    try:
        return _compile(part, env, source)
    except (RecursionError, SyntaxError):
        # Python's parser and Jinja's visitors recurse once per level of nesting.
        raise TemplateProblem(part, "Die Vorlage ist zu tief verschachtelt") from None
    except MemoryError:
        raise TemplateProblem(part, "Die Vorlage ist zu groß zum Übersetzen") from None


def _check_code_size(part: str, source: str) -> None:
    """Refuse more tags or more code inside tags than a newsletter needs (before parsing)."""
    tags = code = pos = 0
    for opener in re.finditer(r"\{[{%]", source):
        start = opener.start()
        if start < pos:
            continue  # inside the previous tag
        end = source.find("}}" if opener.group() == "{{" else "%}", start + 2)
        if end == -1:
            return  # unclosed: the parser reports it with its line
        pos = end + 2
        tags += 1
        code += pos - start
        if tags > MAX_TAGS or code > MAX_CODE_CHARS:
            raise TemplateProblem(
                part,
                f"Die Vorlage enthält zu viele Platzhalter und Befehle (höchstens "
                f"{_german_number(MAX_TAGS)} mit zusammen {_german_number(MAX_CODE_CHARS)} "
                "Zeichen)",
                source.count("\n", 0, start) + 1,
            )


def _compile(part: str, env: _Sandbox, source: str) -> Any:
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(part, _syntax_message(exc), exc.lineno) from None
    too_deep = _too_deeply_nested(tree)
    if too_deep is not None:
        raise TemplateProblem(part, "Die Vorlage ist zu tief verschachtelt", too_deep.lineno)
    assigned: set[str] = set()
    for node in tree.find_all(nodes.Assign | nodes.AssignBlock | nodes.With):  # type: ignore[arg-type]
        targets = node.targets if isinstance(node, nodes.With) else [node.target]
        for target in targets:
            names = [target, *target.find_all(nodes.Name)]
            assigned.update(n.name for n in names if isinstance(n, nodes.Name))
    for node in tree.find_all(nodes.Node):
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
        if isinstance(node, nodes.List | nodes.Tuple | nodes.Dict) and not _is_constant(env, node):
            # A list of names could hold the same big string many times, or nest lists.
            raise TemplateProblem(
                part, "Listen dürfen nur feste Werte enthalten (keine Platzhalter)", node.lineno
            )
    try:
        return env.from_string(tree)
    except TemplateSyntaxError as exc:  # e.g. an unknown filter, found while compiling
        raise TemplateProblem(part, _syntax_message(exc), exc.lineno) from None


def _too_deeply_nested(tree: nodes.Template) -> nodes.Node | None:
    """The first node nested deeper than MAX_NESTING, found without recursion."""
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return node
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return None


def _is_constant(env: _Sandbox, node: nodes.List | nodes.Tuple | nodes.Dict) -> bool:
    """A literal list, tuple or dict of constants, or the names of `{% set a, b = ... %}`."""
    if isinstance(node, nodes.Tuple) and node.ctx == "store":
        return True
    try:
        node.as_const(EvalContext(env))
    except Exception:  # Jinja's Impossible, or an error of a constant filter
        return False
    return True


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
    if isinstance(exc, _LimitExceeded):
        return str(exc)
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
    if isinstance(exc, RecursionError):
        return "Die Vorlage ist zu tief verschachtelt"
    if isinstance(exc, MemoryError):
        return "Für diese Vorlage reicht der Speicher nicht"
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


def _render_part(part: str, template: Any, context: dict[str, str], limit: int) -> str:
    """Run a checked template under the active limits; raise TemplateProblem."""
    limits = _LIMITS.get()
    if limits is not None:
        limits.new_part()
    chunks: list[str] = []
    size = 0
    stream = template.generate(context)
    try:
        # Text between tags comes from the source; every expression checks the deadline itself.
        for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise TemplateProblem(
                    part, f"Das Ergebnis ist zu lang (höchstens {_german_number(limit)} Zeichen)"
                )
            chunks.append(chunk)
    except TemplateProblem:
        raise
    except Exception as exc:  # any error inside a template is the author's, never a 500
        raise TemplateProblem(part, _runtime_message(exc), _error_line(exc)) from None
    finally:
        stream.close()  # frees what the template built before the error now, not at GC
    return "".join(chunks)


class TemplateSource(Protocol):
    """Anything with the three template parts (a NewsletterTemplate, a Campaign, a copy)."""

    # Read-only members: rendering only reads, and the sender passes a frozen copy.
    @property
    def subject(self) -> str: ...
    @property
    def body_html(self) -> str: ...
    @property
    def body_text(self) -> str: ...


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
            template = _check(part, env, text or "")
            # Each part gets its own time, so one slow part is not reported for the next ones.
            limits = _Limits(DEFAULT_MAX_WORK_CHARS, DEFAULT_MAX_RENDER_SECONDS)
            token = _LIMITS.set(limits)
            try:
                _render_part(part, template, sample, DEFAULT_MAX_OUTPUT_CHARS)
            finally:
                _LIMITS.reset(token)
        except TemplateProblem as problem:
            problems.append(problem)
    return problems


_UNSUBSCRIBE_PLACEHOLDER = re.compile(r"\{\{-?\s*abmelde_link\b")


def parts_without_unsubscribe_link(template: TemplateSource) -> list[str]:
    """The parts ("text", "html") that would reach a recipient without the unsubscribe link.

    Nothing adds the link on its own: a newsletter needs one in every part it sends, and the
    List-Unsubscribe header exists only over https.
    """
    parts = [("text", template.body_text or "")]
    if (template.body_html or "").strip():
        parts.append(("html", template.body_html or ""))
    return [name for name, body in parts if not _UNSUBSCRIBE_PLACEHOLDER.search(body)]


def render_for_recipient(
    template: TemplateSource,
    recipient_context: dict[str, str],
    *,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    max_work_chars: int = DEFAULT_MAX_WORK_CHARS,
    max_render_seconds: float = DEFAULT_MAX_RENDER_SECONDS,
) -> RenderedMessage:
    """Render subject, HTML (autoescaped) and text for one recipient; raise TemplateProblem.

    Each part may build `max_work_chars` characters in all; the three parts together may
    run for `max_render_seconds` of CPU time once compiled (compiling is cached).
    """
    context = {name: str(recipient_context.get(name, "")) for name in PLACEHOLDERS}
    subject_template = _check("subject", _TEXT_ENV, template.subject or "")
    html_template = _check("html", _HTML_ENV, template.body_html or "")
    text_template = _check("text", _TEXT_ENV, template.body_text or "")
    token = _LIMITS.set(_Limits(max_work_chars, max_render_seconds))
    try:
        subject = _render_part("subject", subject_template, context, MAX_SUBJECT_CHARS * 4)
        html = _render_part("html", html_template, context, max_output_chars)
        text = _render_part("text", text_template, context, max_output_chars)
    finally:
        _LIMITS.reset(token)
    # A subject is one line: newlines in the template or a value must not reach the header.
    subject = " ".join(subject.split())[:MAX_SUBJECT_CHARS]
    if html.strip():
        html = html_document(html, title=subject)
    return RenderedMessage(subject=subject, html=html, text=text)


# Whatever may precede the root element: byte order mark, whitespace, comments.
_DOCUMENT_START = re.compile(r"(?:\ufeff|\s+|<!--.*?-->)*", re.DOTALL)


def html_document(html: str, *, title: str, lang: str = "de") -> str:
    """`html` as a whole HTML document: a fragment is wrapped, a whole document kept.

    Mail clients and browsers guess the encoding and language of a fragment, and screen
    readers announce a page without a title as untitled; a whole document says all three.
    A document that starts at `<html>` only gets the doctype it lacks.
    """
    start = _DOCUMENT_START.match(html)
    head = html[start.end() if start else 0 :][:9].lower()
    if head.startswith("<!doctype"):
        return html
    if head.startswith("<html") and (len(head) == 5 or not head[5].isalnum()):
        return "<!doctype html>\n" + html
    return (
        f'<!doctype html>\n<html lang="{escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n{html}\n</body>\n</html>\n"
    )


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


# What a subject shows on staff pages in place of the per-recipient placeholders.
DISPLAY_PLACEHOLDERS = {
    "anrede": "‹Anrede›",
    "vorname": "‹Vorname›",
    "nachname": "‹Nachname›",
    "organisation": "‹Organisation›",
    "abmelde_link": "‹Abmeldelink›",
    "webversion_link": "‹Webversion›",
}


def render_subject(subject: str, *, list_name: str) -> str:
    """A subject as staff see it on campaign pages: rendered in the same sandbox as for a
    recipient, with the list's name and the personal placeholders named; raise TemplateProblem.
    """
    context = {**DISPLAY_PLACEHOLDERS, "liste": list_name}
    template = _check("subject", _TEXT_ENV, subject or "")
    token = _LIMITS.set(_Limits(DEFAULT_MAX_WORK_CHARS, DEFAULT_MAX_RENDER_SECONDS))
    try:
        text = _render_part("subject", template, context, MAX_SUBJECT_CHARS * 4)
    finally:
        _LIMITS.reset(token)
    return " ".join(text.split())[:MAX_SUBJECT_CHARS]
