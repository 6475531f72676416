"""How services hand a file or folder to the API and the CLI."""

from __future__ import annotations

from typing import Any

import msgspec

from homesync.store.db import Row

__all__ = ["FileInfo", "file_info"]


class FileInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: str  # 'file' or 'folder'
    folder: str
    name: str
    size: int
    checksum: str | None
    mime_type: str | None
    metadata: dict[str, Any]
    version_id: str | None
    modified_at: int
    created_at: int
    seq: int


def file_info(row: Row) -> FileInfo:
    return FileInfo(
        id=row["id"], kind=row["kind"], folder=row["folder"], name=row["name"], size=row["size"],
        checksum=row["checksum"], mime_type=row["mime_type"],
        metadata=msgspec.json.decode(row["metadata"] or "{}"), version_id=row["version_id"],
        modified_at=row["modified_at"], created_at=row["created_at"], seq=row["seq"],
    )
