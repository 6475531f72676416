"""Wire shapes of sharing (``/shares``)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from homesync.api.schemas import RequestStruct, ResponseStruct


class ShareIn(RequestStruct):
    file_id: Annotated[str, Meta(min_length=1, max_length=200)]
    email: Annotated[str, Meta(max_length=320)]
    permission: Literal["read", "write"] = "read"


class PersonOut(ResponseStruct):
    name: str
    email: str


class ShareOut(ResponseStruct):
    id: str
    file_id: str
    type: str  # file or folder
    name: str
    size: int
    mime_type: str | None
    checksum: str | None
    modified_at: str
    permission: str
    email: str  # who it is shared with
    owner: PersonOut
    created_at: str
    path: str | None  # where it is in the owner's files (shown to the owner only)


class ShareCreatedOut(ResponseStruct):
    share: ShareOut


class ShareListOut(ResponseStruct):
    shared: list[ShareOut]  # by the caller
    shared_with_me: list[ShareOut]


class ShareRemovedOut(ResponseStruct):
    share_id: str
    removed: bool


class SharedEntryOut(ResponseStruct):
    id: str
    type: str
    name: str
    path: str  # inside the shared folder, which is "/"
    size: int
    mime_type: str | None
    checksum: str | None
    modified_at: str


class SharedFolderOut(ResponseStruct):
    share_id: str
    folder: str
    files: list[SharedEntryOut]
    has_more: bool
    next_cursor: str | None
