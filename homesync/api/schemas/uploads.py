"""Wire shapes of §Background upload."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from homesync.api.schemas import RequestStruct, ResponseStruct
from homesync.api.schemas.files import FileOut

# RFC 6838 type/subtype with optional parameters; printable ASCII only, because the
# stored type comes back as a Content-Type header on download. The lookahead keeps out
# CR, LF and other controls anywhere (Python's "$" also matches before a final "\n").
MimeType = Annotated[str, Meta(
    max_length=255,
    pattern=r"^(?![\s\S]*[^ -~])"
            r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
            r"( *;[ -~]*)?$",
)]
Id = Annotated[str, Meta(min_length=1, max_length=100)]


class InitFileIn(RequestStruct):
    local_id: Annotated[str, Meta(min_length=1, max_length=200)]
    name: Annotated[str, Meta(max_length=1024)]
    folder: Annotated[str, Meta(max_length=8192)]
    size: Annotated[int, Meta(ge=0, le=2**62)]
    checksum: Annotated[str, Meta(max_length=80)]
    mime_type: MimeType = "application/octet-stream"
    priority: Literal["high", "normal", "low"] = "normal"
    file_id: Id | None = None  # a new version of this file
    restore: bool = False  # upload even content the user deleted on the server
    sync_token: Annotated[str, Meta(max_length=200)] | None = None  # what a new version is based on


class UploadOptionsIn(RequestStruct):
    wifi_only: bool = False
    chunk_size: Annotated[int, Meta(ge=0, le=2**40)] | None = None
    max_retries: Annotated[int, Meta(ge=0, le=100)] = 3


class InitIn(RequestStruct):
    files: Annotated[list[InitFileIn], Meta(max_length=10_000)]
    upload_options: UploadOptionsIn = msgspec.field(default_factory=UploadOptionsIn)


class ChunkOut(ResponseStruct):
    index: int
    start: int
    end: int
    upload_url: str


class ErrorOut(msgspec.Struct):
    code: str
    message: str


class InitFileOut(ResponseStruct, omit_defaults=True):
    """One file's answer: an upload to do, or a status (deduplicated, conflict, ...)."""

    local_id: str
    status: str
    upload_id: str | None = None
    upload_url: str | None = None
    chunks: list[ChunkOut] | None = None
    total_chunks: int | None = None
    chunk_size: int | None = None
    completed_chunks: list[int] | None = None  # a resumed upload's chunks already stored
    file_id: str | None = None
    conflicted_with: str | None = None  # deduplicated into a conflicted copy kept earlier
    error: ErrorOut | None = None


class InitOut(ResponseStruct):
    upload_session: str
    files: list[InitFileOut]
    expires_at: str


class ChunkPutOut(ResponseStruct):
    upload_id: str
    index: int
    bytes_received: int
    completed_chunks: int  # a count here, as the contract says
    total_chunks: int
    status: str


class UploadStatusOut(ResponseStruct):
    upload_id: str
    upload_session: str
    local_id: str
    name: str
    folder: str
    size: int
    mime_type: str
    checksum: str
    priority: str
    wifi_only: bool
    max_retries: int
    chunk_size: int
    status: str
    completed_chunks: list[int]
    missing_chunks: list[int]
    bytes_uploaded: int
    total_chunks: int
    expires_at: str
    file_id: str | None
    upload_url: str | None  # None once the upload has ended
    chunks: list[ChunkOut]  # the missing chunks with fresh URLs, for resuming


class ProgressIn(RequestStruct):
    upload_id: Id
    status: Literal["uploading", "paused", "failed", "cancelled"]
    completed_chunks: Annotated[list[Annotated[int, Meta(ge=0)]], Meta(max_length=1_000_000)] = \
        msgspec.field(default_factory=list)
    bytes_uploaded: Annotated[int, Meta(ge=0, le=2**62)] | None = None


class CompleteIn(RequestStruct):
    upload_id: Id
    checksum: Annotated[str, Meta(max_length=80)]
    metadata: Annotated[dict[Annotated[str, Meta(max_length=200)], Any], Meta(max_length=200)] = \
        msgspec.field(default_factory=dict)


class CompleteOut(ResponseStruct, omit_defaults=True):
    upload_id: str
    file_id: str
    file: FileOut
    conflicted_with: str | None = None
