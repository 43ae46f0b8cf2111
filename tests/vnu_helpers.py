"""Whether the Nu Html Checker may be missing here: locally yes (skip), under CI never (fail)."""

from __future__ import annotations

import os

import pytest

from scripts import validate_html as vnu


def in_ci() -> bool:
    """True when running under CI (`CI=true`, as .ci/run sets it)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_validator() -> str | None:
    """Why vnu cannot run (None if it can); under CI a missing validator fails the test."""
    missing = vnu.vnu_missing()
    if missing and in_ci():
        pytest.fail(f"the HTML validator must run in CI: {missing}", pytrace=False)
    return missing
