"""Peak memory of an import: upload and dry run of a 50,000-row file through the web pages.

`python -m bench.import_memory [--rows 50000] [--db sqlite|postgres|URL] [--kinds csv,xlsx]`

Each file type is measured in a fresh child process, on a freshly migrated empty database:
the child builds the app, logs in through the login form, then uploads the file and starts
its dry run with the real forms (test client, no network). It reports VmHWM, the peak
resident memory of its own process from /proc/self/status, after the login (the baseline of
an app that has served a request) and after the upload and after the dry run, with the time
of each step. Target: the peak stays under 300 MB.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.memory import vm_hwm_mb

TARGET_MB = 300
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/crm_bench_import_memory"
HEADER = ["Firma", "Anrede", "Vorname", "Nachname", "E-Mail", "Telefon", "Straße", "PLZ", "Ort",
          "Funktion", "Notiz"]  # fmt: skip
FIRST = ["Jürgen", "Anna", "Björn", "Ayşe", "Małgorzata", "Olena", "Karim", "Bärbel", "Lena"]
LAST = ["Müller", "Schäfer", "Weiß", "Yılmaz", "Nowak", "Krüger", "Böhm", "Groß", "Haddad"]
TOWNS = [("39104", "Magdeburg"), ("39218", "Schönebeck"), ("39288", "Burg"),
         ("39307", "Genthin"), ("06449", "Aschersleben")]  # fmt: skip


def rows(n: int) -> list[list[str]]:
    """`n` deterministic contact rows, about 25 people per firm."""
    rng = random.Random(20261205)
    out = []
    for i in range(n):
        postcode, town = TOWNS[i % len(TOWNS)]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        out.append([
            f"Betrieb {i // 25} GmbH", rng.choice(["Frau", "Herr", ""]), first, last,
            f"person{i}@betrieb{i // 25}.example", f"0391 {rng.randrange(100000, 999999)}",
            f"Hauptstraße {i % 200 + 1}", postcode, town, "Personalleitung",
            "Kontakt von der Messe, bitte im Herbst wieder anrufen.",
        ])  # fmt: skip
    return out


def make_file(kind: str, n: int, directory: Path) -> Path:
    """Write the test file (CSV as Excel saves it: semicolons, UTF-8 with BOM; or XLSX)."""
    path = directory / f"import-{n}.{kind}"
    data = rows(n)
    if kind == "csv":
        import csv

        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(data)
        path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode())
    else:
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Kontakte")
        sheet.append(HEADER)
        for row in data:
            sheet.append(row)
        workbook.save(path)
    return path


def _csrf(html: bytes) -> str:
    match = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1).decode()


def child(kind: str, path: Path, url: str) -> dict[str, Any]:
    """Upload and dry-run `path` through the pages; the figures of this process."""
    from bench.contacts import ensure_admin, login
    from bench.generate import make_app

    app = make_app(url)
    ensure_admin(app)
    client = login(app)
    figures: dict[str, Any] = {"kind": kind, "bytes": path.stat().st_size}
    figures["baseline_mb"] = vm_hwm_mb()
    content = path.read_bytes()
    token = _csrf(client.get("/kontakte/import/").data)
    started = time.perf_counter()
    response = client.post(
        "/kontakte/import/",
        data={"csrf_token": token, "file": (io.BytesIO(content), path.name)},
    )
    del content
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    figures["upload_s"] = time.perf_counter() - started
    figures["after_upload_mb"] = vm_hwm_mb()
    job_url = response.headers["Location"]
    page = client.get(job_url).data
    # The suggested mapping, as the page pre-selects it.
    selects = re.findall(rb'<select[^>]*name="(col_\d+)"[^>]*>(.*?)</select>', page, re.S)
    data = {"csrf_token": _csrf(page), "policy": "update_empty", "sheet": "", "dry_run": "1"}
    for name, options in selects:
        chosen = re.search(rb'<option selected value="([^"]*)"', options)
        data[name.decode()] = chosen.group(1).decode() if chosen else ""
    started = time.perf_counter()
    response = client.post(job_url, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    figures["dry_run_s"] = time.perf_counter() - started
    figures["after_dry_run_mb"] = vm_hwm_mb()
    page = client.get(job_url).get_data(as_text=True)
    counts = re.findall(r"<li class=\"list-inline-item\">([^<]+): <strong>(\d+)</strong>", page)
    figures["counts"] = {label: int(n) for label, n in counts}
    return figures


def measure(kind: str, path: Path, url: str) -> dict[str, Any]:
    """Run `child` in a fresh interpreter on a freshly migrated database."""
    from bench.generate import create_database, drop_database, upgrade

    create_database(url, fresh=True)
    upgrade(url)
    try:
        out = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.import_memory", "--child", kind, str(path), url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        if not url.startswith("sqlite"):
            drop_database(url)
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Command line: measure each file type, print a table, exit 1 above the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres or a database URL")
    parser.add_argument("--kinds", default="csv,xlsx")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "FILE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, path, url = args.child
        print(json.dumps(child(kind, Path(path), url)))
        return 0
    with tempfile.TemporaryDirectory(prefix="crm-import-memory-") as tmp:
        directory = Path(tmp)
        url = {"sqlite": f"sqlite:///{directory / 'bench.sqlite3'}", "postgres": DEFAULT_POSTGRES}
        url = url.get(args.db, args.db)
        worst = 0.0
        print(f"{args.rows:,} rows, database {url.split('@')[-1]}")
        print("file | size | baseline | after upload | after dry run | upload | dry run")
        for kind in args.kinds.split(","):
            path = make_file(kind, args.rows, directory)
            f = measure(kind, path, url)
            worst = max(worst, f["after_dry_run_mb"])
            print(
                f"{kind} | {f['bytes'] / 1024 / 1024:.1f} MB | {f['baseline_mb']:.0f} MB | "
                f"{f['after_upload_mb']:.0f} MB | {f['after_dry_run_mb']:.0f} MB | "
                f"{f['upload_s']:.1f} s | {f['dry_run_s']:.1f} s | {f['counts']}"
            )
    verdict = "ok" if worst < TARGET_MB else "MISSED"
    print(f"peak {worst:.0f} MB, target < {TARGET_MB} MB: {verdict}")
    return 0 if worst < TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
