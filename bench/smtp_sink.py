"""An aiosmtpd sink in its own process: accepts every message, keeps only counts.

    python -m bench.smtp_sink --port 0        # prints "READY <port>" once listening

The newsletter benchmark starts it as a subprocess so the SMTP server does not share the
sender's interpreter (and GIL). SIGTERM (or stdin closing) stops it; it then prints
"COUNT <messages> <recipients>". `SinkProcess` wraps that for the benchmark and the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from types import TracebackType
from typing import Self

from aiosmtpd.smtp import SMTP, Envelope, Session


class _CountingHandler:
    """Counts accepted messages and recipients; the content is dropped."""

    def __init__(self) -> None:
        self.messages = 0
        self.recipients = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages += 1
        self.recipients += len(envelope.rcpt_tos)
        return "250 2.0.0 OK"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve(port: int) -> None:
    handler = _CountingHandler()
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
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port or _free_port()))


class SinkProcess:
    """`with SinkProcess() as sink:` a sink subprocess on sink.port; sink.count after exit."""

    def __init__(self, cpus: set[int] | None = None) -> None:
        self.cpus = cpus
        self.port = 0
        self.messages: int | None = None
        self.recipients: int | None = None
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.smtp_sink", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
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
