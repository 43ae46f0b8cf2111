"""Placements (Vermittlungen) and matching firms' needs with participants."""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.placements import service

    service.connect_signals()
