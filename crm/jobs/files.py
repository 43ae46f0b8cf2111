"""Uploaded files kept for jobs, behind one small interface (the database by default).

Any web node and any worker reads the same store, so nothing lives in one machine's
`instance/` folder. An object store could implement `FileStore` later; callers only use
`file_store()`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.database import utcnow
from crm.jobs.models import JobFile


class FileStore(Protocol):
    """Put, get and delete a file's bytes by key, in the caller's transaction."""

    def put(self, session: Session, key: str, data: bytes, *, name: str = "") -> None: ...

    def get(self, session: Session, key: str) -> bytes | None: ...

    def delete(self, session: Session, key: str) -> bool: ...

    def keys_before(self, session: Session, cutoff: datetime) -> list[str]: ...


class DatabaseFileStore:
    """Files as rows of `job_file`: written and deleted in the caller's transaction."""

    def put(self, session: Session, key: str, data: bytes, *, name: str = "") -> None:
        """Store `data` under `key` (not committed)."""
        session.execute(
            sa.insert(JobFile).values(
                key=key, name=name[-255:], size_bytes=len(data), data=data, created_at=utcnow()
            )
        )

    def get(self, session: Session, key: str) -> bytes | None:
        """The bytes stored under `key`, or None."""
        return session.scalar(sa.select(JobFile.data).where(JobFile.key == key))

    def delete(self, session: Session, key: str) -> bool:
        """Delete the file under `key` (not committed); False if there was none."""
        result = session.execute(sa.delete(JobFile).where(JobFile.key == key))
        return bool(result.rowcount)

    def keys_before(self, session: Session, cutoff: datetime) -> list[str]:
        """Keys of files stored before `cutoff`."""
        return list(session.scalars(sa.select(JobFile.key).where(JobFile.created_at < cutoff)))


_DEFAULT = DatabaseFileStore()


def file_store() -> FileStore:
    """The configured file store (today always the database)."""
    return _DEFAULT
