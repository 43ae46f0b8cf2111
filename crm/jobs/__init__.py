"""Scheduled job runs as recorded by the scheduler, and the admin page showing them."""
