"""The values the sync services take and return (internal, not wire shapes)."""

from __future__ import annotations

from typing import Literal

import msgspec

from homesync.errors import HomesyncError

__all__ = [
    "Actor",
    "ChangeResult",
    "ChangeStatus",
    "ErrorInfo",
    "LocalAction",
    "LocalChange",
    "error_info",
]

LocalAction = Literal["upload", "delete", "rename", "move", "mkdir"]
ChangeStatus = Literal["applied", "upload_required", "deduplicated", "conflict", "rejected",
                       "deleted_on_server"]


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who makes a change, and what they had seen when they decided to make it.

    ``base_seq`` is the journal position of the device's sync token: a change to a file
    whose content another device changed after it is a conflict, never an overwrite.
    """

    user_id: str  # whose tree the change is made in
    device_id: str
    device_name: str
    base_seq: int
    now: int
    # For entries others share with the user: the journal position the device had seen
    # them up to (from the token's share-feed position). None: judged by ``queued_at`` in
    # the owner's journal, or else by ``base_seq``.
    shared_seq: int | None = None
    # An offline-queue operation sent without a token: when the app queued it. Changes
    # the owner made from then on are ones the device cannot have seen.
    queued_at: int | None = None
    # ``POST /sync/files``: the journal's newest seq when the batch began. What the device
    # journaled after it is this batch's (a delete before an upload of the same file).
    batch_from: int | None = None
    # Set when the change is made in another user's tree through a write share
    # (:func:`homesync.services.sharing.access.route_change`).
    via_share: bool = False


class ErrorInfo(msgspec.Struct, frozen=True):
    code: str
    message: str


class LocalChange(msgspec.Struct, frozen=True, kw_only=True):
    """One change a device made while it was away (``POST /sync/files``, the queue).

    Paths are as the device sent them; the engine checks and normalises them.
    """

    action: LocalAction
    local_id: str
    file_id: str | None = None
    name: str | None = None
    folder: str | None = None
    size: int | None = None
    checksum: str | None = None
    modified_at: int | None = None
    mime_type: str | None = None
    restore: bool = False  # upload content the user deleted on the server after all
    # A field the API could not read (a ``lastModified`` that is no time): the change is
    # rejected with this error and the rest of its batch still applies, as for a bad path.
    invalid: ErrorInfo | None = None


def error_info(exc: HomesyncError) -> ErrorInfo:
    return ErrorInfo(exc.code, exc.message)


class ChangeResult(msgspec.Struct, frozen=True, kw_only=True):
    local_id: str
    status: ChangeStatus
    file_id: str | None = None
    conflict_id: str | None = None
    error: ErrorInfo | None = None
    owner_id: str | None = None  # not on the wire: whose tree a shared change landed in
