"""The values the uploads service takes and returns (internal, not wire shapes)."""

from __future__ import annotations

from typing import Literal

import msgspec

from homesync.services.files.views import FileInfo
from homesync.store.db import Row

__all__ = [
    "ChunkReceipt",
    "ChunkSpan",
    "ChunkTarget",
    "FileRequest",
    "InitEntry",
    "InitResult",
    "UploadOptions",
    "UploadState",
    "chunk_spans",
    "upload_state",
]

Priority = Literal["high", "normal", "low"]
EntryStatus = Literal["upload", "deduplicated", "deleted_on_server", "conflict"]


class FileRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One file of ``upload/init`` as the app described it (paths not yet checked)."""

    local_id: str
    name: str
    folder: str
    size: int
    checksum: str
    mime_type: str = "application/octet-stream"
    priority: Priority = "normal"
    file_id: str | None = None  # a new version of this file
    restore: bool = False  # upload even if the user deleted this content on the server
    # The device's syncToken for a new version: another device's change after it makes the
    # upload a conflict. Worked out by init: ``base_seq``, the journal position it names
    # for the user's own files, and ``shared_base_seq`` for files shared with them.
    sync_token: str | None = None
    base_seq: int | None = None
    shared_base_seq: int | None = None


class UploadOptions(msgspec.Struct, frozen=True, kw_only=True):
    wifi_only: bool = False
    chunk_size: int | None = None  # None: the server's default
    max_retries: int = 3


class ChunkSpan(msgspec.Struct, frozen=True):
    index: int
    start: int
    end: int  # inclusive, as the contract has it


def chunk_spans(size: int, chunk_size: int, indexes: list[int] | None = None) -> list[ChunkSpan]:
    """The byte ranges of a file's chunks (all, or only ``indexes``)."""
    total = (size + chunk_size - 1) // chunk_size
    wanted = range(total) if indexes is None else indexes
    return [ChunkSpan(i, i * chunk_size, min(size, (i + 1) * chunk_size) - 1) for i in wanted]


class UploadState(msgspec.Struct, frozen=True, kw_only=True):
    """The server's truth about one upload (``GET /upload/{id}``)."""

    id: str
    session_id: str
    local_id: str
    folder: str
    name: str
    size: int
    mime_type: str
    checksum: str
    priority: str
    wifi_only: bool
    max_retries: int
    chunk_size: int
    total_chunks: int
    status: str
    completed_chunks: list[int]
    bytes_uploaded: int
    reported_bytes: int | None
    expires_at: int
    created_at: int
    updated_at: int
    file_id: str | None
    # The chunk-URL capability (see services.upload_urls): ?exp=<url_exp>&sig=<url_sig>.
    url_exp: int
    url_sig: str

    @property
    def missing_chunks(self) -> list[int]:
        if self.status == "completed":
            return []
        have = set(self.completed_chunks)
        return [i for i in range(self.total_chunks) if i not in have]

    def spans(self, indexes: list[int] | None = None) -> list[ChunkSpan]:
        return chunk_spans(self.size, self.chunk_size, indexes)


def upload_state(row: Row, received: list[int], *, now: int, url_sig: str, url_exp: int) -> UploadState:
    """An :class:`UploadState` from an uploads row and the indexes received."""
    status = row["status"]
    if status in ("pending", "uploading", "paused", "failed") and row["expires_at"] <= now:
        status = "expired"  # gc has not marked it yet; the truth is that it is gone
    completed = status == "completed"
    return UploadState(
        id=row["id"], session_id=row["session_id"], local_id=row["local_id"],
        folder=row["folder"], name=row["name"], size=row["size"], mime_type=row["mime_type"],
        checksum=row["checksum"], priority=row["priority"], wifi_only=bool(row["wifi_only"]),
        max_retries=row["max_retries"], chunk_size=row["chunk_size"],
        total_chunks=row["total_chunks"], status=status,
        completed_chunks=list(range(row["total_chunks"])) if completed else received,
        bytes_uploaded=row["size"] if completed else row["received_bytes"],
        reported_bytes=row["reported_bytes"], expires_at=row["expires_at"],
        created_at=row["created_at"], updated_at=row["updated_at"], file_id=row["file_id"],
        url_exp=url_exp, url_sig=url_sig,
    )


class InitEntry(msgspec.Struct, frozen=True, kw_only=True):
    """What ``upload/init`` decided for one file."""

    local_id: str
    status: EntryStatus
    file_id: str | None = None  # deduplicated: the file; conflict: the entry in the way
    upload_id: str | None = None  # status "upload"
    upload: UploadState | None = None  # filled in by the service once committed
    error_code: str | None = None  # status "conflict"
    error_message: str | None = None
    conflicted_with: str | None = None  # deduplicated into a conflicted copy kept earlier


class InitResult(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str
    expires_at: int
    entries: list[InitEntry]


class ChunkTarget(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk a PUT may write: authorised, in range, upload open (or ``completed``: then
    the chunk is only compared with what the upload had). ``length`` bytes expected."""

    upload_id: str
    user_id: str
    device_id: str  # the uploading device: its chunk PUTs in flight are limited
    index: int
    start: int
    length: int
    replaceable: bool  # a differing re-send may replace the stored chunk
    completed: bool = False  # a re-send after complete: compared, never stored
    expires_at: int = 0  # the upload's expiry as the PUT began (ms)


class ChunkReceipt(msgspec.Struct, frozen=True, kw_only=True):
    upload_id: str
    index: int
    bytes_received: int
    completed_chunks: int
    total_chunks: int
    status: str


class CompleteResult(msgspec.Struct, frozen=True, kw_only=True):
    upload_id: str
    file: FileInfo
    created: bool  # the file itself is new (not a new version, not matched to an existing one)
    # The file this upload was to replace, when another device changed it first: the
    # upload became a conflicted copy beside it instead.
    conflicted_with: str | None = None
