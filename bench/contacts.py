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
    DATA_DIR,
    SEED,
    copy_database,
    driver_url,
    drop_database,
    make_app,
    upgrade,
)

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

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else math.nan


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


def login(app: Flask) -> Any:
    """A test client logged in through the real login form."""
    client = app.test_client()
    page = client.get("/anmelden")
    if page.status_code != 200:
        raise RuntimeError(f"login page: {page.status_code} {page.data[:300]!r}")
    match = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page.data)
    data = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    if match:
        data["csrf_token"] = match.group(1).decode()
    response = client.post("/anmelden", data=data)
    if response.status_code != 302:
        raise RuntimeError(f"bench login failed: {response.status_code}")
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
) -> list[Result]:
    """Time `requests` GETs per scenario after `warmup` untimed ones.

    The scenarios take turns request by request, so a burst of load from other processes on
    the machine hits the baseline and the pages alike instead of one scenario's run.
    """
    results = [Result(name, note=group) for group, name, _urls, _headers in scenarios]
    for i in range(warmup):
        for _group, _name, urls, headers in scenarios:
            client.get(urls(i), headers=headers)
    for i in range(warmup, warmup + requests):
        for result, (_group, _name, urls, headers) in zip(results, scenarios, strict=True):
            url = urls(i)
            counter.count = 0
            t0 = time.perf_counter()
            response = client.get(url, headers=headers)
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
    with app.app_context():
        counter = QueryCounter(db.engine)
    scenarios = page_scenarios(app, routes, big_ids, n_orgs, only)
    results = measure(client, counter, scenarios, requests=requests, warmup=warmup)
    for r in results:
        log(
            f"  {r.name:42} median {r.median:7.2f} ms  p95 {r.p95:7.2f} ms  "
            f"queries {r.median_queries:.0f}  status {r.statuses}"
        )
        if r.note != "bare" and len(r.by_url) > 1:
            log("      slowest: " + ", ".join(f"{u} {t:.1f} ms" for u, t in r.slowest()))
    with app.app_context():
        db.engine.dispose()
    return results


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
    """Time the importer on a copy of the database (the cached data stays as generated)."""
    try:
        from crm.contacts import importer  # noqa: F401
    except ImportError:
        log("import: crm/contacts/importer.py does not exist yet")
        return None
    content, duplicates = import_csv(url)
    path = DATA_DIR / "import-50k.csv"
    Path(path).write_bytes(content)
    log(f"import: {IMPORT_ROWS} rows ({duplicates} duplicates of existing people) → {path}")
    copy_url = copy_database(url, "import")
    try:
        return _time_import(copy_url, content, log)
    finally:
        drop_database(copy_url)


def _time_import(url: str, content: bytes, log: Callable[[str], None]) -> ImportResult:
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
                filename="bench-import-50k.csv",
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
            importer.claim_job(session, job)
            session.commit()
            t0 = time.perf_counter()
            # The worker's job function itself (as `flask crm worker` runs it), batch by batch.
            job = importer.execute_job(session, job.id)
            seconds = time.perf_counter() - t0
            status, counts, message = job.status, dict(job.counts or {}), job.message
        db.session.remove()
        db.engine.dispose()
    if status != "done":
        raise RuntimeError(f"import {status}: {message}")
    log(f"import: upload {upload:.1f} s, dry run {dry_seconds:.1f} s, run {seconds:.1f} s")
    log(f"import: dry run counts {dry.counts}; run counts {counts}")
    summary = ", ".join(
        f"{k} {counts[k]:,}" for k in ("create", "update", "skip", "reject") if k in counts
    )
    return ImportResult(
        rows=job_rows(content),
        seconds=seconds,
        summary=f"policy {IMPORT_POLICY}: {summary}",
        note=f"upload {upload:.1f} s, dry run {dry_seconds:.1f} s",
        dry_run_seconds=dry_seconds,
        upload_seconds=upload,
    )


def job_rows(content: bytes) -> int:
    """Data rows in the generated CSV (lines minus the header)."""
    return content.count(b"\r\n") - 1
