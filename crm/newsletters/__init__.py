"""Newsletters: lists, consent, double opt-in, audiences, templates, campaigns, deliveries."""
