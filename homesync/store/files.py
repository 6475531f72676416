"""Files, folders and their versions: the ``files``, ``file_versions`` and ``version_chunks`` tables.

:func:`commit_version` is the one way content enters a user's tree (uploads, dedup,
sync, conflict copies, version restores all go through it). A version is a manifest: the
ordered chunk hashes whose concatenation is the content, plus size, checksum, mime type
and metadata. A file keeps its id across versions; a new version never touches the rows
or chunks of the old one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from homesync.errors import NameConflict, NotFound
from homesync.ids import new_id
from homesync.paths import check_not_reserved, join, name_key
from homesync.store import journal, users
from homesync.store.db import Conn, Row, execute, fetchall, fetchone

__all__ = [
    "FILE_COLUMNS",
    "CommittedVersion",
    "canonical_folder",
    "commit_version",
    "ensure_folder",
    "find_by_checksum",
    "find_by_name",
    "find_version_by_checksum",
    "folder_at",
    "get_file",
    "get_version",
    "list_folder",
    "listing_cursor",
    "manifest",
]

FILE_COLUMNS = (
    "id, user_id, kind, folder, name, name_key, version_id, size, checksum, mime_type,"
    " metadata, modified_at, created_at, created_seq, seq, deleted_at"
)


class CommittedVersion(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`commit_version` did."""

    file_id: str
    version_id: str
    seq: int  # the journal entry of this change
    created: bool  # a new file (True) or a new version of an existing one (False)


async def commit_version(
    tx: Conn, *, user_id: str, file_id: str | None, folder: str, name: str, size: int,
    checksum: str, mime_type: str, metadata: dict[str, Any], modified_at: int,
    chunk_hashes: Sequence[str], device_id: str | None, now: int,
) -> CommittedVersion:
    """Record new content in the caller's write transaction.

    - ``file_id`` None: a new file at ``folder``/``name`` (already normalised with
      :mod:`homesync.paths`). Missing parent folders are created (journal ``mkdir``). A live
      entry of the same folder and ``name_key`` raises :class:`NameConflict` (its id in
      ``details["fileId"]``): deciding what to do about it is the caller's business.
    - ``file_id`` given: a new current version of that live file of ``user_id``
      (:class:`NotFound` otherwise). ``folder``/``name`` are ignored: the file stays where
      it is (moving is a separate change). The previous version row and its chunks stay.

    Either way: inserts ``file_versions`` + ``version_chunks`` (every hash must already
    have a ``chunks`` row), appends a journal entry (``create`` or ``update``) and stores
    its seq in ``files.seq`` (and ``created_seq``), and adds ``size`` to the user's
    ``used_bytes`` (quota counts every retained version; whoever purges a version
    subtracts it). The caller guarantees the chunks are durable and that their
    concatenation has ``size`` bytes and sha256 ``checksum``.
    """
    version_id = new_id("ver")
    meta_json = msgspec.json.encode(metadata).decode()
    created = file_id is None
    if file_id is None:
        folder = await ensure_folder(tx, user_id=user_id, folder=folder, device_id=device_id,
                                     now=now)
        existing = await find_by_name(tx, user_id, folder, name)
        if existing is not None:
            raise NameConflict(f"{join(folder, name)} already exists", fileId=existing["id"])
        check_not_reserved(folder, name)
        file_id = new_id("file")
        seq = await journal.append(tx, user_id=user_id, file_id=file_id, action="create",
                                   device_id=device_id, now=now)
        await execute(
            tx,
            "INSERT INTO files (id, user_id, kind, folder, name, name_key, size, mime_type,"
            " metadata, modified_at, created_at, created_seq, seq)"
            " VALUES (?, ?, 'file', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (file_id, user_id, folder, name, name_key(name), size, mime_type, meta_json,
             modified_at, now, seq, seq),
        )
    else:
        row = await get_file(tx, user_id, file_id)
        if row is None or row["deleted_at"] is not None or row["kind"] != "file":
            raise NotFound("No such file")
        seq = await journal.append(tx, user_id=user_id, file_id=file_id, action="update",
                                   device_id=device_id, now=now)
    await execute(
        tx,
        "INSERT INTO file_versions (id, file_id, user_id, size, checksum, mime_type, metadata,"
        " modified_at, created_at, device_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (version_id, file_id, user_id, size, checksum, mime_type, meta_json, modified_at, now,
         device_id),
    )
    # One statement, each row with where its chunk begins (the sizes before it added up:
    # a download finds the rows of a range by it, store/manifest_spans.py). A hash
    # without a chunks row fails the foreign key, as before.
    await execute(
        tx,
        "INSERT INTO version_chunks (version_id, idx, chunk_hash, byte_offset)"
        " SELECT ?, j.key, j.value, coalesce(sum(c.size) OVER (ORDER BY j.key"
        " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)"
        " FROM json_each(?) AS j LEFT JOIN chunks c ON c.hash = j.value",
        (version_id, msgspec.json.encode(list(chunk_hashes)).decode()),
    )
    await execute(
        tx,
        "UPDATE files SET version_id = ?, size = ?, checksum = ?, mime_type = ?, metadata = ?,"
        " modified_at = ?, seq = ? WHERE id = ?",
        (version_id, size, checksum, mime_type, meta_json, modified_at, seq, file_id),
    )
    await users.add_usage(tx, user_id, size)
    return CommittedVersion(file_id=file_id, version_id=version_id, seq=seq, created=created)


async def canonical_folder(conn: Conn, user_id: str, folder: str) -> str:
    """``folder`` spelt as the user's tree spells it: names that differ only in case are one
    name (``/Photos/2024`` is ``/photos/2024`` when ``photos`` exists), so each segment
    that exists as a folder takes its stored name. Segments from the first missing one
    on (or a file in the way) stay as given."""
    if folder == "/":
        return folder
    parent = "/"
    segments = folder[1:].split("/")
    for i, segment in enumerate(segments):
        row = await find_by_name(conn, user_id, parent, segment)
        if row is None or row["kind"] != "folder":
            return join(parent, "/".join(segments[i:]))
        parent = join(parent, row["name"])
    return parent


async def folder_at(conn: Conn, user_id: str, folder: str) -> Row | None:
    """The user's live folder at ``folder`` (not ``/``), each segment found as
    :func:`canonical_folder` finds it (in any case); None when one is missing or a file.
    Its stored path is ``join(row["folder"], row["name"])``."""
    row: Row | None = None
    parent = "/"
    for segment in folder[1:].split("/"):
        row = await find_by_name(conn, user_id, parent, segment)
        if row is None or row["kind"] != "folder":
            return None
        parent = join(parent, row["name"])
    return row


async def ensure_folder(tx: Conn, *, user_id: str, folder: str, device_id: str | None,
                        now: int) -> str:
    """Create ``folder`` and its missing ancestors as folder entries (``mkdir -p``); the
    folder's path as stored (see :func:`canonical_folder`), which callers must use.

    Each new folder gets a journal ``mkdir`` entry. A *file* standing where a folder is
    needed raises :class:`NameConflict`.
    """
    if folder == "/":
        return folder
    parent = "/"
    for segment in folder[1:].split("/"):
        row = await find_by_name(tx, user_id, parent, segment)
        if row is None:
            check_not_reserved(parent, segment)
            folder_id = new_id("file")
            seq = await journal.append(tx, user_id=user_id, file_id=folder_id, action="mkdir",
                                       device_id=device_id, now=now)
            await execute(
                tx,
                "INSERT INTO files (id, user_id, kind, folder, name, name_key, modified_at,"
                " created_at, created_seq, seq) VALUES (?, ?, 'folder', ?, ?, ?, ?, ?, ?, ?)",
                (folder_id, user_id, parent, segment, name_key(segment), now, now, seq, seq),
            )
        elif row["kind"] != "folder":
            raise NameConflict(f"{join(parent, segment)} is a file, not a folder",
                               fileId=row["id"])
        else:
            segment = row["name"]  # "Photos" where "photos" exists is "photos"
        parent = join(parent, segment)
    return parent


async def get_file(conn: Conn, user_id: str, file_id: str) -> Row | None:
    """A file or folder of ``user_id`` (also when in the trash: check ``deleted_at``)."""
    return await fetchone(conn, f"SELECT {FILE_COLUMNS} FROM files WHERE id = ? AND user_id = ?",
                          (file_id, user_id))


async def find_by_name(conn: Conn, user_id: str, folder: str, name: str) -> Row | None:
    """The live entry that ``name`` would collide with in ``folder`` (case-insensitive)."""
    return await fetchone(
        conn,
        f"SELECT {FILE_COLUMNS} FROM files WHERE user_id = ? AND folder = ? AND name_key = ?"
        " AND deleted_at IS NULL",
        (user_id, folder, name_key(name)),
    )


async def list_folder(conn: Conn, user_id: str, folder: str, *, after: str | None = None,
                      limit: int | None = None) -> list[Row]:
    """Live entries directly in ``folder``: folders first, then by name (case-insensitive).

    ``after`` (from :func:`listing_cursor` of the last row of a page) continues a listing.
    Folders and files are read one after the other, each in the order of a name index
    from the cursor on (folders: files_live_folders, which holds only them; files:
    files_live_name): a page of a folder of 100 000 photos reads its own rows instead of
    sorting the whole folder, and its first page no longer walks them all for folders.
    """
    order, _, key = after.partition(":") if after is not None else ("0", "", "")
    rows: list[Row] = []
    if order != "1":  # still among the folders
        rows = await _entries(conn, user_id, folder, folders=True, after=key or None,
                              limit=limit)
        key = ""
    if limit is None or len(rows) < limit:
        rows += await _entries(conn, user_id, folder, folders=False, after=key or None,
                               limit=None if limit is None else limit - len(rows))
    return rows


async def _entries(conn: Conn, user_id: str, folder: str, *, folders: bool, after: str | None,
                   limit: int | None) -> list[Row]:
    """The folders (or the files) of ``folder`` by name key, after ``after``."""
    sql = (f"SELECT {FILE_COLUMNS} FROM files WHERE user_id = ? AND folder = ?"
           f" AND deleted_at IS NULL AND kind {'=' if folders else '<>'} 'folder'")
    params: list[Any] = [user_id, folder]
    if after is not None:
        sql += " AND name_key > ?"
        params.append(after)
    sql += " ORDER BY name_key"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return await fetchall(conn, sql, params)


def listing_cursor(row: Row) -> str:
    """The ``after`` value that continues a listing after ``row``."""
    return f"{0 if row['kind'] == 'folder' else 1}:{row['name_key']}"


async def find_by_checksum(conn: Conn, user_id: str, checksum: str) -> Row | None:
    """A live file of ``user_id`` whose current content has ``checksum``."""
    return await fetchone(
        conn,
        f"SELECT {FILE_COLUMNS} FROM files WHERE user_id = ? AND checksum = ?"
        " AND deleted_at IS NULL AND kind = 'file' ORDER BY created_at LIMIT 1",
        (user_id, checksum),
    )


async def find_version_by_checksum(conn: Conn, user_id: str, checksum: str) -> Row | None:
    """Any retained version of ``user_id`` (current, older, or in the trash) with ``checksum``.

    Its manifest can make a new file without the bytes being sent again (dedup).
    """
    return await fetchone(
        conn,
        "SELECT id, file_id, size, checksum, mime_type FROM file_versions"
        " WHERE user_id = ? AND checksum = ? ORDER BY created_at DESC LIMIT 1",
        (user_id, checksum),
    )


async def get_version(conn: Conn, user_id: str, version_id: str) -> Row | None:
    return await fetchone(
        conn,
        "SELECT id, file_id, user_id, size, checksum, mime_type, metadata, modified_at,"
        " created_at, device_id FROM file_versions WHERE id = ? AND user_id = ?",
        (version_id, user_id),
    )


async def manifest(conn: Conn, version_id: str) -> list[tuple[str, int]]:
    """The version's chunks in order, as (sha256 hex, size)."""
    rows = await fetchall(
        conn,
        "SELECT vc.chunk_hash, c.size FROM version_chunks vc JOIN chunks c ON c.hash = vc.chunk_hash"
        " WHERE vc.version_id = ? ORDER BY vc.idx",
        (version_id,),
    )
    return [(r[0], r[1]) for r in rows]
