"""The operations tables: ``backups`` (what was backed up, when) and ``restores``."""

from __future__ import annotations

from homesync.store.db import Conn, Row, execute, fetchall, fetchone

__all__ = [
    "CLOCK_POSITIONS_PER_MS",
    "JOURNAL_RESTORE_GAP",
    "insert_backup",
    "last_backup",
    "list_restores",
    "record_restore",
    "resume_point",
]

# After a restore the journal and the share feed jump ahead, so that positions a device saw
# from the lost timeline are never handed out again (they would hide new changes from it).
# To where the clock says: ``now_ms * CLOCK_POSITIONS_PER_MS``. A timeline issues far fewer
# positions than that per millisecond, so it never passes the clock's mark, and two
# restores of the same snapshot (the disk failed twice before the next backup) resume at
# different marks: tokens from the first one fall into the second one's gap, not onto its
# new changes. 1024 per ms stays below 2**53 until the year 2248. A clock that is behind
# (a board without a battery-backed clock, before NTP) falls back to a fixed gap of
# JOURNAL_RESTORE_GAP positions past the snapshot's last.
CLOCK_POSITIONS_PER_MS = 1024
JOURNAL_RESTORE_GAP = 1 << 32


def resume_point(snapshot_pos: int, now: int) -> int:
    """The position after which a restored database numbers its new changes."""
    by_clock = now * CLOCK_POSITIONS_PER_MS
    return by_clock if by_clock > snapshot_pos else snapshot_pos + JOURNAL_RESTORE_GAP


async def insert_backup(
    conn: Conn, *, backup_id: str, destination: str, snapshot: str, started_at: int,
    finished_at: int, journal_seq: int, chunks: int, nbytes: int, copied_chunks: int,
    copied_bytes: int, missing_chunks: int,
) -> None:
    await execute(
        conn,
        "INSERT INTO backups (id, destination, snapshot, started_at, finished_at, journal_seq,"
        " chunks, bytes, copied_chunks, copied_bytes, missing_chunks)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (backup_id, destination, snapshot, started_at, finished_at, journal_seq, chunks,
         nbytes, copied_chunks, copied_bytes, missing_chunks),
    )


async def last_backup(conn: Conn) -> Row | None:
    return await fetchone(
        conn,
        "SELECT id, destination, snapshot, started_at, finished_at, journal_seq, chunks, bytes,"
        " copied_chunks, copied_bytes, missing_chunks FROM backups"
        " ORDER BY finished_at DESC LIMIT 1",
    )


async def record_restore(conn: Conn, *, restore_id: str, source: str, now: int) -> tuple[int, int]:
    """Move the journal's and the share feed's next positions past any the lost timeline
    may have issued (:func:`resume_point`), and record both gaps.

    Returns ``(snapshot_seq, resumed_seq)``: the last journal seq in the restored database
    and the seq after which new changes are numbered.
    """
    snapshot_seq = await _high_water(conn, "journal", "seq")
    snapshot_pos = await _high_water(conn, "share_feed", "pos")
    resumed_seq, resumed_pos = resume_point(snapshot_seq, now), resume_point(snapshot_pos, now)
    await _set_next(conn, "journal", resumed_seq)
    await _set_next(conn, "share_feed", resumed_pos)
    await execute(
        conn,
        "INSERT INTO restores (id, restored_at, source, snapshot_seq, resumed_seq, snapshot_pos,"
        " resumed_pos) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (restore_id, now, source, snapshot_seq, resumed_seq, snapshot_pos, resumed_pos),
    )
    return snapshot_seq, resumed_seq


async def _high_water(conn: Conn, table: str, column: str) -> int:
    """The highest position ``table`` ever handed out: its last row's, or AUTOINCREMENT's
    mark when newer rows were deleted since (history compaction)."""
    row = await fetchone(
        conn, f"SELECT max(coalesce((SELECT max({column}) FROM {table}), 0),"
              " coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0))", (table,))
    return int(row[0]) if row else 0


async def _set_next(conn: Conn, table: str, after: int) -> None:
    """Make ``table``'s next AUTOINCREMENT position ``after + 1``."""
    # AUTOINCREMENT keeps its high-water mark in sqlite_sequence (row absent before the
    # first insert).
    changed = await execute(conn, "UPDATE sqlite_sequence SET seq = ? WHERE name = ?",
                            (after, table))
    if changed == 0:
        await execute(conn, "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                      (table, after))


async def list_restores(conn: Conn) -> list[Row]:
    return await fetchall(
        conn, "SELECT id, restored_at, source, snapshot_seq, resumed_seq FROM restores"
              " ORDER BY restored_at")
