"""Audit log: who changed which personal-data record, and login events."""
