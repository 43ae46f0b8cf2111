"""The scheduler process: `python -m scheduled` (the machinery lives in crm.jobs).

Only this package imports `crm`, never the other way round: `flask crm serve` embeds the
same scheduler (crm.jobs.scheduler) and the admin page lists the same job list
(crm.jobs.periodic), so both belong to the application; this package is just the entry point.
"""
