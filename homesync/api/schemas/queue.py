"""Wire shapes of §Offline support (queue), the trash and version history."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from homesync.api.schemas import RequestStruct, ResponseStruct
from homesync.api.schemas.files import FileOut
from homesync.api.schemas.sync import ErrorOut

__all__ = [
    "FileResultOut",
    "PurgedOut",
    "QueueAddIn",
    "QueueAddOut",
    "QueueListOut",
    "QueueOpIn",
    "QueueOpOut",
    "TrashItemOut",
    "TrashListOut",
    "VersionListOut",
    "VersionOut",
]

# As sync/files' path fields: a path under /Shared with me is longer than the owner's
# (paths.normalize_folder holds it to its limits), and a local path may mirror it.
Text = Annotated[str, Meta(max_length=8192)]


class QueueOpIn(RequestStruct):
    id: Annotated[str, Meta(min_length=1, max_length=200)]
    type: Literal["upload", "delete", "move", "rename", "mkdir"]
    local_path: Text | None = None
    remote_path: Text | None = None
    file_id: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    priority: Literal["high", "normal", "low"] = "normal"
    created_at: Annotated[str, Meta(max_length=40)] | None = None  # absent: when received


class QueueAddIn(RequestStruct):
    operations: list[QueueOpIn]
    # What the device had synced when it went offline; without it, each operation is
    # judged against the server's state at its createdAt.
    sync_token: Annotated[str, Meta(max_length=200)] | None = None


class QueueOpOut(ResponseStruct):
    id: str
    type: str
    local_path: str | None
    remote_path: str | None
    file_id: str | None
    priority: str
    created_at: str
    received_at: str
    updated_at: str
    status: str  # pending, processing, done, failed, conflict, cancelled
    error: ErrorOut | None
    result_file_id: str | None
    conflict_id: str | None


class QueueAddOut(ResponseStruct):
    operations: list[QueueOpOut]  # those sent, in the order sent


class QueueListOut(ResponseStruct):
    operations: list[QueueOpOut]
    has_more: bool
    next_cursor: str | None  # pass as ``cursor`` for the next page


class TrashItemOut(ResponseStruct):
    id: str
    type: str  # "file" or "folder"
    name: str
    folder: str
    path: str
    size: int
    checksum: str | None
    modified_at: str
    deleted_at: str
    purge_at: str | None  # null: kept until emptied by hand
    items: int  # entries deleted with it (a folder's contents count)
    total_size: int


class TrashListOut(ResponseStruct):
    items: list[TrashItemOut]
    has_more: bool
    next_cursor: str | None  # pass as ``cursor`` for the next page


class PurgedOut(ResponseStruct):
    file_id: str
    purged: bool
    freed_bytes: int


class FileResultOut(ResponseStruct):
    file: FileOut


class VersionOut(ResponseStruct):
    id: str
    size: int
    checksum: str
    mime_type: str
    modified_at: str
    created_at: str
    device_id: str | None
    device_name: str | None
    is_current: bool


class VersionListOut(ResponseStruct):
    file: FileOut
    versions: list[VersionOut]
