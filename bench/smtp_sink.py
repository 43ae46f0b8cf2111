"""An aiosmtpd sink in its own process: accepts every message, keeps only counts.

    python -m bench.smtp_sink --port 0                   # prints "READY <port>" once listening
    python -m bench.smtp_sink --latency-ms 5             # a relay on the LAN
    python -m bench.smtp_sink --capture msgs.jsonl --capture-max 50

The newsletter benchmark starts it as a subprocess so the SMTP server does not share the
sender's interpreter (and GIL). `--latency-ms` delays the reply to the end of DATA, once per
message, as a relay's queue write does; other commands answer at once. `--capture` writes the
envelope and bytes of the first `--capture-max` messages as JSON lines (the bare loop's
pre-built messages). SIGTERM stops it; it then prints "COUNT <messages> <recipients>".
`SinkProcess` wraps that for the benchmark and the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from aiosmtpd.smtp import SMTP, Envelope, Session


class _CountingHandler:
    """Counts accepted messages and recipients; the content is dropped (or a few captured)."""

    def __init__(
        self, latency: float = 0.0, capture: IO[str] | None = None, capture_max: int = 0
    ) -> None:
        self.messages = 0
        self.recipients = 0
        self.latency = latency
        self.capture = capture
        self.capture_left = capture_max if capture is not None else 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.latency:
            await asyncio.sleep(self.latency)
        self.messages += 1
        self.recipients += len(envelope.rcpt_tos)
        if self.capture_left > 0 and self.capture is not None:
            self.capture_left -= 1
            data = envelope.original_content or b""
            self.capture.write(
                json.dumps(
                    {
                        "from": envelope.mail_from,
                        "to": envelope.rcpt_tos,
                        "mail_options": envelope.mail_options,
                        "data": base64.b64encode(data).decode("ascii"),
                    }
                )
                + "\n"
            )
            self.capture.flush()
        return "250 2.0.0 OK"


# The subprocess runs `-m bench.smtp_sink` from the checkout this module belongs to.
_REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve(
    port: int, latency: float = 0.0, capture: IO[str] | None = None, capture_max: int = 0
) -> None:
    handler = _CountingHandler(latency, capture, capture_max)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test", ident="bench-sink"),
        host="127.0.0.1",
        port=port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {port}", flush=True)
    await stop.wait()
    server.close()
    print(f"COUNT {handler.messages} {handler.recipients}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the sink until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="delay before the reply to the end of DATA, once per message (default 0)",
    )
    parser.add_argument("--capture", type=Path, help="write the first messages here (JSON lines)")
    parser.add_argument("--capture-max", type=int, default=100, help="how many to capture")
    args = parser.parse_args(argv)
    latency = max(args.latency_ms, 0.0) / 1000
    with contextlib.ExitStack() as stack:
        capture = (
            stack.enter_context(args.capture.open("w", encoding="ascii")) if args.capture else None
        )
        asyncio.run(_serve(args.port or _free_port(), latency, capture, args.capture_max))


class SinkProcess:
    """`with SinkProcess() as sink:` a sink subprocess on sink.port; sink.count after exit."""

    def __init__(
        self,
        cpus: set[int] | None = None,
        *,
        latency_ms: float = 0.0,
        capture: Path | None = None,
        capture_max: int = 100,
    ) -> None:
        self.cpus = cpus
        self.latency_ms = latency_ms
        self.capture = capture
        self.capture_max = capture_max
        self.port = 0
        self.messages: int | None = None
        self.recipients: int | None = None
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "bench.smtp_sink", "--port", "0"]
        command += ["--latency-ms", str(self.latency_ms)]
        if self.capture is not None:
            command += ["--capture", str(self.capture), "--capture-max", str(self.capture_max)]
        self._proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=_REPO,
        )
        if self.cpus:
            os.sched_setaffinity(self._proc.pid, self.cpus)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            self._proc.kill()
            self._proc.wait()
            raise RuntimeError(f"SMTP sink did not start: {line!r}")
        self.port = int(line[1])
        return self

    def stop(self) -> tuple[int, int]:
        """Stop the sink and return (messages, recipients) it accepted."""
        proc = self._proc
        if proc is None:
            return self.messages or 0, self.recipients or 0
        self._proc = None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == "COUNT":
                self.messages, self.recipients = int(parts[1]), int(parts[2])
        return self.messages or 0, self.recipients or 0

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            self.stop()


if __name__ == "__main__":
    main()
