"""`python -m bench.template_bombs`: time and peak memory of each template bomb of the tests.

Each payload runs in its own process with an address-space limit and a timeout, so the
figures of an unprotected sandbox (run with PYTHONPATH pointing at an older checkout) can be
taken too without taking the machine down. Prints a Markdown table.

python -m bench.template_bombs                    # every payload, 2 GiB and 20 s per payload
python -m bench.template_bombs --limit-mb 3000 --timeout 60
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc


def _measure_one(name: str) -> dict[str, object]:
    """Render one payload twice: thread CPU time of the first call, traced peak of the second."""
    from crm.newsletters.rendering import TemplateProblem, render_for_recipient, sample_context
    from tests.test_newsletters_template_limits import BOMBS, Tpl

    tpl = Tpl(body_html=BOMBS[name])

    def run() -> str:
        try:
            rendered = render_for_recipient(tpl, sample_context())
        except TemplateProblem as problem:
            return "refused: " + problem.detail
        return f"rendered ({len(rendered.html):,} characters)"

    started, wall = time.thread_time(), time.perf_counter()
    outcome = run()
    seconds, wall = time.thread_time() - started, time.perf_counter() - wall
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": seconds, "wall": wall, "peak_mb": peak / 1e6, "outcome": outcome}


def _child(name: str, limit_mb: int, timeout: float) -> dict[str, object]:
    def limit() -> None:
        size = limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.template_bombs", "--one", name],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit,  # noqa: PLW1509 - no threads in this process
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"killed after {timeout:g} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"outcome": f"crashed: {last[:60]}"}
    return json.loads(done.stdout)


def main() -> None:
    """Run every payload in a child process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--limit-mb", type=int, default=2048)
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_measure_one(args.one)))
        return
    from tests.test_newsletters_template_limits import BOMBS

    print("| payload | CPU s | wall s | peak MB | outcome |")
    print("|---|---:|---:|---:|---|")
    for name in BOMBS:
        row = _child(name, args.limit_mb, args.timeout)
        figures = (
            f"{row['seconds']:.3f} | {row['wall']:.3f} | {row['peak_mb']:.1f}"
            if "seconds" in row
            else "– | – | –"
        )
        print(f"| {name} | {figures} | {row['outcome']} |", flush=True)


if __name__ == "__main__":
    main()
