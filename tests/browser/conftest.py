"""Browser fixtures: a live server on a fresh seeded database, headless Chromium, axe-core.

Playwright drives Debian's /usr/bin/chromium (no downloaded browsers). Every test in this
folder is marked `browser`, so `pytest -m browser` runs them alone and `-m "not browser"`
skips them.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import brotli
import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

from crm import demo
from crm.extensions import db
from scripts import validate_html as vnu
from tests.conftest import build_app
from tests.vnu_helpers import missing_validator

HERE = Path(__file__).resolve().parent
AXE_JS = HERE / "vendor" / "axe.min.js"
RESULTS_DIR = HERE.parent.parent / "test-results"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Fail fast: a missing element should not hold a test for Playwright's default 30 s.
TIMEOUT_MS = 10_000
BLOCKING_IMPACTS = ("serious", "critical")

ADMIN_EMAIL = demo.DEMO_USERS[0][0]
ADMIN_NAME = demo.DEMO_USERS[0][1]
PASSWORD = demo.DEMO_PASSWORD


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder `browser` (the hook sees all items; filter by path)."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


def berlin_today() -> date:
    """Today as the app counts it (Europe/Berlin): between midnight in Berlin and midnight UTC
    the machine's `date.today()` is still yesterday."""
    return datetime.now(ZoneInfo("Europe/Berlin")).date()


@contextmanager
def serve_in_thread(wsgi_app: Any, name: str) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item so the `page` fixture can see a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.decompress,
    "br": brotli.decompress,
}


class HtmlRecorder:
    """WSGI middleware keeping every HTML response the live server sends to the browser."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pages: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Pass the request on; buffer and keep the body only when it is an HTML page."""
        seen: dict[str, str] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["type"] = next((v for k, v in headers if k.lower() == "content-type"), "")
            seen["encoding"] = next((v for k, v in headers if k.lower() == "content-encoding"), "")
            return start_response(status, headers, exc_info)

        result = self.app(environ, start)
        # The record picker's option lists are fragments for a listbox the page already has,
        # not documents: they cannot be valid on their own (their own tests check them).
        if environ.get("HTTP_X_REQUESTED_WITH") == "picker":
            return result
        if not seen.get("type", "").startswith("text/html"):
            return result
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        url = environ.get("PATH_INFO", "") + (
            "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""
        )
        # The app compresses pages for a browser that accepts it (crm.assets): vnu reads text.
        text = DECODERS.get(seen.get("encoding", ""), bytes)(body)
        with self._lock:
            # Repeated visits of a page differ in CSRF tokens only: keep the first few.
            if sum(1 for key in self.pages if key.split(" ", 1)[1] == url) < 3:
                self.pages[f"{environ['REQUEST_METHOD']}#{len(self.pages)} {url}"] = text.decode(
                    "utf-8", "replace"
                )
        return [body]


@pytest.fixture(scope="session")
def html_recorder() -> HtmlRecorder:
    """The recorder the live server's app is wrapped in (filled as the browser tests run)."""
    return HtmlRecorder(None)


@pytest.fixture(scope="session", autouse=True)
def browser_pages_are_valid_html(html_recorder: HtmlRecorder) -> Iterator[None]:
    """After the browser tests: every HTML page they received, checked by vnu in one run."""
    yield
    missing = missing_validator()
    if missing or not html_recorder.pages:
        print(f"\nbrowser pages not checked by vnu: {missing or 'none recorded'}")
        return
    messages = vnu.validate(html_recorder.pages)
    errors = vnu.report(html_recorder.pages, messages, print)
    if errors:
        found = "\n".join(str(m) for m in messages if m.kind == "error")
        pytest.fail(f"invalid HTML in pages the browser tests saw:\n{found}", pytrace=False)


@pytest.fixture(scope="session")
def live_server(
    make_database: Callable[[], str],
    tmp_path_factory: pytest.TempPathFactory,
    html_recorder: HtmlRecorder,
) -> Iterator[str]:
    """The app on a fresh, migrated database with the demo data, served on a free port."""
    from flask_migrate import upgrade

    # The production cookie settings stay on (Secure, __Host- name): Chromium treats
    # http://127.0.0.1 as a secure context, so the browser keeps and sends them.
    app = build_app(
        make_database(),
        str(tmp_path_factory.mktemp("browser-instance")),
        # Cached static files: fewer downloads for the browser to cancel mid-way.
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    with app.app_context():
        upgrade()
        demo.seed(db.session)
        db.session.commit()
    html_recorder.app = app
    try:
        with serve_in_thread(html_recorder, "live-server") as url:
            yield url
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """The Playwright driver for this run."""
    driver = sync_playwright().start()
    try:
        yield driver
    finally:
        driver.stop()


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Debian Chromium."""
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield chromium
    finally:
        chromium.close()


def _new_context(browser: Browser, base_url: str, **options: Any) -> BrowserContext:
    context = browser.new_context(
        base_url=base_url,
        locale="de-DE",
        timezone_id="Europe/Berlin",
        # No CSS transitions (Bootstrap honours this): axe must not measure a colour
        # half-way through a button's hover/active fade.
        reduced_motion="reduce",
        **options,
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


def _screenshot_on_failure(request: pytest.FixtureRequest, page: Page) -> None:
    node = request.node
    failed = any(
        getattr(getattr(node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    if failed and not page.is_closed():
        RESULTS_DIR.mkdir(exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in node.nodeid)
        page.screenshot(path=str(RESULTS_DIR / f"{safe}.png"), full_page=True)


@contextmanager
def browser_tab(browser: Browser, base_url: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh German browser profile and tab on `base_url`; a screenshot lands in
    test-results/ on failure.

    The context bypasses the Content Security Policy only because axe-core is injected as
    an inline script (`add_script_tag(path=...)` inlines the file), which `script-src 'self'`
    rightly blocks. `strict_page` below keeps the policy on to prove the app itself obeys it.
    """
    context = _new_context(browser, base_url, bypass_csp=True)
    tab = context.new_page()
    try:
        yield tab
    finally:
        _screenshot_on_failure(request, tab)
        context.close()


@contextmanager
def own_install(
    make_database: Callable[[], str],
    instance: Path,
    html_recorder: HtmlRecorder,
    label: str,
    prepare: Callable[[Flask], None],
) -> Iterator[str]:
    """The app on a migrated database of its own, prepared by `prepare` (in an app context)
    and served for tests that change what the shared live server's other tests rely on.
    Its pages join the session-wide vnu check."""
    from flask_migrate import upgrade

    app = build_app(make_database(), str(instance))
    with app.app_context():
        upgrade()
        prepare(app)
    recorder = HtmlRecorder(app)
    try:
        with serve_in_thread(recorder, f"{label}-server") as url:
            yield url
    finally:
        html_recorder.pages.update({f"{label} {k}": v for k, v in recorder.pages.items()})
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def page(browser: Browser, live_server: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A browser tab on the shared live server with the demo data (see `browser_tab`)."""
    with browser_tab(browser, live_server, request) as tab:
        yield tab


@pytest.fixture
def strict_page(
    browser: Browser, live_server: str, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """Like `page`, but with the Content Security Policy enforced (no axe-core here)."""
    context = _new_context(browser, live_server)
    tab = context.new_page()
    try:
        yield tab
    finally:
        _screenshot_on_failure(request, tab)
        context.close()


# What Playwright reports when a script meets a document that a navigation is replacing: a
# test's click returns before the next page is parsed (no <head> yet) or while the old one goes.
_NAVIGATION_RACE = ("reading 'appendChild'", "Execution context was destroyed")


def _axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page, once the page a click led to has loaded."""
    for attempt in range(3):
        page.wait_for_load_state("load")
        try:
            page.add_script_tag(path=str(AXE_JS))
            return page.evaluate(
                """async () => {
                    const result = await axe.run(document, {resultTypes: ['violations']});
                    return result.violations.map(v => ({
                        id: v.id, impact: v.impact, help: v.help,
                        targets: v.nodes.map(n => n.target),
                    }));
                }"""
            )
        except PlaywrightError as error:
            if attempt == 2 or not any(m in str(error) for m in _NAVIGATION_RACE):
                raise
    raise AssertionError("unreachable")


def check_a11y(page: Page) -> None:
    """Run axe-core on the current page; fail on any serious or critical violation."""
    violations = _axe_violations(page)
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    if blocking:
        lines = [f"{len(blocking)} serious/critical accessibility violation(s) on {page.url}:"]
        for v in blocking:
            # A target is a list of selectors (more than one only inside shadow DOM).
            targets = ", ".join(" >>> ".join(map(str, t)) for t in v["targets"][:3])
            more = f" (+{len(v['targets']) - 3} more)" if len(v["targets"]) > 3 else ""
            lines.append(f"- {v['id']} [{v['impact']}]: {v['help']} -> {targets}{more}")
        pytest.fail("\n".join(lines), pytrace=False)


def log_in(page: Page, email: str = ADMIN_EMAIL, password: str = PASSWORD) -> None:
    """Fill in and send the login form on the current (login) page, found by its labels."""
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort", exact=True).fill(password)
    # The form posts and redirects (or re-renders with an error). Wait for that document to
    # load: a check right after the click could otherwise run while the next page is still
    # being parsed, with no <head> yet.
    with page.expect_navigation():
        page.get_by_role("main").get_by_role("button", name="Anmelden").click()
