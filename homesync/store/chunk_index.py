"""The ``chunks`` table: which chunks the database knows, and which nothing refers to.

A chunk is referenced by a version's manifest (``version_chunks``) or by an upload still
collecting it (``upload_chunks``). Unreferenced chunks are garbage once older than the
grace period; gc deletes the row and the bytes in one write transaction. The bytes go
first, so a crash before that transaction commits leaves a row without bytes that nothing
uses: harmless (nothing can start using a chunk without finding its bytes), and the next
gc forgets it. A crash after it may undo the deletion of the bytes (not fsynced): a chunk
file without a row, which gc removes as any other.

A row's ``created_at`` is where that grace period starts: when the chunk was first
stored, moved forward by :func:`let_go_of_versions` whenever a version using it is
dropped (replaced and pruned, purged from the trash, its account removed). So the chunks
of a year-old file purged a minute ago are kept for the whole grace period from now: a
download of that version already under way (it read the manifest before the drop) still
finds every chunk, also when ``homesync gc`` runs in another process, which sees only
the database. A download still running a grace period after the drop can be cut short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from homesync.store.db import Conn, Row, execute, fetchall

__all__ = [
    "add",
    "any_known",
    "count_and_bytes",
    "delete",
    "is_referenced",
    "is_unreferenced",
    "known",
    "known_or_used",
    "let_go_of_versions",
    "page",
    "referenced_by",
    "still_unreferenced",
    "unreferenced_before",
    "unreferenced_in_page",
]

_UNREFERENCED = (
    "NOT EXISTS (SELECT 1 FROM version_chunks vc WHERE vc.chunk_hash = c.hash)"
    " AND NOT EXISTS (SELECT 1 FROM upload_chunks uc WHERE uc.chunk_hash = c.hash)"
)


async def add(tx: Conn, chunk_hash: str, size: int, now: int) -> None:
    """Know a chunk (once: a chunk stored again keeps its first row)."""
    await execute(tx, "INSERT OR IGNORE INTO chunks (hash, size, created_at) VALUES (?, ?, ?)",
                  (chunk_hash, size, now))


async def let_go_of_versions(tx: Conn, versions: str, params: Sequence[object],
                             now: int) -> None:
    """Restart the grace period of the chunks of versions about to be deleted (in ``tx``).

    ``versions`` is a SELECT of their ids, with ``params``. Only version drops do this,
    not ended uploads: an upload's chunks were never readable by a download, and their
    grace stays counted from when they were written.
    """
    await execute(tx, "UPDATE chunks SET created_at = max(created_at, ?) WHERE hash IN"
                      f" (SELECT chunk_hash FROM version_chunks WHERE version_id IN ({versions}))",
                  (now, *params))


async def any_known(conn: Conn) -> bool:
    """Whether the database knows any chunk at all."""
    rows = await fetchall(conn, "SELECT EXISTS (SELECT 1 FROM chunks)")
    return bool(rows[0][0])


async def known(conn: Conn, hashes: Iterable[str]) -> set[str]:
    """Which of ``hashes`` have a row."""
    wanted = list(hashes)
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        batch = wanted[i:i + 500]
        rows = await fetchall(
            conn, f"SELECT hash FROM chunks WHERE hash IN ({','.join('?' * len(batch))})", batch
        )
        found.update(r[0] for r in rows)
    return found


async def known_or_used(conn: Conn, hashes: Iterable[str]) -> set[str]:
    """Which of ``hashes`` have a row, or are used by a version or an open upload without
    one (a row deleted by hand: the bytes are still that file's, and no orphan of gc's)."""
    wanted = list(hashes)
    found = await known(conn, wanted)
    rest = [h for h in wanted if h not in found]
    for i in range(0, len(rest), 500):
        batch = rest[i:i + 500]
        marks = ",".join("?" * len(batch))
        rows = await fetchall(
            conn, f"SELECT chunk_hash FROM version_chunks WHERE chunk_hash IN ({marks})"
                  f" UNION SELECT chunk_hash FROM upload_chunks WHERE chunk_hash IN ({marks})",
            [*batch, *batch])
        found.update(r[0] for r in rows)
    return found


async def unreferenced_before(conn: Conn, cutoff: int, *, after: str, limit: int) -> list[Row]:
    """(hash, size) of chunks nothing refers to, whose grace period (``created_at``)
    started before ``cutoff``, by hash after ``after``."""
    return await fetchall(
        conn,
        f"SELECT c.hash, c.size FROM chunks c WHERE c.hash > ? AND c.created_at < ?"
        f" AND {_UNREFERENCED} ORDER BY c.hash LIMIT ?",
        (after, cutoff, limit),
    )


async def unreferenced_in_page(conn: Conn, cutoff: int, *, after: str,
                               limit: int) -> tuple[list[Row], str | None]:
    """One page of the chunk table: the next ``limit`` chunks by hash after ``after``.

    Returns (hash, size) of those nothing refers to whose grace period started before
    ``cutoff``, and the page's last hash (None: no chunks after ``after``). gc reads
    these on a reader and checks them again in its write transaction
    (:func:`still_unreferenced`): a page costs the same however sparse the garbage is.
    """
    rows = await fetchall(
        conn,
        f"SELECT c.hash, c.size, (c.created_at < ? AND {_UNREFERENCED}) AS garbage"
        " FROM (SELECT hash, size, created_at FROM chunks WHERE hash > ?"
        " ORDER BY hash LIMIT ?) c ORDER BY c.hash",
        (cutoff, after, limit),
    )
    return [r for r in rows if r["garbage"]], (rows[-1]["hash"] if rows else None)


async def still_unreferenced(tx: Conn, hashes: Sequence[str], cutoff: int) -> list[Row]:
    """(hash, size) of those of ``hashes`` (at most 500) that nothing refers to and whose
    grace period started before ``cutoff``, as of ``tx``."""
    if not hashes:
        return []
    return await fetchall(
        tx,
        f"SELECT c.hash, c.size FROM chunks c WHERE c.hash IN ({','.join('?' * len(hashes))})"
        f" AND c.created_at < ? AND {_UNREFERENCED} ORDER BY c.hash",
        (*hashes, cutoff),
    )


async def is_unreferenced(conn: Conn, chunk_hash: str) -> bool:
    rows = await fetchall(conn, f"SELECT 1 FROM chunks c WHERE c.hash = ? AND {_UNREFERENCED}",
                          (chunk_hash,))
    return bool(rows)


async def is_referenced(conn: Conn, chunk_hash: str) -> bool:
    """Whether a version's manifest or an open upload uses the chunk (with or without a row)."""
    rows = await fetchall(
        conn,
        "SELECT EXISTS (SELECT 1 FROM version_chunks WHERE chunk_hash = ?1)"
        " OR EXISTS (SELECT 1 FROM upload_chunks WHERE chunk_hash = ?1)",
        (chunk_hash,))
    return bool(rows[0][0])


async def delete(tx: Conn, chunk_hash: str) -> None:
    await execute(tx, "DELETE FROM chunks WHERE hash = ?", (chunk_hash,))


async def page(conn: Conn, *, after: str, limit: int) -> list[Row]:
    """(hash, size) of known chunks in hash order (fsck walks them all)."""
    return await fetchall(conn, "SELECT hash, size FROM chunks WHERE hash > ? ORDER BY hash LIMIT ?",
                          (after, limit))


async def referenced_by(conn: Conn, chunk_hash: str) -> list[Row]:
    """The files whose versions use a chunk: (user email, folder, name, file id, version id, current)."""
    return await fetchall(
        conn,
        "SELECT u.email, f.folder, f.name, f.id AS file_id, v.id AS version_id,"
        " (f.version_id = v.id) AS is_current FROM version_chunks vc"
        " JOIN file_versions v ON v.id = vc.version_id JOIN files f ON f.id = v.file_id"
        " JOIN users u ON u.id = f.user_id WHERE vc.chunk_hash = ? GROUP BY v.id",
        (chunk_hash,),
    )


async def count_and_bytes(conn: Conn) -> tuple[int, int]:
    rows = await fetchall(conn, "SELECT count(*), coalesce(sum(size), 0) FROM chunks")
    return int(rows[0][0]), int(rows[0][1])
