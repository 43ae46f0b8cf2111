"""Package boundaries that the import-linter contracts (pyproject.toml) cannot express."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Exceptions, each with the reason it is one (none today).
KNOWN: set[tuple[str, str, str]] = set()


def _package(module: str) -> str:
    # crm.events.views -> crm.events; crm.database -> crm.database; scheduled.jobs -> scheduled
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "crm" else parts[0]


def private_imports_across_packages() -> set[tuple[str, str, str]]:
    """(importer, imported module, name) for every `from X import _name` across packages."""
    found = set()
    for path in sorted([*(ROOT / "crm").rglob("*.py"), *(ROOT / "scheduled").rglob("*.py")]):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if node.module.split(".")[0] not in ("crm", "scheduled"):
                continue
            if _package(node.module) == _package(module):
                continue
            found.update(
                (module, node.module, alias.name)
                for alias in node.names
                if alias.name.startswith("_")
            )
    return found


def test_no_package_imports_another_packages_private_names():
    assert private_imports_across_packages() - KNOWN == set(), (
        "make the helper public in its owning package (or move it to a shared module)"
    )


def test_every_known_exception_still_exists():
    # Once an exception is fixed, its entry goes too, so that it cannot come back unnoticed.
    assert private_imports_across_packages() >= KNOWN
