"""Building and starting the APScheduler 3 scheduler, embedded or as its own process."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from scheduled.jobs import JOBS

log = logging.getLogger(__name__)
TIMEZONE = "Europe/Berlin"
# A tick missed by less than this still runs once when the process comes back.
MISFIRE_GRACE_SECONDS = 3600


def configure(scheduler: BaseScheduler, app: Flask) -> BaseScheduler:
    """Add every job of the job list, with coalescing and a misfire grace time."""
    for job in JOBS:
        scheduler.add_job(
            job.func,
            trigger=job.trigger,
            args=(app,),
            id=job.id,
            name=job.description or job.id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
            **job.trigger_args,
        )
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
    log.info("scheduler process started with %d jobs", len(JOBS))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler stopped")
