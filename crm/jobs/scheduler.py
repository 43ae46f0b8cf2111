"""Building and starting the APScheduler 3 scheduler, embedded or as its own process.

Every scheduler (the embedded one of the development server and any number of
`python -m scheduled` processes) competes for leadership through the database
(crm/jobs/leadership.py); jobs run only in the leader, the others wait and take over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_START
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from crm.jobs.leadership import LeaseTimes, RowLock, leader_lock_for
from crm.jobs.periodic import JOBS, JobSpec

log = logging.getLogger(__name__)
TIMEZONE = "Europe/Berlin"
# A tick missed by less than this still runs once when the process comes back.
MISFIRE_GRACE_SECONDS = 3600
DEFAULT_TICK_SECONDS = 60


def tick_seconds(app: Flask) -> int:
    """Seconds between runs of the every-minute jobs (CRM_SCHEDULER_TICK_SECONDS, for tests)."""
    raw = app.config.get("CRM_SCHEDULER_TICK_SECONDS") or os.environ.get(
        "CRM_SCHEDULER_TICK_SECONDS"
    )
    return max(int(raw), 1) if raw else DEFAULT_TICK_SECONDS


class Leadership:
    """This process's claim to lead: a heartbeat thread renews the lease every `renew` seconds.

    A thread of its own rather than a scheduler job, so that long jobs filling APScheduler's
    thread pool cannot delay the renewal until the lease runs out.
    """

    def __init__(self, app: Flask, lock: RowLock | None = None) -> None:
        self.app = app
        self.lock = lock
        self._mutex = threading.Lock()
        self._leading = False
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _lock(self) -> RowLock:
        if self.lock is None:
            from crm.extensions import db

            times = LeaseTimes.from_config(self.app.config)
            with self.app.app_context():
                self.lock = leader_lock_for(db.engine, times=times)
        return self.lock

    @property
    def times(self) -> LeaseTimes:
        """The lease, renewal and margin this process works with."""
        return self._lock().times

    def _changed(self, leading: bool) -> None:
        """Log a change of leadership (call with the mutex held)."""
        if leading != self._leading:
            holder = self._lock().holder
            if leading:
                log.info("scheduler %s is now leading", holder)
            else:
                log.warning("scheduler %s is no longer leading", holder)
        self._leading = leading

    def renew(self) -> bool:
        """Take or renew the lease; log changes of leadership."""
        with self._mutex:
            if self._closed:  # a renewal racing the shutdown
                return False
            leading = self._lock().acquire()
            self._changed(leading)
            return leading

    def is_leader(self) -> bool:
        """True while this process's last renewal won and has not run out (no database read)."""
        return self.lock is not None and self.lock.is_leader()

    def lost(self) -> None:
        """The lease check before a job failed: this process follows from now on."""
        with self._mutex:
            if self.lock is not None:
                self.lock.forget()
            self._changed(False)

    def start(self, *_: Any) -> None:
        """Start the heartbeat thread (once; the first renewal happens at once)."""
        if self._thread is not None:
            return
        interval = self.times.renew.total_seconds()

        def beat() -> None:
            while not self._stop.is_set():
                try:
                    self.renew()
                except Exception:  # keep beating: the next renewal may reach the database
                    log.exception("scheduler heartbeat failed")
                self._stop.wait(interval)

        self._thread = threading.Thread(target=beat, name="scheduler-heartbeat", daemon=True)
        self._thread.start()

    def release(self, *_: Any) -> None:
        """Give leadership up (on shutdown) so another process takes over at once."""
        self._stop.set()
        with self._mutex:
            self._closed = True
            if self.lock is not None and self._leading:
                self.lock.release()
                log.info("scheduler %s released leadership", self.lock.holder)
            self._leading = False


def run_if_leader(job: JobSpec, app: Flask, leadership: Leadership) -> Any:
    """Run a job only in the leading process, and only while its lease is confirmed valid.

    The confirmation is part of writing the job's start row (see RowLock.valid_clause): a
    leader that lost its lease while frozen records and runs nothing, and follows.
    """
    if not leadership.is_leader():
        return None
    from crm.jobs.service import NotStarted, recorded

    lock = leadership.lock
    assert lock is not None  # is_leader() says so
    try:
        return recorded(
            app, job.id, lambda: job.func(app), holder=lock.holder, only_if=lock.valid_clause()
        )
    except NotStarted:
        leadership.lost()
        return None


def configure(
    scheduler: BaseScheduler, app: Flask, leadership: Leadership | None = None
) -> BaseScheduler:
    """Add every job of the job list (coalescing, misfire grace); lead once the scheduler starts."""
    leadership = leadership or Leadership(app)
    # Check the lease settings now: an error inside the start listener would only be logged.
    leadership.times  # noqa: B018
    common: dict[str, Any] = {
        "replace_existing": True,
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": MISFIRE_GRACE_SECONDS,
    }
    for job in JOBS:
        trigger_args = job.trigger_args
        if job.interval_setting:
            trigger_args = {"seconds": max(int(app.config.get(job.interval_setting) or 10), 1)}
        elif job.every_tick:
            # Aligned to full minutes: a follow-up due at 09:00 goes out at 09:00:00, not 09:00:42.
            start = datetime.now(scheduler.timezone).replace(second=0, microsecond=0)
            trigger_args = {"seconds": tick_seconds(app), "start_date": start}
        scheduler.add_job(
            run_if_leader,
            trigger=job.trigger,
            args=(job, app, leadership),
            id=job.id,
            name=job.description or job.id,
            **common,
            **trigger_args,
        )
    scheduler.add_listener(leadership.start, EVENT_SCHEDULER_START)
    scheduler.add_listener(leadership.release, EVENT_SCHEDULER_SHUTDOWN)
    return scheduler


def start_embedded(app: Flask) -> BackgroundScheduler:
    """Start the scheduler in a background thread of this (development) process."""
    existing = app.extensions.get("crm_scheduler")
    if existing is not None:
        return existing
    scheduler = BackgroundScheduler(timezone=TIMEZONE, daemon=True)
    configure(scheduler, app)
    scheduler.start()
    app.extensions["crm_scheduler"] = scheduler
    start_worker(app, scheduler)
    log.info("embedded scheduler started with %d jobs", len(JOBS))
    return scheduler


def start_worker(app: Flask, scheduler: BaseScheduler) -> None:
    """Run a job worker (imports) in this scheduler process unless CRM_SCHEDULER_RUNS_WORKER is off.

    Every scheduler process runs one, leader or not: the queue is shared safely, and a single
    laptop process thus runs imports without a separate `flask crm worker`.
    """
    if not app.config.get("CRM_SCHEDULER_RUNS_WORKER", True):
        return
    from crm.jobs.worker import start_thread

    worker = start_thread(app)
    scheduler.add_listener(worker.stop, EVENT_SCHEDULER_SHUTDOWN)


def run_forever(app: Flask) -> None:
    """Run the scheduler in the foreground (the production scheduler process)."""
    scheduler = BlockingScheduler(timezone=TIMEZONE)
    configure(scheduler, app)

    def stop(signum: int, _frame: Any) -> None:
        log.info("scheduler stopping (signal %d)", signum)
        scheduler.shutdown(wait=False)

    # A clean stop (systemd, docker stop) releases leadership for an immediate takeover.
    signal.signal(signal.SIGTERM, stop)
    log.info("scheduler process started with %d jobs", len(JOBS))
    start_worker(app, scheduler)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.shutdown(wait=False)
    log.info("scheduler stopped")
