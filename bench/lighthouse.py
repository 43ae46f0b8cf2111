"""`python -m bench.lighthouse`: Lighthouse performance of the start page, contacts and board.

Starts the demo app as `make run` does (demo data on SQLite in a temporary folder, the real
development server process on a free port), logs in as the demo admin, and runs Lighthouse
(npm package, pinned in package.json) with the desktop preset on each page, passing the
session cookie as an extra header. Prints scores with FCP, LCP, TBT and CLS and the load
average. Target: a performance score of at least 95 on each page (issue 15).

python -m bench.lighthouse                  # the three pages, one Lighthouse run each
python -m bench.lighthouse --runs 3         # three runs per page, every run printed
python -m bench.lighthouse --json out.json  # the raw figures as well
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.__main__ import load_average

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
TARGET_SCORE = 95
PAGES = {
    "start page": "/",
    "contacts (organisations)": "/kontakte/organisationen",
    "board (targets)": "/auswertung/",
}
METRICS = {
    "FCP": "first-contentful-paint",
    "LCP": "largest-contentful-paint",
    "TBT": "total-blocking-time",
    "CLS": "cumulative-layout-shift",
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _flask(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{done.stderr.decode()[-2000:]}")


def versions() -> str:
    """Lighthouse's and Chromium's versions, printed with the figures."""
    tools = ([str(LIGHTHOUSE), "--version"], [os.environ.get("CHROME_PATH", CHROMIUM), "--version"])
    found = []
    for argv in tools:
        try:
            found.append(subprocess.run(argv, capture_output=True, check=False).stdout.decode())
        except OSError:
            found.append(f"{argv[0]} missing")
    return "Lighthouse " + " / ".join(v.strip() for v in found)


def start_demo(instance: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    """Migrate, seed and serve the demo app like `make run`; return the process and URL."""
    env = {
        **os.environ,
        "CRM_ENV": "development",
        "CRM_INSTANCE_PATH": str(instance),
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("DATABASE_URL", "CRM_TEST_DATABASE_URL"):
        env.pop(name, None)
    _flask(env, "db", "upgrade")
    _flask(env, "crm", "seed-demo", "--if-empty")
    port = _free_port()
    log = (instance / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=10).status_code == 200:
                return proc, url, env
        except requests.RequestException:  # not listening yet, or busy starting up
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"the demo server did not start; see {instance / 'server.log'}")


def session_cookie(url: str) -> str:
    """Log in as the demo admin; the Cookie header value of that session."""
    from crm.demo import DEMO_PASSWORD, DEMO_USERS

    http = requests.Session()
    page = http.get(f"{url}/anmelden", timeout=30)
    match = _CSRF.search(page.text)
    if match is None:
        raise SystemExit("no CSRF token on the login page")
    response = http.post(
        f"{url}/anmelden",
        data={"csrf_token": match[1], "email": DEMO_USERS[0][0], "password": DEMO_PASSWORD},
        timeout=30,
        allow_redirects=False,
    )
    if response.status_code != 302:
        raise SystemExit(f"login failed: {response.status_code}")
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def lighthouse(url: str, cookie: str) -> dict[str, Any]:
    """One Lighthouse run (desktop preset, performance only); its score and metrics."""
    if not LIGHTHOUSE.exists():
        raise SystemExit(f"{LIGHTHOUSE} missing: run `npm ci --ignore-scripts` first")
    completed = subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            "--preset=desktop",
            "--only-categories=performance",
            "--output=json",
            "--output-path=stdout",
            "--quiet",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
            f"--extra-headers={json.dumps({'Cookie': cookie})}",
        ],
        cwd=ROOT,
        env={**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", CHROMIUM)},
        capture_output=True,
        check=False,
        timeout=300,
    )
    if completed.returncode != 0:
        raise SystemExit(f"lighthouse failed on {url}:\n{completed.stderr.decode()[-2000:]}")
    report = json.loads(completed.stdout)
    if report.get("runtimeError"):
        raise SystemExit(f"lighthouse on {url}: {report['runtimeError']}")
    if report["finalDisplayedUrl"].split("?")[0].endswith("/anmelden"):
        raise SystemExit(f"lighthouse was sent to the login page from {url}: cookie not taken")
    audits = report["audits"]
    return {
        "url": url,
        "score": round(report["categories"]["performance"]["score"] * 100),
        **{name: audits[audit]["numericValue"] for name, audit in METRICS.items()},
        "opportunities": [
            audits[key]["title"]
            for key in ("render-blocking-resources", "unused-javascript", "unused-css-rules")
            if key in audits
            and (audits[key].get("score") is not None)
            and audits[key]["score"] < 0.9
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="Lighthouse runs per page")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)

    results: list[dict[str, Any]] = []
    print(versions(), flush=True)
    with tempfile.TemporaryDirectory(prefix="crm-lighthouse-") as tmp:
        proc, base, _env = start_demo(Path(tmp))
        try:
            cookie = session_cookie(base)
            load_before = load_average()
            for name, path in PAGES.items():
                for run in range(1, args.runs + 1):
                    result = {"page": name, "run": run, **lighthouse(base + path, cookie)}
                    results.append(result)
                    print(
                        f"{name:<26} run {run}: score {result['score']:>3}  "
                        f"FCP {result['FCP']:>5.0f} ms  LCP {result['LCP']:>5.0f} ms  "
                        f"TBT {result['TBT']:>4.0f} ms  CLS {result['CLS']:.3f}"
                        + (
                            f"  ({'; '.join(result['opportunities'])})"
                            if result["opportunities"]
                            else ""
                        ),
                        flush=True,
                    )
            load_after = load_average()
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    print(f"\nload average (1 min) before/after: {load_before} / {load_after}")
    missed = [r for r in results if r["score"] < TARGET_SCORE]
    print(f"target: performance >= {TARGET_SCORE} on every page and run: ", end="")
    print("met" if not missed else f"missed in {len(missed)} of {len(results)} runs")
    if args.json:
        args.json.write_text(json.dumps({"load": [load_before, load_after], "runs": results}))
    return 0 if not missed else 1


if __name__ == "__main__":
    raise SystemExit(main())
