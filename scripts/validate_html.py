"""Every page a user reaches by links, checked by the Nu Html Checker (vnu) in one run.

The test suite (tests/test_html_validity.py) crawls the app through its test client; `make
validate` crawls a running instance over HTTP:

    .venv/bin/python -m scripts.validate_html --base http://127.0.0.1:5000 \
        --email admin@demo.netzwerk-crm.de --password 'Magdeburg-Demo-2026'

Both collect every HTML page and hand all of them to one `java -jar vnu.jar` (the JVM starts
slowly, so once per run). vnu comes from npm (`vnu-jar` in package.json, `npm ci`), Java from
Debian (`default-jre-headless`). Exit status 1 on any error; warnings are listed, not fatal.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VNU_JAR = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
# Downloads and documents that are not pages of the app (checked by their own validators).
NOT_PAGES = re.compile(r"\.(ics|csv|xlsx|json|pdf|vcf)$|/vcard$|/nachweis$")
# Paths a crawl must not follow: they end the session or are static files.
SKIPPED = re.compile(r"^/(static/|favicon\.ico$|abmelden$)")

# (status, content type, body) of a GET of a local path with query.
Fetch = Callable[[str], tuple[int, str, str]]


@dataclass(frozen=True)
class Message:
    """One finding of vnu on one page."""

    url: str
    kind: str  # "error" or "warning"
    line: int
    text: str
    extract: str

    def __str__(self) -> str:
        return f"{self.url}:{self.line}: {self.kind}: {self.text}  [{self.extract.strip()[:120]}]"


class _Links(HTMLParser):
    """The same-site targets a browser can reach from a page: links, GET forms, htmx GETs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.found.append(a["href"])
        elif tag == "form" and a.get("method", "get").lower() == "get":
            self.found.append(a.get("action", ""))
        for name in ("data-hx-get", "hx-get"):
            if a.get(name):
                self.found.append(a[name])


def links(html: str, page: str) -> list[str]:
    """The local paths (with query, without fragment) linked from `page`."""
    parser = _Links()
    parser.feed(html)
    out = []
    for href in parser.found:
        target = urllib.parse.urlsplit(urllib.parse.urljoin("http://app" + page, href))
        if target.netloc != "app" or target.scheme != "http":
            continue
        out.append(target.path + (f"?{target.query}" if target.query else ""))
    return out


def route_key(path: str) -> str:
    """Pages of the same route share a key: numeric path segments and the query are dropped."""
    return re.sub(r"/\d+(?=/|$)", "/<id>", urllib.parse.urlsplit(path).path)


def crawl(
    fetch: Fetch, seeds: Iterable[str] = ("/",), per_route: int = 2, max_pages: int = 600
) -> dict[str, str]:
    """Breadth-first from `seeds`: the HTML of every page reached, at most `per_route` per route."""
    queue = deque(seeds)
    seen: set[str] = set()
    visits: dict[str, int] = {}
    pages: dict[str, str] = {}
    while queue and len(seen) < max_pages:
        url = queue.popleft()
        path = urllib.parse.urlsplit(url).path
        if url in seen or SKIPPED.match(path) or NOT_PAGES.search(path):
            continue
        key = route_key(url)
        if visits.get(key, 0) >= per_route:
            continue
        seen.add(url)
        visits[key] = visits.get(key, 0) + 1
        status, content_type, body = fetch(url)
        if status != 200 or not content_type.startswith("text/html"):
            continue
        pages[url] = body
        queue.extend(target for target in links(body, url) if target not in seen)
    return pages


def as_document(html: str) -> str:
    """A page as it is; an htmx fragment (no doctype) inside a minimal document, as htmx uses it."""
    if html.lstrip()[:15].lower() == "<!doctype html>":
        return html
    return f'<!DOCTYPE html>\n<html lang="de"><head><title>fragment</title></head><body>\n{html}'


def vnu_missing() -> str | None:
    """Why vnu cannot run here (no Java, no jar), or None when it can."""
    if shutil.which("java") is None:
        return "no java on PATH (apt-get install default-jre-headless)"
    if not VNU_JAR.is_file():
        return f"no {VNU_JAR.relative_to(ROOT)} (npm ci)"
    return None


def validate(pages: dict[str, str]) -> list[Message]:
    """Every error and warning vnu reports for the pages, from a single vnu run."""
    if not pages:
        return []
    with tempfile.TemporaryDirectory(prefix="vnu-") as tmp:
        files: dict[str, str] = {}
        for number, (url, html) in enumerate(pages.items()):
            file = Path(tmp) / f"{number:04d}.html"
            file.write_text(as_document(html), encoding="utf-8")
            files[str(file)] = url
        result = subprocess.run(  # noqa: S603 - fixed argv, our own temporary files
            ["java", "-jar", str(VNU_JAR), "--format", "json", "--exit-zero-always", "--stdout"]
            + ["--skip-info-messages", *files],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
    by_name = {Path(file).name: url for file, url in files.items()}
    messages = []
    for item in json.loads(result.stdout)["messages"]:
        if item.get("subType") == "warning":
            kind = "warning"
        elif item["type"] in (
            "error",
            "non-document-error",
        ):  # the latter: a page vnu could not read
            kind = "error"
        else:
            continue
        # vnu names a file "file:/tmp/…"; its name is the key.
        name = item.get("url", "?").rsplit("/", 1)[-1]
        url = by_name.get(name, name)
        messages.append(
            Message(url, kind, item.get("lastLine", 0), item["message"], item.get("extract", ""))
        )
    return messages


def report(pages: dict[str, str], messages: list[Message], out: Callable[[str], object]) -> int:
    """Print the warnings, then the errors and the counts; the number of errors."""
    errors = [m for m in messages if m.kind == "error"]
    for message in sorted(messages, key=lambda m: (m.kind != "warning", m.url, m.line)):
        out(str(message))
    out(f"vnu: {len(pages)} pages, {len(errors)} errors, {len(messages) - len(errors)} warnings")
    return len(errors)


def _http_fetcher(base: str) -> tuple[Fetch, Callable[[str, dict[str, str]], str]]:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )

    def fetch(path: str, data: bytes | None = None) -> tuple[int, str, str]:
        request = urllib.request.Request(base + path, data=data)  # noqa: S310 - http(s) base
        try:
            with opener.open(request, timeout=30) as response:
                kind = response.headers.get("Content-Type", "")
                body = response.read().decode("utf-8", "replace") if "html" in kind else ""
                return response.status, kind, body
        except urllib.error.HTTPError as error:
            return error.code, "", ""

    def post(path: str, form: dict[str, str]) -> str:
        request = urllib.request.Request(  # noqa: S310 - http(s) base
            base + path, data=urllib.parse.urlencode(form).encode()
        )
        with opener.open(request, timeout=30) as response:
            return urllib.parse.urlsplit(response.geturl()).path

    return fetch, post


def main(argv: list[str] | None = None) -> int:
    """`make validate`: crawl a running instance as each given user and check every page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base", required=True, help="e.g. http://127.0.0.1:5000")
    parser.add_argument("--email", action="append", default=[], help="log in as (repeatable)")
    parser.add_argument("--password", default="")
    parser.add_argument("--per-route", type=int, default=2)
    args = parser.parse_args(argv)
    missing = vnu_missing()
    if missing:
        print(f"cannot validate: {missing}", file=sys.stderr)
        return 2
    base = args.base.rstrip("/")
    if not base.startswith(("http://", "https://")):
        parser.error("--base must be an http(s) URL")
    pages: dict[str, str] = {}
    for email in args.email or [""]:
        fetch, post = _http_fetcher(base)
        if email:
            _, _, login_page = fetch("/anmelden")
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page)
            form = {"email": email, "password": args.password, "csrf_token": ""}
            form["csrf_token"] = token.group(1) if token else ""
            if post("/anmelden", form) == "/anmelden":
                print(f"login failed for {email}", file=sys.stderr)
                return 2
        for url, html in crawl(fetch, per_route=args.per_route).items():
            pages[f"{email or 'anonymous'} {url}"] = html
    return 1 if report(pages, validate(pages), print) else 0


if __name__ == "__main__":
    sys.exit(main())
