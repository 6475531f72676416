"""Wire shapes of §File synchronisation (sync/status, sync/files) and conflicts."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from homesync.api.schemas import RequestStruct, ResponseStruct
from homesync.api.schemas.uploads import MimeType

__all__ = [
    "ChangeResultOut",
    "ChangesOut",
    "ConflictListOut",
    "ConflictOut",
    "ConflictSideOut",
    "DeletedEntryOut",
    "ErrorOut",
    "LocalChangeIn",
    "LocalDataIn",
    "ResolveIn",
    "ResolveItemIn",
    "ResolveOut",
    "ResolveResultOut",
    "SyncEntryOut",
    "SyncFilesIn",
    "SyncFilesOut",
    "SyncStatusOut",
    "UploadTargetOut",
]

Id = Annotated[str, Meta(min_length=1, max_length=200)]
Text = Annotated[str, Meta(max_length=8192)]  # paths are held to their limits later
Size = Annotated[int, Meta(ge=0, le=2**62)]


class ErrorOut(ResponseStruct):
    code: str
    message: str


# -- GET /sync/status -------------------------------------------------------------------

class SyncEntryOut(ResponseStruct, gc=False):
    """A created or updated entry: the contract's fields, plus ``type`` and ``mimeType``.

    ``gc=False``: pages hold up to 10 000 of these, and they never form cycles.
    """

    id: str
    type: str  # "file" or "folder"
    name: str
    folder: str
    size: int
    modified_at: str
    checksum: str | None
    mime_type: str | None


class DeletedEntryOut(ResponseStruct, gc=False):
    id: str
    deleted_at: str


class ChangesOut(ResponseStruct):
    created: list[SyncEntryOut]
    updated: list[SyncEntryOut]
    deleted: list[DeletedEntryOut]


class ConflictSideOut(ResponseStruct, omit_defaults=True):
    file_id: str | None = None
    entry_type: str | None = None  # "file" or "folder"
    action: str | None = None
    local_id: str | None = None
    name: str | None = None
    folder: str | None = None
    size: int | None = None
    checksum: str | None = None
    modified_at: str | None = None
    deleted_at: str | None = None
    version_id: str | None = None
    device_id: str | None = None
    device_name: str | None = None


class ConflictOut(ResponseStruct):
    id: str
    type: str  # modify_modify, modify_delete, delete_modify, name_collision
    file_id: str | None
    created_at: str
    local: ConflictSideOut
    remote: ConflictSideOut


class SyncStatusOut(ResponseStruct):
    last_sync_at: str
    has_changes: bool
    has_more: bool
    changes: ChangesOut
    conflicts: list[ConflictOut]
    next_sync_token: str
    # A full listing, to replace the local state with: the token was unknown (a restored
    # server) or older than the sync horizon (sync.history_retention).
    reset: bool


# -- POST /sync/files -------------------------------------------------------------------

class LocalChangeIn(RequestStruct):
    action: Literal["upload", "delete", "rename", "move", "mkdir"]
    local_id: Id
    file_id: Id | None = None
    name: Text | None = None
    folder: Text | None = None
    size: Size | None = None
    checksum: Annotated[str, Meta(max_length=100)] | None = None
    last_modified: Annotated[str, Meta(max_length=40)] | None = None
    mime_type: MimeType | None = None  # becomes a Content-Type header on download
    restore: bool = False


class SyncFilesIn(RequestStruct):
    local_changes: list[LocalChangeIn]
    sync_token: Annotated[str, Meta(max_length=200)] | None = None


class ChangeResultOut(ResponseStruct, omit_defaults=True):
    local_id: str
    status: str
    file_id: str | None = None
    conflict_id: str | None = None
    error: ErrorOut | None = None


class SyncFilesOut(ResponseStruct):
    results: list[ChangeResultOut]
    next_sync_token: str


# -- conflicts --------------------------------------------------------------------------

class LocalDataIn(RequestStruct):
    """What the device has now, if it differs from what it reported with the change."""

    name: Text | None = None
    folder: Text | None = None
    modified_at: Annotated[str, Meta(max_length=40)] | None = None
    checksum: Annotated[str, Meta(max_length=100)] | None = None
    size: Size | None = None


class ResolveItemIn(RequestStruct):
    conflict_id: Id
    resolution: Literal["keep_remote", "keep_local", "keep_both"]
    file_id: Id | None = None
    local_data: LocalDataIn | None = None


class ResolveIn(RequestStruct):
    conflicts: list[ResolveItemIn]


class UploadTargetOut(ResponseStruct, omit_defaults=True):
    folder: str
    name: str
    file_id: str | None = None


class ResolveResultOut(ResponseStruct, omit_defaults=True):
    conflict_id: str
    status: str  # resolved, upload_required, rejected
    resolution: str
    file_id: str | None = None
    copy_file_id: str | None = None
    upload_to: UploadTargetOut | None = None
    error: ErrorOut | None = None


class ResolveOut(ResponseStruct):
    results: list[ResolveResultOut]


class ConflictListOut(ResponseStruct):
    conflicts: list[ConflictOut]
