"""Core pages: start page, health check, administration overview, the dev mail outbox."""
