"""The sender benchmark's harness at tiny sizes, so it cannot rot between benchmark rounds."""

from __future__ import annotations

import json
import os
import secrets
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench import newsletters
from bench.smtp_sink import SinkProcess

pytestmark = pytest.mark.slow


def _bench_db() -> str:
    """SQLite, or a database of its own on the suite's PostgreSQL server."""
    server = os.environ.get("CRM_TEST_DATABASE_URL")
    if not server:
        return "sqlite"
    url = sa.make_url(server).set(database=f"crm_bench_smoke_{secrets.token_hex(4)}")
    return url.render_as_string(hide_password=False)


def _send_one(port: int) -> float:
    conn = smtplib.SMTP("127.0.0.1", port)
    try:
        started = time.perf_counter()
        conn.sendmail("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n")
        seconds = time.perf_counter() - started
        conn.quit()
    finally:
        conn.close()
    return seconds


def test_the_sink_answers_the_end_of_data_after_its_latency() -> None:
    with SinkProcess(latency_ms=80) as slow:
        slow_seconds = min(_send_one(slow.port) for _ in range(3))
        assert slow.stop() == (3, 3)
    with SinkProcess() as fast:
        fast_seconds = min(_send_one(fast.port) for _ in range(3))
    assert slow_seconds >= 0.08
    assert fast_seconds < 0.08


def test_the_sink_captures_the_first_messages_for_the_bare_loop(tmp_path: Path) -> None:
    capture = tmp_path / "capture.jsonl"
    with SinkProcess(capture=capture, capture_max=2) as sink:
        for _ in range(3):
            _send_one(sink.port)
    messages = newsletters.read_capture(capture)
    assert len(messages) == 2
    assert messages[0].recipients == ["b@example.org"]
    assert messages[0].data.startswith(b"Subject: x\r\n")


def test_peak_memory_is_read_from_the_measured_process_itself() -> None:
    # A child that allocates 64 MB: its own VmHWM shows them, whatever its parent's size.
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; b = bytearray(64 << 20); print(1, flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()
        assert newsletters.vm_hwm_kb(child.pid) >= 64 * 1024
    finally:
        child.communicate("")
    assert newsletters.vm_hwm_kb() > 0


def test_the_sender_benchmark_runs_end_to_end_at_tiny_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The bench sets these for the apps it builds; give them back to the suite afterwards.
    monkeypatch.setenv("CRM_ENV", "testing")
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path))
    out = tmp_path / "figures.json"
    code = newsletters.main(
        [
            "--db", _bench_db(),
            "--sink-latency-ms", "1",
            "--connections", "1,2",
            "--rounds", "1",
            "--slice", "4",
            "--slice-zero", "4",
            "--warmup", "3",
            "--memory", "10,20",
            "--memory-connections", "2",
            "--json", str(out),
        ]
    )  # fmt: skip
    assert code in (0, 1)  # tiny slices say nothing about the targets
    figures = json.loads(out.read_text())
    (run,) = figures["throughput"]
    assert run["recipients"] == 3 + 1 * (1 + 2) * (4 + 4)
    series = {(s["latency_ms"], s["what"], s["connections"]): s for s in run["series"]}
    assert set(series) >= {(1.0, "bare", 1), (1.0, "sender", 1), (0.0, "bare", 1)}
    assert sum(n for n, _ in series[(1.0, "sender", 1)]["slices"]) == 4
    assert [m["recipients"] for m in figures["memory"]] == [10, 20]
    assert all(m["peak_kb"] >= m["startup_kb"] > 10_000 for m in figures["memory"])
    report = capsys.readouterr().out
    assert "| bare smtplib loop | 1 |" in report
    assert "memory flat" in report


def test_the_sender_probe_times_the_phases_and_the_processes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench import sender_probe

    db = _bench_db()
    assert sender_probe.main(["phases", "--db", db, "--messages", "10"]) == 0
    assert sender_probe.main(["processes", "--db", db, "--layouts", "2x1", "--messages", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    phase_lines = [line for line in lines if " trial " in line and "send_raw" in line]
    assert len(phase_lines) == 2
    assert all("10 sent" in line for line in phase_lines)
    process_lines = [line for line in lines if "process(es)" in line]
    assert len(process_lines) == 2
    assert all("sink CPU" in line for line in process_lines)
