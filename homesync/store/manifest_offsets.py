"""Checking ``version_chunks.byte_offset`` against the chunk sizes, and recomputing it.

Each manifest row says where its chunk begins in the version's content: the sizes of the
chunks before it, added up (migration 0024; written by :func:`files.commit_version`).
Range downloads trust it (:mod:`homesync.store.manifest_spans`): a wrong offset makes them
serve the wrong bytes, with no error. ``homesync fsck`` compares every row with that
running sum in one pass of SQLite over the table (a window function over the rows in
primary-key order, so no sort and no Python per row), and ``--repair-offsets`` writes the
sums back. A version whose chunks do not add up to its size cannot be repaired this way:
its content is damaged (downloads refuse it).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from homesync.store.db import Conn, Row, execute, fetchall, fetchone

__all__ = ["count_rows", "find_bad", "recompute"]

# Where each chunk should begin: the sizes of the chunks before it (NULL sizes, of a
# chunk without a row, count as nothing here; such a manifest is reported apart).
_RUNNING_SUM = ("coalesce(sum(c.size) OVER (PARTITION BY vc.version_id ORDER BY vc.idx"
                " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)")

# Per version: its rows, the rows whose offset is not the running sum (and the first of
# them), what its chunks add up to, and how many of its chunks have a row in chunks.
_MANIFESTS = (
    "SELECT version_id, count(*) AS chunk_count, count(size) AS known,"
    " sum(byte_offset IS NOT running) AS wrong,"
    " min(CASE WHEN byte_offset IS NOT running THEN idx END) AS first_wrong,"
    " coalesce(sum(size), 0) AS total"
    f" FROM (SELECT vc.version_id, vc.idx, vc.byte_offset, c.size, {_RUNNING_SUM} AS running"
    "       FROM version_chunks vc LEFT JOIN chunks c ON c.hash = vc.chunk_hash)"
    " GROUP BY version_id"
)

_BAD = (
    "SELECT m.version_id, m.chunk_count, m.known, m.wrong, m.first_wrong, m.total,"
    " v.size, u.email, f.folder, f.name, (f.version_id IS v.id) AS is_current"
    f" FROM ({_MANIFESTS}) m JOIN file_versions v ON v.id = m.version_id"
    " JOIN files f ON f.id = v.file_id JOIN users u ON u.id = f.user_id"
    " WHERE m.wrong > 0 OR m.known < m.chunk_count OR m.total != v.size"
    # A version with content but no manifest at all: its chunks add up to nothing.
    " UNION ALL"
    " SELECT v.id, 0, 0, 0, NULL, 0, v.size, u.email, f.folder, f.name,"
    " (f.version_id IS v.id) FROM file_versions v"
    " JOIN files f ON f.id = v.file_id JOIN users u ON u.id = f.user_id"
    " WHERE v.size > 0 AND NOT EXISTS (SELECT 1 FROM version_chunks vc WHERE vc.version_id = v.id)"
    " ORDER BY 8, 9, 10, 1"
)

# The offsets of the given versions (a JSON array of ids) set to the running sum, as the
# migration and commit_version compute it; a version with a chunk that has no row keeps
# its offsets (the running sum would be wrong too).
_RECOMPUTE = (
    "UPDATE version_chunks AS t SET byte_offset = o.running"
    f" FROM (SELECT vc.version_id, vc.idx, {_RUNNING_SUM} AS running"
    "       FROM version_chunks vc JOIN chunks c ON c.hash = vc.chunk_hash"
    "       WHERE vc.version_id IN (SELECT value FROM json_each(?1))"
    "       AND vc.version_id NOT IN (SELECT w.version_id FROM version_chunks w"
    "                                 LEFT JOIN chunks d ON d.hash = w.chunk_hash"
    "                                 WHERE w.version_id IN (SELECT value FROM json_each(?1))"
    "                                 AND d.hash IS NULL)) AS o"
    " WHERE t.version_id = o.version_id AND t.idx = o.idx AND t.byte_offset IS NOT o.running"
)


async def count_rows(conn: Conn) -> int:
    """How many manifest rows there are (what the check goes through)."""
    row = await fetchone(conn, "SELECT count(*) FROM version_chunks")
    return int(row[0]) if row else 0


async def find_bad(conn: Conn) -> list[Row]:
    """Every version whose offsets are not the running sum of its chunk sizes, whose
    chunks do not add up to its size, or that names a chunk without a row.

    Columns: version_id, chunk_count, known (chunks with a row), wrong (rows with a
    wrong offset), first_wrong (its idx), total (the chunks' sizes added up), size,
    email, folder, name, is_current.
    """
    return await fetchall(conn, _BAD)


async def recompute(tx: Conn, version_ids: Sequence[str]) -> int:
    """Set the offsets of these versions to the running sum of their chunk sizes, in the
    caller's write transaction; how many rows changed."""
    if not version_ids:
        return 0
    return await execute(tx, _RECOMPUTE, (msgspec.json.encode(list(version_ids)).decode(),))
