"""Building and starting the APScheduler 3 scheduler, embedded or as its own process.

Every scheduler (the embedded one of the development server and any number of
`python -m scheduled` processes) competes for leadership through the database
(scheduled/lock.py); jobs run only in the leader, the others wait and take over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from scheduled.jobs import JOBS, JobSpec
from scheduled.lock import RENEW_SECONDS, LeaderLock, leader_lock_for

log = logging.getLogger(__name__)
TIMEZONE = "Europe/Berlin"
# A tick missed by less than this still runs once when the process comes back.
MISFIRE_GRACE_SECONDS = 3600
LEADERSHIP_JOB_ID = "scheduler-leadership"
DEFAULT_TICK_SECONDS = 60


def tick_seconds(app: Flask) -> int:
    """Seconds between runs of the every-minute jobs (CRM_SCHEDULER_TICK_SECONDS, for tests)."""
    raw = app.config.get("CRM_SCHEDULER_TICK_SECONDS") or os.environ.get(
        "CRM_SCHEDULER_TICK_SECONDS"
    )
    return max(int(raw), 1) if raw else DEFAULT_TICK_SECONDS


class Leadership:
    """This process's claim to lead, renewed by a job every RENEW_SECONDS."""

    def __init__(self, app: Flask, lock: LeaderLock | None = None) -> None:
        self.app = app
        self.lock = lock
        self._mutex = threading.Lock()
        self._leading = False
        self._closed = False

    def renew(self) -> bool:
        """Take or renew the lock; log changes of leadership."""
        with self._mutex, self.app.app_context():
            if self._closed:  # a renewal still queued when the scheduler shut down
                return False
            if self.lock is None:
                from crm.extensions import db

                self.lock = leader_lock_for(db.engine)
            leading = self.lock.acquire()
            if leading != self._leading:
                if leading:
                    log.info("scheduler %s is now leading", self.lock.holder)
                else:
                    log.warning("scheduler %s is no longer leading", self.lock.holder)
            self._leading = leading
            return leading

    def is_leader(self) -> bool:
        """True while this process holds a valid lock."""
        return self.lock is not None and self.lock.is_leader()

    def release(self, *_: Any) -> None:
        """Give leadership up (on shutdown) so another process takes over at once."""
        with self._mutex:
            self._closed = True
            if self.lock is not None and self._leading:
                self.lock.release()
                log.info("scheduler %s released leadership", self.lock.holder)
            self._leading = False
            dispose = getattr(self.lock, "dispose", None)
            if dispose is not None:
                dispose()


def run_if_leader(job: JobSpec, app: Flask, leadership: Leadership) -> Any:
    """Run a job only in the leading process; followers skip the tick."""
    if not leadership.is_leader():
        return None
    from crm.jobs.service import recorded

    holder = getattr(leadership.lock, "holder", "")
    return recorded(app, job.id, lambda: job.func(app), holder=str(holder))


def configure(
    scheduler: BaseScheduler, app: Flask, leadership: Leadership | None = None
) -> BaseScheduler:
    """Add every job of the job list (coalescing, misfire grace) plus the leadership renewal."""
    leadership = leadership or Leadership(app)
    common: dict[str, Any] = {
        "replace_existing": True,
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": MISFIRE_GRACE_SECONDS,
    }
    scheduler.add_job(
        leadership.renew,
        trigger="interval",
        seconds=RENEW_SECONDS,
        id=LEADERSHIP_JOB_ID,
        name="Scheduler-Führung übernehmen oder verlängern",
        next_run_time=datetime.now(scheduler.timezone),  # try at once on start
        **common,
    )
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
    log.info("embedded scheduler started with %d jobs", len(JOBS))
    return scheduler


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
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.shutdown(wait=False)
    log.info("scheduler stopped")
