"""Translations: complete German (and English) catalogues, compiled, used; dates in Berlin time.

The completeness tests run Babel's extraction over the code exactly as `make i18n` does, so a
new `_()` / `_l()` string without a German translation fails here, not in front of a user.
"""

from __future__ import annotations

import functools
import io
import re
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask, render_template_string

from tests.conftest import login

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "crm" / "translations"
LOCALES = ("de", "en")

HOW_TO_FIX = (
    "Run `make i18n`, then fill in the msgstr of each entry in "
    "crm/translations/de/LC_MESSAGES/messages.po (German, Sie-form) and in "
    "crm/translations/en/LC_MESSAGES/messages.po (English: the msgid itself unless a better "
    "wording is needed), then run `make i18n` again to compile the .mo files and commit both."
)

# One placeholder in %-formatting (named or positional); `%%` is a literal percent sign.
PERCENT_PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?"  # %(name)
    r"[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?"  # flags, width, precision, length
    r"(?P<conv>[diouxXeEfFgGcrsa%])"
)
BRACE_PLACEHOLDER = re.compile(r"(?<!\{)\{[\w.\[\]!:]*\}(?!\})")


# Besides Babel's defaults (`_`, `gettext`, `ngettext`, ...): the lazy forms used in forms and
# module-level constants. `make i18n` must pass the same names to `pybabel extract -k`.
EXTRA_KEYWORDS = ("_l", "lazy_gettext")


def _makefile_extract_keywords() -> list[str] | None:
    """The `-k` keywords of `pybabel extract` in the Makefile, or None without a Makefile."""
    makefile = ROOT / "Makefile"
    if not makefile.exists():
        return None
    command = re.search(r"pybabel extract((?:.*\\\n)*.*)", makefile.read_text(encoding="utf-8"))
    assert command, "the Makefile's i18n target no longer runs `pybabel extract`"
    return re.findall(r"(?:-k|--keywords?)[ =](\S+)", command.group(1))


def _keywords() -> dict[str, Any]:
    keywords = dict(DEFAULT_KEYWORDS)
    keywords.update(parse_keywords([*EXTRA_KEYWORDS, *(_makefile_extract_keywords() or [])]))
    return keywords


@functools.cache
def extracted_messages() -> dict[tuple[str, str | None], list[str]]:
    """Every message in the code and templates as {(msgid, context): places it is used}.

    A plural message is keyed by its singular msgid, as in the catalogue.
    """
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[tuple[str, str | None], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=_keywords()
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault((msgid, context), []).append(f"{filename}:{lineno}")
    return found


@functools.cache
def catalogue(locale: str) -> Catalog:
    """The committed .po catalogue of one locale."""
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def _is_translated(message: Message | None) -> bool:
    if message is None or message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, tuple | list) else [message.string]
    return bool(strings) and all(s and s.strip() for s in strings)


def _mo_contents(data: bytes) -> dict[tuple[Any, Any], Any]:
    """A compiled catalogue as {(msgid, context): msgstr}, headers left out."""
    cat = read_mo(io.BytesIO(data))

    def frozen(value: Any) -> Any:
        # Plural entries come back as lists (read_mo) or tuples (read_po): compare as tuples.
        return tuple(value) if isinstance(value, list | tuple) else value

    return {(frozen(m.id), m.context): frozen(m.string) for m in cat if m.id}


def _placeholders(text: str) -> tuple[Counter[str], list[str], Counter[str]]:
    """Named %-placeholders (a multiset), positional ones (in order), and {brace} ones."""
    named: Counter[str] = Counter()
    positional: list[str] = []
    for match in PERCENT_PLACEHOLDER.finditer(text):
        if match["conv"] == "%":
            continue
        if match["name"] is not None:
            named[f"%({match['name']}){match['conv']}"] += 1
        else:
            positional.append(match["conv"])
    return named, positional, Counter(BRACE_PLACEHOLDER.findall(text))


# --- the catalogues ---------------------------------------------------------------------------


def test_the_extraction_finds_the_messages_of_code_and_templates():
    messages = extracted_messages()
    assert ("Log in", None) in messages  # a template
    assert ("Project lead", None) in messages  # a lazy _l() in Python
    assert ("E-mail address or password is wrong.", None) in messages  # _() in a view


def _untranslated_messages(locale: str) -> list[str]:
    """Messages in the code whose msgstr in `locale` is missing, empty or fuzzy, with places."""
    cat = catalogue(locale)
    return [
        f"  {msgid!r}  (used at {', '.join(places[:3])})"
        for (msgid, context), places in sorted(extracted_messages().items(), key=str)
        if not _is_translated(cat.get(msgid, context=context))
    ]


def test_every_message_in_the_code_has_a_german_translation():
    missing = _untranslated_messages("de")
    assert not missing, (
        f"{len(missing)} message(s) have no German translation (missing, empty or fuzzy):\n"
        + "\n".join(missing)
        + "\n"
        + HOW_TO_FIX
    )


def test_every_message_in_the_code_is_in_the_english_catalogue():
    """English is complete too: msgstr is the msgid itself unless a better wording is needed."""
    missing = _untranslated_messages("en")
    assert not missing, (
        f"{len(missing)} message(s) have no English msgstr (missing, empty or fuzzy):\n"
        + "\n".join(missing)
        + "\n"
        + HOW_TO_FIX
    )


def test_make_i18n_extracts_the_lazy_strings_too():
    keywords = _makefile_extract_keywords()
    if keywords is None:
        pytest.skip("no Makefile in this checkout")
    missing = [k for k in EXTRA_KEYWORDS if k not in keywords]
    assert not missing, f"`make i18n` must run `pybabel extract` with -k {' -k '.join(missing)}"


@pytest.mark.parametrize("locale", LOCALES)
def test_no_catalogue_entry_is_left_fuzzy_or_empty(locale: str):
    """Entries no longer in the code are dropped by `make i18n`; those left must be finished."""
    unfinished = [m.id for m in catalogue(locale) if m.id and not _is_translated(m)]
    assert not unfinished, f"unfinished entries in {locale}/messages.po: {unfinished}\n{HOW_TO_FIX}"


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogues_match_the_po_files(locale: str):
    mo_path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    assert mo_path.exists(), f"{mo_path} is missing: run `make i18n` and commit the .mo file"
    fresh = io.BytesIO()
    write_mo(fresh, catalogue(locale))
    expected = _mo_contents(fresh.getvalue())
    committed = _mo_contents(mo_path.read_bytes())
    stale = sorted(
        str(key[0])
        for key in expected.keys() | committed.keys()
        if expected.get(key) != committed.get(key)
    )
    assert not stale, (
        f"{locale}/messages.mo is out of date with messages.po for {len(stale)} message(s), e.g. "
        f"{stale[:5]}. Run `pybabel compile -d crm/translations` (or `make i18n`) and commit it."
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_are_kept_in_translations(locale: str):
    wrong = []
    for message in catalogue(locale):
        if not message.id or not _is_translated(message):
            continue
        if isinstance(message.id, str):
            pairs = [(message.id, message.string)]
        else:
            # Every plural form is compared with the msgid_plural: German has one and many.
            pairs = [(message.id[-1], form) for form in message.string]
        for source, translation in pairs:
            if _placeholders(source) != _placeholders(translation):
                wrong.append(f"  {source!r} -> {translation!r}")
    assert not wrong, (
        f"placeholders differ between msgid and msgstr in {locale}/messages.po "
        "(keep %(name)s, %(n)d and {name} exactly):\n" + "\n".join(wrong)
    )


def test_the_required_german_wordings_are_used():
    """Wordings other tests, the browser tests and the handbook rely on."""
    german = {m.id: m.string for m in catalogue("de") if m.id}
    assert (
        german["E-mail address or password is wrong."] == "E-Mail-Adresse oder Passwort ist falsch."
    )
    assert german["This password is too common. Please choose another, e.g. a short sentence."] == (
        "Dieses Passwort ist zu häufig. Bitte wählen Sie ein anderes, z. B. einen kurzen Satz."
    )
    assert german["Page not found"] == "Seite nicht gefunden"
    assert german["Access denied"] == "Zugriff verweigert"
    assert german["Log in"] == "Anmelden"
    assert german["Log out"] == "Abmelden"


# --- the running application ------------------------------------------------------------------


def test_pages_are_german_by_default(client):
    page = client.get("/anmelden").get_data(as_text=True)
    assert '<html lang="de">' in page
    assert "Anmelden" in page
    assert "E-Mail-Adresse" in page
    assert "Log in" not in page


def test_a_wrong_login_is_reported_in_german(client):
    response = client.post("/anmelden", data={"email": "niemand@example.org", "password": "x" * 12})
    assert "E-Mail-Adresse oder Passwort ist falsch." in response.get_data(as_text=True)


def test_a_visitor_can_switch_the_login_page_to_english(client):
    response = client.post("/sprache", data={"locale": "en", "next": "/anmelden"})
    assert response.status_code == 302
    page = client.get("/anmelden").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Log in" in page
    assert "Anmelden" not in page


def test_a_user_can_switch_to_english_and_back(app: Flask, client_as, db_session):
    browser = client_as("counsellor")
    assert "Abmelden" in browser.get("/").get_data(as_text=True)

    response = browser.post("/sprache", data={"locale": "en", "next": "/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = browser.get("/").get_data(as_text=True)
    assert "Log out" in page
    assert "Abmelden" not in page

    # The choice is stored on the user: a new browser session starts in English.
    user = browser.user
    db_session.refresh(user)
    assert user.locale == "en"
    other = app.test_client()
    assert login(other, user.email).status_code == 302
    assert "Log out" in other.get("/").get_data(as_text=True)

    assert other.post("/sprache", data={"locale": "de", "next": "/"}).status_code == 302
    page = other.get("/").get_data(as_text=True)
    assert "Abmelden" in page
    assert "Log out" not in page
    db_session.refresh(user)
    assert user.locale == "de"


def test_an_unknown_language_is_refused(client):
    response = client.post("/sprache", data={"locale": "fr", "next": "/anmelden"})
    assert response.status_code == 400
    assert "Anmelden" in client.get("/anmelden").get_data(as_text=True)


# --- dates and times --------------------------------------------------------------------------


def _render(app: Flask, source: str, **context: Any) -> str:
    with app.test_request_context("/"):
        return render_template_string(source, **context)


def test_dates_are_shown_as_day_month_year_in_berlin_time(app: Flask):
    winter = datetime(2026, 11, 21, 13, 30, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert _render(app, "{{ t|date }}", t=winter) == "21.11.2026"
    assert _render(app, "{{ t|time }}", t=winter) == "14:30"  # CET, UTC+1
    assert _render(app, "{{ t|datetime }}", t=winter) == "21.11.2026 14:30"
    assert _render(app, "{{ t|time }}", t=summer) == "14:00"  # CEST, UTC+2
    assert _render(app, "{{ t|date }}", t=summer) == "01.07.2026"


def test_the_day_changes_at_midnight_in_berlin_not_in_utc(app: Flask):
    late = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    assert _render(app, "{{ t|datetime }}", t=late) == "22.11.2026 00:30"


def test_a_naive_time_counts_as_utc_and_the_clock_change_is_respected(app: Flask):
    # 29.03.2026: 02:00 CET becomes 03:00 CEST (01:00 UTC).
    assert _render(app, "{{ t|datetime }}", t=datetime(2026, 3, 29, 0, 59)) == "29.03.2026 01:59"
    assert _render(app, "{{ t|datetime }}", t=datetime(2026, 3, 29, 1, 0)) == "29.03.2026 03:00"


def test_plain_dates_and_missing_values(app: Flask):
    assert _render(app, "{{ d|date }}", d=date(2026, 11, 21)) == "21.11.2026"
    assert _render(app, "[{{ n|date }}|{{ n|time }}|{{ n|datetime }}]", n=None) == "[||]"


def test_dates_format_outside_a_request_as_scheduler_jobs_need_it(app: Flask):
    # The 07:00 digest renders its mail in the scheduler process: no request, no session.
    with app.app_context():
        rendered = render_template_string(
            "{{ d|date }} {{ t|time }}",
            d=date(2026, 11, 21),
            t=datetime(2026, 11, 21, 6, tzinfo=UTC),
        )

    assert rendered == "21.11.2026 07:00"
