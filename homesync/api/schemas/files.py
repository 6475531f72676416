"""Wire shapes of GET /files, /files/{id}."""

from __future__ import annotations

from typing import Any

from homesync.api.schemas import ResponseStruct


class FileOut(ResponseStruct):
    id: str
    type: str  # "file" or "folder"
    name: str
    folder: str
    path: str
    size: int
    mime_type: str | None
    checksum: str | None
    modified_at: str
    created_at: str
    version_id: str | None
    metadata: dict[str, Any]


class FileListOut(ResponseStruct):
    folder: str
    files: list[FileOut]
    has_more: bool
    next_cursor: str | None  # send as ?cursor= for the next page
