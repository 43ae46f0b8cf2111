"""Where the newsletter sender's time goes, and whether sender *processes* beat threads.

    python -m bench.sender_probe phases --db sqlite,postgres          # one connection, per phase
    python -m bench.sender_probe processes --db sqlite --layouts 4x1,2x2,1x4

`phases`: one `run_outbox(app, connections=1)` call of `--messages` messages against a sink
that answers the end of DATA after `--sink-latency-ms` (5), with the SMTP send
(`SMTPTransport.send_raw`) and the 'sent' mark (`DeliveryStore.mark_sent`: UPDATE and
commit) timed per call. The difference between the wall time per message and the send is
what the sender adds to the relay's round trip; the bare smtplib loop of `bench.newsletters`
is the reference for the send itself.

`processes`: for each layout PxC, P sender processes (multiprocessing, spawn) with C
connections each start `run_outbox(app, connections=C, max_messages=--messages)` at the same
moment on one campaign; the aggregate rate, the CPU per message of all sender processes and
the CPU per message of the sink process (from /proc) are printed. Two trials per layout.

A probe, not a benchmark with targets: it explains the figures of `bench.newsletters`
(bench/README.md, "Figures (06.12.2026, third session)").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import newsletters as bn
from bench.smtp_sink import SinkProcess


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(cls: type, name: str, totals: dict[str, float]) -> None:
    """Wrap cls.name so that its wall time adds up in totals[name] (this process only)."""
    original: Callable[..., Any] = getattr(cls, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - started

    setattr(cls, name, wrapper)


def phases(db: str, messages: int, latency_ms: float) -> None:
    """Print wall and CPU per message and the per-phase times of one connection."""
    from crm.mail import sender, store, transports

    tmp = tempfile.mkdtemp(prefix="sender-probe-")
    url = bn.fresh_database(db, tmp)
    try:
        bn.setup(url, tmp, 2 * messages + 100)
        app = bn._app(url, tmp)
        totals: dict[str, float] = defaultdict(float)
        _timed(store.DeliveryStore, "mark_sent", totals)
        _timed(transports.SMTPTransport, "send_raw", totals)
        with SinkProcess(latency_ms=latency_ms) as sink:
            app.config["CRM_SMTP_PORT"] = sink.port
            sender.run_outbox(app, max_messages=100, connections=1)  # warm-up
            for trial in (1, 2):
                totals.clear()
                started, cpu = time.perf_counter(), time.process_time()
                report = sender.run_outbox(app, max_messages=messages, connections=1)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                n = max(report.sent, 1)
                print(
                    f"{db} trial {trial}: {report.sent} sent, wall {wall / n * 1000:.3f} ms/msg, "
                    f"CPU {cpu / n * 1000:.3f} ms/msg, send_raw "
                    f"{totals['send_raw'] / n * 1000:.3f} ms/msg, mark_sent "
                    f"{totals['mark_sent'] / n * 1000:.3f} ms/msg; load {bn.load_average()}"
                )
        _dispose(app)
    finally:
        bn.drop_database(url)


def _process(
    url: str, instance: str, port: int, n: int, connections: int, queue: Any, go: Any
) -> None:
    from crm.mail.sender import run_outbox

    app = bn._app(url, instance, port)
    queue.put("ready")
    go.wait()
    started, cpu = time.perf_counter(), time.process_time()
    report = run_outbox(app, max_messages=n, connections=connections)
    queue.put((report.sent, time.perf_counter() - started, time.process_time() - cpu))
    _dispose(app)


def _dispose(app: Any) -> None:
    """Close the app's pooled database connections (the database is dropped next)."""
    from crm.extensions import db

    with app.app_context():
        db.engine.dispose()


def processes(db: str, layouts: list[tuple[int, int]], messages: int, latency_ms: float) -> None:
    """Print the aggregate rate of P processes × C connections on one campaign."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    tmp = tempfile.mkdtemp(prefix="sender-probe-")
    url = bn.fresh_database(db, tmp)
    try:
        total = sum(p * c for p, c in layouts) * messages * 2 + 100
        bn.setup(url, tmp, total)
        with SinkProcess(latency_ms=latency_ms) as sink:
            assert sink._proc is not None
            for procs, conns in layouts:
                for trial in (1, 2):
                    queue, go = ctx.Queue(), ctx.Event()
                    per = messages * conns
                    workers = [
                        ctx.Process(
                            target=_process, args=(url, tmp, sink.port, per, conns, queue, go)
                        )
                        for _ in range(procs)
                    ]
                    for worker in workers:
                        worker.start()
                    for _ in workers:
                        queue.get()
                    sink_cpu = _cpu_seconds(sink._proc.pid)
                    started = time.perf_counter()
                    go.set()
                    results = [queue.get() for _ in workers]
                    wall = time.perf_counter() - started
                    sink_cpu = _cpu_seconds(sink._proc.pid) - sink_cpu
                    for worker in workers:
                        worker.join()
                    sent = max(sum(r[0] for r in results), 1)
                    print(
                        f"{db} {procs} process(es) × {conns} connection(s), trial {trial}: "
                        f"{sent / wall:.0f} msg/s, sender CPU "
                        f"{sum(r[2] for r in results) / sent * 1000:.2f} ms/msg, sink CPU "
                        f"{sink_cpu / sent * 1000:.2f} ms/msg; load {bn.load_average()}"
                    )
    finally:
        bn.drop_database(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probe", choices=("phases", "processes"))
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres or URLs, with commas")
    parser.add_argument("--messages", type=int, default=600, help="messages per connection")
    parser.add_argument("--sink-latency-ms", type=float, default=5.0)
    parser.add_argument("--layouts", default="4x1,2x2,1x4", help="processes x connections")
    args = parser.parse_args(argv)
    os.environ.setdefault("CRM_ENV", "testing")
    for db in args.db.split(","):
        if args.probe == "phases":
            phases(db, args.messages, args.sink_latency_ms)
        else:
            layouts = [tuple(int(x) for x in item.split("x")) for item in args.layouts.split(",")]
            processes(db, layouts, args.messages, args.sink_latency_ms)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
