"""The worker: claims queued jobs and runs them, one at a time, until told to stop.

`flask crm worker` runs one in the foreground; the scheduler process runs one in a thread
(`start_thread`), so the development server's embedded scheduler processes imports too.
While a job runs, a heartbeat thread renews its lease; SIGTERM lets the current job finish
and then stops (a job claimed but not yet started is given back).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask

from crm.database import utcnow
from crm.jobs import queue
from crm.jobs.models import BackgroundJob

log = logging.getLogger(__name__)


def worker_name() -> str:
    """host:pid:random, unique per worker (a process may run several threads)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:120]


class Worker:
    """Runs jobs from the queue in an app context of its own."""

    def __init__(
        self, app: Flask, *, name: str | None = None, side_connections: bool = True
    ) -> None:
        """`side_connections=False` writes progress through the job's own session and skips
        the heartbeat thread: for tests whose whole run is one rolled-back transaction."""
        self.app = app
        self.side_connections = side_connections
        self.name = name or worker_name()
        self.lease = timedelta(seconds=int(app.config.get("CRM_JOB_LEASE_SECONDS", 60)))
        self.poll = float(app.config.get("CRM_WORKER_POLL_SECONDS", 1.0))
        self.stopping = threading.Event()

    def stop(self, *_: Any) -> None:
        """Finish the current job, then stop."""
        self.stopping.set()

    def run(self, *, once: bool = False, max_jobs: int | None = None) -> int:
        """Run jobs until stopped (or, with `once`, until the queue is empty); return how many."""
        done = 0
        while not self.stopping.is_set() and (max_jobs is None or done < max_jobs):
            try:
                ran = self.run_one()
            except Exception:
                # The database may be restarting: log once per failure and poll again.
                log.exception("worker %s could not take a job", self.name)
                ran = False
            if ran:
                done += 1
                continue
            if once:
                break
            self.stopping.wait(self.poll)
        return done

    def run_one(self) -> bool:
        """Claim and run one job; False if there was none."""
        from crm.audit.service import Actor, acting_as
        from crm.extensions import db

        with self.app.app_context(), acting_as(Actor(None, "worker")):
            session = db.session
            try:
                if not queue.has_work(session, utcnow(), self.lease):
                    return False
                queue.reclaim_expired(session, utcnow(), self.lease)
                claimed = queue.claim(session, self.name)
                if claimed is None:
                    return False
                if self.stopping.is_set():
                    queue.release(session, claimed.id, self.name)
                    return False
                self._execute(session, db.engine, claimed)
                return True
            finally:
                db.session.remove()

    def _execute(self, session: Any, engine: Any, claimed: queue.Claimed) -> None:
        kind = queue.handler_for(claimed.kind)
        job = session.get(BackgroundJob, claimed.id)
        if kind is None or job is None:
            queue.finish(session, claimed.id, self.name, status="failed", error="unknown kind")
            return
        payload = dict(job.payload or {})
        # The handler starts without an open transaction: on SQLite one would hold the write
        # lock, and the progress written on a connection of its own would wait for it.
        session.commit()
        beat_stop = threading.Event()

        def beat() -> None:
            interval = max(self.lease.total_seconds() / 4, 0.2)
            while not beat_stop.wait(interval):
                try:
                    if not queue.heartbeat(engine, claimed.id, self.name):
                        log.warning("job %s is no longer held by %s", claimed.id, self.name)
                except Exception:
                    log.warning("heartbeat of job %s failed", claimed.id, exc_info=True)

        def progress(done: int, total: int, message: str = "") -> None:
            try:
                queue.report_progress(engine, claimed.id, self.name, done, total, str(message))
            except Exception:
                log.warning("progress of job %s not saved", claimed.id, exc_info=True)

        def progress_inline(done: int, total: int, message: str = "") -> None:
            queue.report_progress_in(session, claimed.id, self.name, done, total, str(message))

        beater = threading.Thread(target=beat, name=f"job-{claimed.id}-heartbeat", daemon=True)
        if self.side_connections:
            beater.start()
        else:
            progress = progress_inline  # type: ignore[assignment]
        log.info("worker %s runs job %s (%s)", self.name, claimed.id, claimed.kind)
        try:
            result = kind.run(queue.JobContext(session, claimed.id, payload, progress))
        except Exception as exc:
            beat_stop.set()
            session.rollback()
            log.exception("job %s (%s) failed", claimed.id, claimed.kind)
            job = session.get(BackgroundJob, claimed.id)
            if kind.on_failed is not None and job is not None:
                kind.on_failed(session, job)
            queue.finish(
                session,
                claimed.id,
                self.name,
                status="failed",
                error="".join(traceback.format_exception(exc)),
            )
        else:
            beat_stop.set()
            queue.finish(session, claimed.id, self.name, status="done", result=result)
        finally:
            beat_stop.set()
            if beater.is_alive():
                beater.join()


def start_thread(app: Flask) -> Worker:
    """Run a worker in a daemon thread of this process (the scheduler's default worker)."""
    worker = Worker(app)
    thread = threading.Thread(target=worker.run, name="crm-worker", daemon=True)
    thread.start()
    app.extensions["crm_worker"] = worker
    return worker
