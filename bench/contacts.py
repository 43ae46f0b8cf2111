"""Page timings through the WSGI app and the CSV import rate, on a generated database.

Each scenario sends `warmup` requests that are not counted, then `requests` timed ones with
inputs varied deterministically (pages, search words, organisations). The time is taken with
time.perf_counter() around the test client's get(), so it is the server's work (routing,
permission check, session lookup, queries, template) without network or browser.
"""

from __future__ import annotations

import csv
import io
import math
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bench.generate import (
    COUNSELLOR_EMAIL,
    COUNSELLOR_PASSWORD,
    DATA_DIR,
    SEED,
    copy_database,
    driver_url,
    drop_database,
    make_app,
    upgrade,
)
from bench.memory import vm_hwm_mb

ADMIN_EMAIL = "bench-admin@bench.netzwerk-crm.de"
ADMIN_PASSWORD = "Elbe-Ufer-Schoenebeck-Bench-2026"  # noqa: S105 - bench database only
BARE_RULE = "/bench/bare"
# Search words as staff type them: folded or with umlauts, prefixes, first names, places.
SEARCHES = (
    "mue",
    "müller",
    "schoen",
    "schön",
    "weiss",
    "weiß",
    "gross",
    "boehm",
    "jürgen",
    "bjoern",
    "schäfer",
    "krueger",
    "magdeburg",
    "stassfurt",
    "baeckerei",
    "jobcenter",
    "anna lena",
    "yilmaz",
    "koe",
    "ha",
)
IMPORT_ROWS = 50_000
# The everyday import: a fair's contact list, uploaded, checked and run while staff wait.
SMALL_IMPORT_ROWS = 100
IMPORT_DUPLICATE_SHARE = 0.10
# "Update empty fields" matches every row against the database and fills gaps: the most work.
IMPORT_POLICY = "update_empty"


@dataclass
class Result:
    name: str
    times_ms: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    note: str = ""
    by_url: dict[str, list[float]] = field(default_factory=dict)

    def slowest(self, n: int = 3) -> list[tuple[str, float]]:
        """The inputs with the highest median time (which search word, which organisation)."""
        medians = [(url, statistics.median(ts)) for url, ts in self.by_url.items()]
        return sorted(medians, key=lambda x: -x[1])[:n]

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms) if self.times_ms else math.nan

    @property
    def p95(self) -> float:
        return percentile(self.times_ms, 95)

    @property
    def median_queries(self) -> float:
        return statistics.median(self.queries) if self.queries else math.nan


@dataclass
class ImportResult:
    rows: int
    seconds: float
    summary: str = ""
    note: str = ""
    dry_run_seconds: float = math.nan
    upload_seconds: float = math.nan
    small: SmallImport | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else math.nan


@dataclass
class SmallImport:
    """A small file imported end to end: upload, dry run, claim and run, in seconds."""

    rows: int
    seconds: float
    note: str = ""


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 200 values is the 190th smallest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


# --- app and routes ---------------------------------------------------------------------------


def bench_app(url: str) -> Flask:
    """The CRM app on `url` with one extra route that does nothing (the baseline)."""
    from crm.security import public

    app = make_app(url)

    @public
    def bench_bare() -> str:
        return "ok"

    app.add_url_rule(BARE_RULE, "bench_bare", bench_bare)
    return app


@dataclass
class Routes:
    organisations: str | None = None
    people: str | None = None
    organisation_detail: str | None = None  # with "{id}"
    start: str | None = None
    participants: str | None = None
    followups: str | None = None


def discover_routes(app: Flask) -> Routes:
    """Find the contact pages in the URL map by their paths, not their endpoint names."""
    routes = Routes()
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()):
            continue
        path = rule.rule.rstrip("/")
        if path == "/kontakte/organisationen" and not rule.arguments:
            routes.organisations = rule.rule
        elif path == "/kontakte/personen" and not rule.arguments:
            routes.people = rule.rule
        elif path == "" and not rule.arguments:
            routes.start = rule.rule
        elif path == "/teilnehmende" and not rule.arguments:
            routes.participants = rule.rule
        elif path == "/wiedervorlagen" and not rule.arguments:
            routes.followups = rule.rule
        else:
            m = re.fullmatch(r"/kontakte/organisationen/<int:(\w+)>/?", rule.rule)
            if m and len(rule.arguments) == 1:
                routes.organisation_detail = rule.rule.replace(f"<int:{m.group(1)}>", "{id}")
    return routes


def ensure_admin(app: Flask) -> None:
    """A demo-like admin account for the bench (created once per database)."""
    from crm.accounts.service import create_user, get_user_by_email
    from crm.extensions import db

    with app.app_context():
        if get_user_by_email(db.session, ADMIN_EMAIL) is None:
            create_user(
                db.session,
                email=ADMIN_EMAIL,
                display_name="Bettina Bench",
                password=ADMIN_PASSWORD,
                role="admin",
            )
            db.session.commit()
        db.session.remove()


def login(app: Flask, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> Any:
    """A test client logged in through the real login form."""
    client = app.test_client()
    page = client.get("/anmelden")
    if page.status_code != 200:
        raise RuntimeError(f"login page: {page.status_code} {page.data[:300]!r}")
    match = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page.data)
    data = {"email": email, "password": password}
    if match:
        data["csrf_token"] = match.group(1).decode()
    response = client.post("/anmelden", data=data)
    if response.status_code != 302:
        raise RuntimeError(f"bench login as {email} failed: {response.status_code}")
    return client


# --- page timings -----------------------------------------------------------------------------


class QueryCounter:
    """Counts the SQL statements the app's engine runs."""

    def __init__(self, engine: sa.Engine) -> None:
        self.count = 0
        sa.event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, *_args: Any) -> None:
        self.count += 1


def measure(
    client: Any,
    counter: QueryCounter,
    scenarios: Sequence[tuple[str, str, Callable[[int], str], dict[str, str] | None]],
    *,
    requests: int,
    warmup: int,
    clients: dict[str, Any] | None = None,
) -> list[Result]:
    """Time `requests` GETs per scenario after `warmup` untimed ones.

    The scenarios take turns request by request, so a burst of load from other processes on
    the machine hits the baseline and the pages alike instead of one scenario's run.
    `clients` names the scenarios that another user's client requests (the counsellor's).
    """
    others = clients or {}
    results = [Result(name, note=group) for group, name, _urls, _headers in scenarios]
    for i in range(warmup):
        for _group, name, urls, headers in scenarios:
            others.get(name, client).get(urls(i), headers=headers)
    for i in range(warmup, warmup + requests):
        for result, (_group, name, urls, headers) in zip(results, scenarios, strict=True):
            url = urls(i)
            who = others.get(name, client)
            counter.count = 0
            t0 = time.perf_counter()
            response = who.get(url, headers=headers)
            elapsed = time.perf_counter() - t0
            result.times_ms.append(elapsed * 1000)
            result.by_url.setdefault(url, []).append(elapsed * 1000)
            result.queries.append(counter.count)
            code = response.status_code
            result.statuses[code] = result.statuses.get(code, 0) + 1
    return results


PAGE_PARAM = "seite"


def global_search_routes(app: Flask) -> tuple[str | None, str | None]:
    """The global search page and its suggest fragment, found by path like the others."""
    page = suggest = None
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.arguments:
            continue
        if rule.rule.rstrip("/") == "/suche":
            page = rule.rule
        elif rule.rule.rstrip("/") == "/suche/vorschlag":
            suggest = rule.rule
    return page, suggest


def page_scenarios(
    app: Flask, routes: Routes, big_ids: Sequence[int], n_orgs: int, only: set[str]
) -> list[tuple[str, str, Callable[[int], str], dict[str, str] | None]]:
    """(group, name, url function, headers) for every scenario that exists in the app."""
    rng = random.Random(SEED)
    out: list[tuple[str, str, Callable[[int], str], dict[str, str] | None]] = [
        ("bare", "bare route (baseline)", lambda i: BARE_RULE, None)
    ]
    pages = [rng.randint(1, 20) for _ in range(1000)]
    searches = [SEARCHES[i % len(SEARCHES)] for i in range(1000)]
    random.Random(SEED + 1).shuffle(searches)
    detail_ids = [rng.randint(1, n_orgs) for _ in range(1000)]
    big = list(big_ids) or detail_ids[:10]
    htmx = {"HX-Request": "true"}
    if "list" in only:
        if routes.organisations:
            base = routes.organisations
            out.append(
                ("list", "organisation list", lambda i: f"{base}?{PAGE_PARAM}={pages[i]}", None)
            )
        if routes.people:
            base_p = routes.people
            out.append(("list", "person list", lambda i: f"{base_p}?{PAGE_PARAM}={pages[i]}", None))
    if "search" in only:
        if routes.people:
            base_p = routes.people
            out.append(("search", "person search", lambda i: f"{base_p}?q={searches[i]}", None))
            out.append(
                ("search", "person search (htmx)", lambda i: f"{base_p}?q={searches[i]}", htmx)
            )
        if routes.organisations:
            base = routes.organisations
            out.append(("search", "organisation search", lambda i: f"{base}?q={searches[i]}", None))
    # --- global search (issue 15): /suche and the navigation bar's suggest fragment ---
    if "search" in only:
        search_page, suggest = global_search_routes(app)
        if search_page:
            out.append(
                ("search", "global search", lambda i: f"{search_page}?q={searches[i]}", None)
            )
        if suggest:
            out.append(
                (
                    "search",
                    "global search suggest (htmx)",
                    lambda i: f"{suggest}?q={searches[i]}",
                    htmx,
                )
            )
    # --- end of global search ---
    if "detail" in only and routes.organisation_detail:
        detail = routes.organisation_detail
        out.append(
            (
                "detail",
                "organisation detail",
                lambda i: detail.format(id=detail_ids[i]),
                None,
            )
        )
        out.append(
            (
                "detail",
                "organisation detail, largest timelines",
                lambda i: detail.format(id=big[i % len(big)]),
                None,
            )
        )
    out.extend(work_scenarios(routes, only))
    return out


# --- casework pages (issue 15): as a counsellor sees them, and the admin's start page ---------

# Scenarios of this block that the counsellor's client requests (the others: the admin's).
COUNSELLOR_SCENARIOS = frozenset(
    {
        "Mein Tag (counsellor)",
        "participant list (counsellor)",
        "follow-up list (counsellor)",
        "follow-up list, later group (counsellor)",
    }
)
# Pages 1–10 of 50: the counsellor's offices hold at least 500 participants at scale 0.1.
# (A page that is empty at the smallest scale but full at the largest would count as growth.)
WORK_PAGES = 10


def work_scenarios(
    routes: Routes, only: set[str]
) -> list[tuple[str, str, Callable[[int], str], dict[str, str] | None]]:
    """ "Mein Tag", the participant list and the follow-up list (group "work")."""
    if "work" not in only:
        return []
    rng = random.Random(SEED + 15)
    pages = [rng.randint(1, WORK_PAGES) for _ in range(1000)]
    out: list[tuple[str, str, Callable[[int], str], dict[str, str] | None]] = []
    if routes.start:
        start = routes.start
        out.append(("work", "Mein Tag (counsellor)", lambda i: start, None))
        out.append(("work", "Mein Tag (admin)", lambda i: start, None))
    if routes.participants:
        base = routes.participants
        out.append(
            (
                "work",
                "participant list (counsellor)",
                lambda i: f"{base}?{PAGE_PARAM}={pages[i]}",
                None,
            )
        )
    if routes.followups:
        fu = routes.followups
        out.append(("work", "follow-up list (counsellor)", lambda i: fu, None))
        # One group's tab: its first page of 50 (the "later" group fills it at scale 0.1).
        out.append(
            (
                "work",
                "follow-up list, later group (counsellor)",
                lambda i: f"{fu}?gruppe=later&{PAGE_PARAM}=1",
                None,
            )
        )
    return out


def run_pages(
    url: str,
    *,
    requests: int,
    warmup: int,
    only: set[str],
    big_ids: Sequence[int],
    n_orgs: int,
    log: Callable[[str], None] = print,
) -> list[Result]:
    """Measure every page scenario beside the bare route, taking turns."""
    from crm.extensions import db

    upgrade(url)  # the working tree may have gained a migration since the data was made
    app = bench_app(url)
    ensure_admin(app)
    routes = discover_routes(app)
    log(f"routes: {routes}")
    client = login(app)
    clients: dict[str, Any] = {}
    if "work" in only:
        counsellor = login(app, COUNSELLOR_EMAIL, COUNSELLOR_PASSWORD)
        clients = dict.fromkeys(COUNSELLOR_SCENARIOS, counsellor)
    with app.app_context():
        counter = QueryCounter(db.engine)
    scenarios = page_scenarios(app, routes, big_ids, n_orgs, only)
    results = measure(client, counter, scenarios, requests=requests, warmup=warmup, clients=clients)
    for r in results:
        log(
            f"  {r.name:42} median {r.median:7.2f} ms  p95 {r.p95:7.2f} ms  "
            f"queries {r.median_queries:.0f}  status {r.statuses}"
        )
        if r.note != "bare" and len(r.by_url) > 1:
            log("      slowest: " + ", ".join(f"{u} {t:.1f} ms" for u, t in r.slowest()))
    log(f"  VmHWM of this process after the pages: {vm_hwm_mb():.0f} MB")
    with app.app_context():
        db.engine.dispose()
    return results


@dataclass
class Target:
    """One database of an interleaved measurement (a scale of the same data)."""

    label: str
    url: str
    big_ids: Sequence[int]
    n_orgs: int


SCALE_SEPARATOR = " @ "


def run_pages_interleaved(
    targets: Sequence[Target],
    *,
    requests: int,
    warmup: int,
    only: set[str],
    log: Callable[[str], None] = print,
) -> dict[str, list[Result]]:
    """Measure the page scenarios on several databases at once, taking turns among them all.

    Growth from one scale to another compares two measurements; taken one after the other,
    a change in the machine's load between them shows up as growth. Taking turns request by
    request (every scenario of every database), both see the same load.
    """
    from crm.extensions import db

    apps, clients, scenarios = [], {}, []
    counter: QueryCounter | None = None
    default_client = None
    for target in targets:
        upgrade(target.url)
        app = bench_app(target.url)
        apps.append(app)
        ensure_admin(app)
        routes = discover_routes(app)
        admin = login(app)
        default_client = default_client or admin
        counsellor = login(app, COUNSELLOR_EMAIL, COUNSELLOR_PASSWORD) if "work" in only else None
        with app.app_context():
            if counter is None:
                counter = QueryCounter(db.engine)
            else:
                sa.event.listen(db.engine, "before_cursor_execute", counter._on_execute)
        for group, name, urls, headers in page_scenarios(
            app, routes, target.big_ids, target.n_orgs, only
        ):
            scoped = f"{name}{SCALE_SEPARATOR}{target.label}"
            clients[scoped] = counsellor if name in COUNSELLOR_SCENARIOS else admin
            scenarios.append((group, scoped, urls, headers))
    assert counter is not None
    assert default_client is not None
    results = measure(
        default_client, counter, scenarios, requests=requests, warmup=warmup, clients=clients
    )
    by_target: dict[str, list[Result]] = {t.label: [] for t in targets}
    for r in results:
        name, label = r.name.rsplit(SCALE_SEPARATOR, 1)
        r.name = name
        by_target[label].append(r)
        log(
            f"  {label:>5} {name:42} median {r.median:7.2f} ms  p95 {r.p95:7.2f} ms  "
            f"queries {r.median_queries:.0f}  status {r.statuses}"
        )
    log(f"  VmHWM of this process after the pages: {vm_hwm_mb():.0f} MB")
    for app in apps:
        with app.app_context():
            db.engine.dispose()
    return by_target


# --- import -----------------------------------------------------------------------------------


def import_csv(url: str, rows: int = IMPORT_ROWS, seed: int = SEED) -> tuple[bytes, int]:
    """A deterministic Excel-German CSV (';', UTF-8 with BOM) of new people and duplicates.

    About IMPORT_DUPLICATE_SHARE of the rows are existing people: half by the same e-mail
    address (written in another case), half by the same name at the same firm (name and
    postcode of an existing organisation, no e-mail). Returns the file and the duplicate count.
    """
    from bench.generate import FEMALE, FUNCTIONS, MALE, PLACES, SURNAMES, TRADES, _slug

    rng = random.Random(seed + 50_000)
    engine = sa.create_engine(driver_url(url))
    with engine.connect() as conn:
        existing = conn.execute(
            sa.text(
                "SELECT p.id, p.first_name, p.last_name, p.email, o.name, o.street, o.postcode, "
                "o.city, a.function FROM person p JOIN affiliation a ON a.person_id = p.id "
                "JOIN organisation o ON o.id = a.organisation_id ORDER BY p.id, a.id"
            )
        ).all()
        orgs = conn.execute(
            sa.text("SELECT name, street, postcode, city FROM organisation ORDER BY id")
        ).all()
    engine.dispose()
    header = [
        "Firma",
        "Anrede",
        "Vorname",
        "Nachname",
        "E-Mail",
        "Telefon",
        "Straße",
        "PLZ",
        "Ort",
        "Funktion",
    ]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    duplicates = 0
    new_firms: list[tuple[str, str, str, str]] = []
    seen_people = set()
    for n in range(rows):
        if rng.random() < IMPORT_DUPLICATE_SHARE:
            pid, first, last, email, firm, street, postcode, city, function = rng.choice(existing)
            if pid in seen_people:
                pid, first, last, email, firm, street, postcode, city, function = rng.choice(
                    existing
                )
            seen_people.add(pid)
            duplicates += 1
            salutation = ""
            # Odd rows match by e-mail (case differs), even rows by name at the same firm.
            email = (email.upper() if n % 4 == 1 else email.capitalize()) if n % 2 else ""
            writer.writerow(
                [firm, salutation, first, last, email, "", street, postcode, city, function]
            )
            continue
        female = rng.random() < 0.5
        first = rng.choice(FEMALE if female else MALE)
        last = rng.choice(SURNAMES)
        roll = rng.random()
        if roll < 0.3:
            firm, street, postcode, city = rng.choice(orgs)
        elif new_firms and roll < 0.6:
            firm, street, postcode, city = rng.choice(new_firms)
        else:
            trade, _sector = rng.choice(TRADES)
            city, postcodes, _region = rng.choice(PLACES)
            firm = f"{trade} {rng.choice(SURNAMES)} Import {n}"
            street, postcode = f"Messeweg {rng.randint(1, 99)}", rng.choice(postcodes)
            new_firms.append((firm, street, postcode, city))
        domain = _slug(firm)[:30] + ".de"
        email = f"{_slug(first)}.{_slug(last)}.{n}@{domain}".replace("-", "")
        writer.writerow(
            [
                firm,
                "Frau" if female else "Herr",
                first,
                last,
                email,
                f"0391 {rng.randint(100000, 999999)}",
                street,
                postcode,
                city,
                rng.choice(FUNCTIONS),
            ]
        )
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8"), duplicates


def run_import(url: str, *, log: Callable[[str], None] = print) -> ImportResult | None:
    """Time the importer on a copy of the database (the cached data stays as generated).

    First a small file end to end, on the database as generated (the everyday case, where
    the cost that does not depend on the file's size shows), then the large file's rate.
    """
    try:
        from crm.contacts import importer  # noqa: F401
    except ImportError:
        log("import: crm/contacts/importer.py does not exist yet")
        return None
    content, duplicates = import_csv(url)
    path = DATA_DIR / "import-50k.csv"
    Path(path).write_bytes(content)
    log(f"import: {IMPORT_ROWS} rows ({duplicates} duplicates of existing people) → {path}")
    # Another seed: not the first rows of the large file, which would then all be duplicates.
    small_content, small_duplicates = import_csv(url, SMALL_IMPORT_ROWS, seed=SEED + 1)
    copy_url = copy_database(url, "import")
    try:
        small = _time_small_import(copy_url, small_content, small_duplicates, log)
        result = _time_import(copy_url, content, log)
        result.small = small
        return result
    finally:
        drop_database(copy_url)


@dataclass
class _JobTimes:
    upload: float
    dry_run: float
    claim: float
    run: float
    dry_counts: dict[str, int]
    counts: dict[str, int]


def _run_job(url: str, content: bytes, filename: str) -> _JobTimes:
    """Upload (parse and store), dry run and real run through the importer's job functions."""
    from flask_babel import force_locale

    from crm.accounts.service import get_user_by_email
    from crm.audit.service import Actor, acting_as
    from crm.contacts import importer
    from crm.extensions import db

    app = make_app(url)
    ensure_admin(app)
    with app.app_context(), force_locale("de"):
        session = db.session
        admin = get_user_by_email(session, ADMIN_EMAIL)
        assert admin is not None
        with acting_as(Actor(admin.id, ADMIN_EMAIL, "127.0.0.1")):
            t0 = time.perf_counter()
            job = importer.create_job(
                session,
                data=content,
                filename=filename,
                user_id=admin.id,
                max_bytes=app.config["CRM_MAX_UPLOAD_MB"] * 1024 * 1024,
            )
            job.duplicate_policy = IMPORT_POLICY
            session.commit()
            upload = time.perf_counter() - t0
            t0 = time.perf_counter()
            dry = importer.dry_run_job(session, job)
            session.commit()
            dry_seconds = time.perf_counter() - t0
            t0 = time.perf_counter()
            importer.claim_job(session, job)
            session.commit()
            claim = time.perf_counter() - t0
            t0 = time.perf_counter()
            # The worker's job function itself (as `flask crm worker` runs it), batch by batch.
            job = importer.execute_job(session, job.id)
            seconds = time.perf_counter() - t0
            status, counts, message = job.status, dict(job.counts or {}), job.message
        db.session.remove()
        db.engine.dispose()
    if status != "done":
        raise RuntimeError(f"import {status}: {message}")
    return _JobTimes(upload, dry_seconds, claim, seconds, dict(dry.counts), counts)


def _time_import(url: str, content: bytes, log: Callable[[str], None]) -> ImportResult:
    """The large file: the run's rate is the figure, upload and dry run are noted beside it."""
    times = _run_job(url, content, "bench-import-50k.csv")
    log(
        f"import: upload {times.upload:.1f} s, dry run {times.dry_run:.1f} s, run {times.run:.1f} s"
    )
    log(f"import: dry run counts {times.dry_counts}; run counts {times.counts}")
    return ImportResult(
        rows=job_rows(content),
        seconds=times.run,
        summary=f"policy {IMPORT_POLICY}: {_counts_text(times.counts)}",
        note=f"upload {times.upload:.1f} s, dry run {times.dry_run:.1f} s",
        dry_run_seconds=times.dry_run,
        upload_seconds=times.upload,
    )


def _time_small_import(
    url: str, content: bytes, duplicates: int, log: Callable[[str], None]
) -> SmallImport:
    """The small file end to end: upload, dry run, claim and run, as staff wait for them."""
    times = _run_job(url, content, "bench-import-100.csv")
    total = times.upload + times.dry_run + times.claim + times.run
    note = (
        f"upload {times.upload:.2f} s, dry run {times.dry_run:.2f} s, run {times.run:.2f} s; "
        f"{_counts_text(times.counts)}"
    )
    rows = job_rows(content)
    log(f"import of {rows} rows ({duplicates} duplicates), end to end: {total:.2f} s ({note})")
    return SmallImport(rows=rows, seconds=total, note=note)


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(
        f"{k} {counts[k]:,}" for k in ("create", "update", "skip", "reject") if k in counts
    )


def job_rows(content: bytes) -> int:
    """Data rows in the generated CSV (lines minus the header)."""
    return content.count(b"\r\n") - 1
