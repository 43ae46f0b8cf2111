"""Running queued background jobs (imports) in tests with the real worker."""

from __future__ import annotations

from flask import Flask

from crm.jobs.worker import Worker


def run_jobs(app: Flask, *, side_connections: bool = False) -> int:
    """Run every queued job with a worker in this thread; return how many ran.

    Inside the rolled-back `db_session` of a test, the worker must not open connections of
    its own (they could not see the test's rows), hence `side_connections=False` by default;
    tests on an app with a database of their own pass True, as production runs.
    """
    return Worker(app, side_connections=side_connections).run(once=True)
