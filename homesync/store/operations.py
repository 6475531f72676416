"""The operations tables: ``backups`` (what was backed up, when) and ``restores``."""

from __future__ import annotations

from homesync.store.db import Conn, Row, execute, fetchall, fetchone

__all__ = [
    "JOURNAL_RESTORE_GAP",
    "insert_backup",
    "last_backup",
    "list_restores",
    "record_restore",
]

# After a restore the journal jumps this far ahead, so that seqs a device saw from the
# lost timeline are never handed out again (they would hide new changes from it).
JOURNAL_RESTORE_GAP = 1 << 32


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
    """Move the journal's next seq past any seq the lost timeline may have issued.

    Returns ``(snapshot_seq, resumed_seq)``: the last seq in the restored database and
    the seq after which new changes are numbered.
    """
    row = await fetchone(conn, "SELECT max(seq) FROM journal")
    snapshot_seq = int(row[0] or 0) if row else 0
    resumed_seq = snapshot_seq + JOURNAL_RESTORE_GAP
    # AUTOINCREMENT keeps its high-water mark in sqlite_sequence (row absent before the
    # first insert). The next seq is then resumed_seq + 1.
    changed = await execute(conn, "UPDATE sqlite_sequence SET seq = ? WHERE name = 'journal'",
                            (resumed_seq,))
    if changed == 0:
        await execute(conn, "INSERT INTO sqlite_sequence (name, seq) VALUES ('journal', ?)",
                      (resumed_seq,))
    await execute(
        conn,
        "INSERT INTO restores (id, restored_at, source, snapshot_seq, resumed_seq)"
        " VALUES (?, ?, ?, ?, ?)",
        (restore_id, now, source, snapshot_seq, resumed_seq),
    )
    return snapshot_seq, resumed_seq


async def list_restores(conn: Conn) -> list[Row]:
    return await fetchall(
        conn, "SELECT id, restored_at, source, snapshot_seq, resumed_seq FROM restores"
              " ORDER BY restored_at")
