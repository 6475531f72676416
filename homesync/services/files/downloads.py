"""Listing, metadata and downloads: ``GET /files``, ``/files/{id}``, ``/files/{id}/content``.

Content is streamed from the version's chunks, never assembled: a range maps to the
chunks it overlaps and only those bytes are read. Another user's ids are simply not found.

A download reads the rows of its version's manifest that its range needs (by where each
chunk begins) once, before the first byte; the version may be dropped while it streams.
Its chunks then stay for gc's grace period counted from the drop
(``chunk_index.let_go_of_versions``); a chunk gc took all the same (``--grace 0s``, or a
download longer than the grace) cuts the response short of its Content-Length, which
every client sees as a failed download, never as a whole file.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable

import msgspec

from homesync.cursors import decode_cursor, encode_cursor, not_a_cursor
from homesync.errors import (
    HomesyncError,
    NotFound,
    PreconditionFailed,
    RangeNotSatisfiable,
    ValidationError,
)
from homesync.paths import join, normalize_folder
from homesync.services.files.preconditions import (
    etag_matches,
    if_range_holds,
    modified_since,
    unmodified_since,
)
from homesync.services.files.views import FileInfo, file_info
from homesync.store import files, manifest_spans
from homesync.store.chunks import ChunkStore
from homesync.store.db import Database, Row

__all__ = ["Content", "Downloads", "Listing", "SharedOwner", "SharedPlace", "parse_range"]

log = logging.getLogger("homesync.downloads")

# The range unit is case-insensitive (RFC 9110 §14.1); positions are ASCII digits only.
_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$", re.IGNORECASE)
MAX_PAGE = 10_000
# A listing read while its folder moved is read again (see Downloads._still_at): a
# folder renamed back and forth without a pause could go on for ever.
_LISTING_TRIES = 5
# A download is opened again while versions replace its file's this often.
_VERSION_TRIES = 5


class _VersionDropped(NotFound):
    """The version a download was opening was dropped meanwhile: open it again (the
    file's new version), or answer 404 (the last try, or the file is gone)."""


class Listing(msgspec.Struct, frozen=True, kw_only=True):
    folder: str
    entries: list[FileInfo]
    next_cursor: str | None  # pass as ``after`` for the next page (opaque, URL-safe)


class Content(msgspec.Struct, frozen=True, kw_only=True):
    """A download ready to stream: ``body`` yields bytes ``start``..``end`` (inclusive)."""

    file: FileInfo
    etag: str
    mime_type: str
    size: int
    start: int
    end: int
    partial: bool
    body: AsyncGenerator[bytes, None]
    # When the server stored this content (epoch ms): Last-Modified, and what the date
    # preconditions test. Not the file's modifiedAt, which the phone chose: a new version
    # may carry an older one, and a client holding a date would get a 304 for new bytes.
    stored_at: int
    # If-None-Match named this ETag, or (without it) If-Modified-Since is not before
    # ``stored_at``: answer 304; ``body`` is then empty and no chunk was looked at.
    not_modified: bool = False

    @property
    def length(self) -> int:
        return self.end - self.start + 1 if self.size else 0


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) for a single ``Range: bytes=…``; None means the whole file.

    Unparseable or multi-range headers are ignored (RFC 9110 allows serving the whole
    representation); a syntactically valid range outside the file raises 416.
    """
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    # Leading zeros are digits like any other (1*DIGIT): "0001" is 1, and only the
    # significant digits tell whether a position is past any file's end.
    first, last = (_significant(g) for g in m.groups())
    if len(first) > 19:  # past any file's end
        raise RangeNotSatisfiable(size)
    if not first and last == "0":  # the last 0 bytes: nothing to send
        raise RangeNotSatisfiable(size)
    if not first and size == 0:
        # Of an empty file, the last N bytes are the only satisfiable range (RFC 9110
        # §14.1.1): all of its nothing, which a 206's Content-Range cannot say: a 200.
        return None
    # A last-pos or suffix length past the end means "to the end" (RFC 9110 §14.1.2),
    # however many digits it has.
    if len(last) > 19:
        last = str(size)
    if not first:  # suffix: the last N bytes
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(size)
    return start, end


def _significant(digits: str) -> str:
    """A range position without its leading zeros ("" stays "", "000" is "0")."""
    return digits.lstrip("0") or digits[:1]


# (reader's user id, file id) → the owner's user id when a share lets the reader see it.
SharedOwner = Callable[[str, str], Awaitable[str | None]]


# (reader's user id, owner's user id, the owner's entry) → the entry where the reader sees it.
SharedPlace = Callable[[str, str, FileInfo], Awaitable[FileInfo]]


async def _not_shared(user_id: str, file_id: str) -> str | None:
    return None


async def _as_is(user_id: str, owner_id: str, info: FileInfo) -> FileInfo:
    return info


class Downloads:
    def __init__(self, db: Database, chunks: ChunkStore) -> None:
        self._db = db
        self._chunks = chunks
        # Set by the shares service: files shared with a user are readable by id (metadata
        # and content), checked on every request so revoking a share ends access at once.
        self.shared_owner: SharedOwner = _not_shared
        # Also set by the shares service: where a shared entry sits for its recipient
        # (their "Shared with me" folder), never the owner's path.
        self.shared_place: SharedPlace = _as_is

    async def list_folder(self, user_id: str, folder: str, *, after: str | None = None,
                          limit: int = 1000) -> Listing:
        """The live entries directly in ``folder`` (folders first), a page at a time."""
        folder = normalize_folder(folder)
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        cursor_folder_id = None
        if after is not None:
            cursor_folder_id, after = _listing_position(decode_cursor(after, max_chars=2000))
        for _ in range(_LISTING_TRIES):
            path, entry = folder, None
            if folder != "/":
                # "/Photos" lists "/photos": names differing only in case are the same name.
                entry = await files.folder_at(self._db.reader, user_id, folder)
                if entry is None:
                    raise NotFound("No such folder")
                path = join(entry["folder"], entry["name"])
            rows = await files.list_folder(self._db.reader, user_id, path, after=after,
                                           limit=limit + 1)
            if entry is None or await self._still_at(user_id, folder, entry):
                break
        if cursor_folder_id is not None and (entry is None or entry["id"] != cursor_folder_id):
            # Another folder now at this path (the first one renamed, moved or deleted
            # since): its entries after the cursor would follow the first one's page.
            raise ValidationError("cursor is for a folder that is no longer at this path:"
                                  " list it again from the first page", field="cursor")
        more = len(rows) > limit
        rows = rows[:limit]
        position = files.listing_cursor(rows[-1]) if more else None
        if position is not None and entry is not None:
            position = f"{entry['id']}/{position}"
        return Listing(folder=path, entries=[file_info(r) for r in rows],
                       next_cursor=encode_cursor(position) if position is not None else None)

    async def _still_at(self, user_id: str, folder: str, entry: Row) -> bool:
        """Whether the folder ``entry`` found at ``folder`` is still there, unchanged: the
        entries were read apart from it, and a folder renamed, moved or deleted in between
        listed as empty (it never was). Any change of its place changes its ``seq``."""
        now = await files.folder_at(self._db.reader, user_id, folder)
        return now is not None and now["id"] == entry["id"] and now["seq"] == entry["seq"]

    async def get(self, user_id: str, file_id: str) -> FileInfo:
        """A live file or folder of the user, or shared with them (404 for anyone else's,
        or for trashed ones)."""
        row = await self._live_row(user_id, file_id)
        info = file_info(row)
        if row["user_id"] != user_id:
            info = await self.shared_place(user_id, row["user_id"], info)
        return info

    async def _live_row(self, user_id: str, file_id: str) -> Row:
        row = await files.get_file(self._db.reader, user_id, file_id)
        if row is None:
            owner = await self.shared_owner(user_id, file_id)
            if owner is not None:
                row = await files.get_file(self._db.reader, owner, file_id)
        if row is None or row["deleted_at"] is not None:
            raise NotFound("No such file")
        return row

    async def open_content(self, user_id: str, file_id: str, *, range_header: str | None = None,
                           if_range: str | None = None, if_none_match: str | None = None,
                           if_modified_since: str | None = None,
                           if_unmodified_since: str | None = None,
                           if_match: str | None = None) -> Content:
        """The current version's bytes, whole or one range (see :meth:`_open_once`).

        The version is read apart from the file, and its manifest apart from both:
        replaced and dropped in between (retention keeping fewer versions than were made
        meanwhile), it is gone, and the file is read again for the version that replaced
        it: a live file is never answered 404. A file deleted meanwhile is 404 then.
        """
        open_once = functools.partial(
            self._open_once, user_id, file_id, range_header=range_header, if_range=if_range,
            if_none_match=if_none_match, if_modified_since=if_modified_since,
            if_unmodified_since=if_unmodified_since, if_match=if_match)
        for _ in range(_VERSION_TRIES - 1):
            try:
                return await open_once()
            except _VersionDropped:
                continue
        return await open_once()

    async def _open_once(self, user_id: str, file_id: str, *, range_header: str | None = None,
                         if_range: str | None = None, if_none_match: str | None = None,
                         if_modified_since: str | None = None,
                         if_unmodified_since: str | None = None,
                         if_match: str | None = None) -> Content:
        """The current version's bytes, whole or one range.

        Preconditions go in RFC 9110 §13.2.2's order: ``If-Unmodified-Since`` first (a
        file modified after it: 412; ignored when the request has ``If-Match``, which is
        not evaluated), then ``If-None-Match`` (a match is ``not_modified``, whatever the
        range), or ``If-Modified-Since`` only when there is no ``If-None-Match``; then
        ``If-Range`` (other content: the range is ignored), and only then is ``Range``
        looked at — so a resumed download of a file that has since shrunk gets the new
        content, not a 416.
        """
        row, version = await self._current_version(user_id, file_id)
        info = file_info(row)
        if row["user_id"] != user_id:
            # Named as the recipient sees it (Content-Disposition), as GET /files/{id} does:
            # a share may show it as "name (2)".
            info = await self.shared_place(user_id, row["user_id"], info)
        size, etag = int(version["size"]), str(version["checksum"])
        stored_at = int(version["created_at"])
        if (if_match is None and if_unmodified_since is not None
                and not unmodified_since(stored_at, if_unmodified_since)):
            raise PreconditionFailed("The file was modified after If-Unmodified-Since")
        if if_none_match is not None:
            not_modified = etag_matches(if_none_match, etag)
        else:
            not_modified = (if_modified_since is not None
                            and not modified_since(stored_at, if_modified_since))
        if not_modified:
            # No bytes go out, so the chunks are not looked at: a damaged file still
            # answers 304 to a client whose copy is current.
            return Content(file=info, etag=etag, mime_type=_servable(str(version["mime_type"])),
                           size=size, start=0, end=size - 1, partial=False, body=_nothing(),
                           stored_at=stored_at, not_modified=True)
        if if_range is not None and not if_range_holds(if_range, etag):
            range_header = None  # the client's copy is of other content
        wanted = parse_range(range_header, size)
        start, end = wanted if wanted is not None else (0, size - 1)
        # Only the manifest rows of the range (a 10 000-row manifest took ~20 ms to read
        # whole, joined with every chunk's size, for a range of a few chunks).
        pieces = await manifest_spans.spans(self._db.reader, version["id"], size, start, end)
        if pieces is None:  # which of dropped or damaged, the whole manifest tells
            pieces = await self._spans_of_whole_manifest(row, info, version, start, end)
        # Checked before the first byte goes out: after that an error can only cut the
        # connection, and the client would not know why. HEAD too: it answers what GET
        # would. All in one call, however many chunks the file has.
        missing = await self._chunks.first_missing([chunk_hash for chunk_hash, _, _ in pieces])
        if missing is not None:
            raise HomesyncError(f"Stored content of {info.name} is damaged (missing chunk"
                                f" {missing[:12]}); run `homesync fsck`")
        return Content(file=info, etag=etag, mime_type=_servable(str(version["mime_type"])),
                       size=size, start=start, end=end, partial=wanted is not None,
                       body=self._stream(info.name, pieces), stored_at=stored_at)

    async def _current_version(self, user_id: str, file_id: str) -> tuple[Row, Row]:
        """The live file and its current version (_VersionDropped if that is gone)."""
        row = await self._live_row(user_id, file_id)
        if row["kind"] != "file" or row["version_id"] is None:
            raise NotFound("Folders have no content")
        version = await files.get_version(self._db.reader, row["user_id"], row["version_id"])
        if version is None or version["file_id"] != file_id:
            raise _VersionDropped("No such file")
        return row, version

    async def _spans_of_whole_manifest(self, row: Row, info: FileInfo, version: Row,
                                       start: int, end: int) -> list[tuple[str, int, int]]:
        manifest = await files.manifest(self._db.reader, version["id"])
        if sum(n for _, n in manifest) != int(version["size"]):
            # Read apart from the version row: a version dropped in between (replaced and
            # pruned, or purged) has no manifest any more, and its "content" would be an
            # empty body under a Content-Length of its size.
            if await files.get_version(self._db.reader, row["user_id"], version["id"]) is None:
                raise _VersionDropped("No such file")
            raise HomesyncError(f"Stored content of {info.name} is damaged (its chunks do not"
                                " add up to its size); run `homesync fsck`")
        return _overlapping(manifest, start, end)

    async def _stream(self, name: str,
                      pieces: list[tuple[str, int, int]]) -> AsyncGenerator[bytes, None]:
        try:
            # Small chunks come joined into pieces of about READ_PIECE, each one trip to a
            # thread (a file of 10 000 chunks of 4 KiB took a trip per chunk, ~3.5 s).
            async for data in self._chunks.read_spans(pieces):
                yield data
        except FileNotFoundError as gone:
            # Each chunk is opened only when its turn comes (an open one survives its
            # deletion). This one was there when the download began, so gc took it:
            # its version was dropped meanwhile and gc's grace, counted from the drop,
            # ran out first (or `homesync gc --grace` was shorter). The bytes are gone;
            # raising makes the server cut the connection short of its
            # Content-Length, so the client knows the download failed.
            log.warning("download of %s cut short: gc removed chunk %s while it was"
                        " being sent (its version was dropped meanwhile)", name,
                        str(gone.filename)[:12])
            raise HomesyncError(f"{name} was deleted while it was being downloaded") \
                from None


async def _nothing() -> AsyncGenerator[bytes, None]:
    return
    yield  # an async generator with no items


def _servable(mime_type: str) -> str:
    """The stored type, fit for a ``Content-Type`` header: one stored before input was
    checked with control or non-ASCII characters in it goes out as octet-stream (a CR
    or LF in a header is an injection, and the ASGI server refuses it with a 500)."""
    if mime_type and mime_type.isascii() and mime_type.isprintable():
        return mime_type
    return "application/octet-stream"


def _overlapping(manifest: list[tuple[str, int]], start: int,
                 end: int) -> list[tuple[str, int, int]]:
    """(chunk, offset from, offset to exclusive) for the chunks covering ``start..end``."""
    out: list[tuple[str, int, int]] = []
    pos = 0
    for chunk_hash, size in manifest:
        lo, hi = max(start, pos), min(end + 1, pos + size)
        if lo < hi:
            out.append((chunk_hash, lo - pos, hi - pos))
        pos += size
        if pos > end:
            break
    return out


def _listing_position(position: str) -> tuple[str | None, str]:
    """The listed folder's id (None for ``/``, and in cursors handed out before it was
    written in) and the position in it, from a folder listing's cursor: ``ID/0:key``
    (folders) or ``ID/1:key`` (files); the older ``0:key`` is read as before."""
    folder_id: str | None = None
    if position[:2] not in ("0:", "1:"):
        folder_id, _, position = position.partition("/")
        if not folder_id or position[:2] not in ("0:", "1:"):
            raise not_a_cursor()
    return folder_id, position
