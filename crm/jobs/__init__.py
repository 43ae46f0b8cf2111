"""Scheduled job runs, the queue of background jobs (imports) and its worker."""
