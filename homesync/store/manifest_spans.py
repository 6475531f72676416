"""The part of a version's manifest that a byte range needs, found by where each chunk
begins (``version_chunks.byte_offset``) rather than by adding up every chunk's size.

A 1 MiB range of a file of 10 000 chunks of 4 KiB reads its 257 rows and a few more, not
10 000 rows each joined with its chunk; the whole file reads its rows without the join.
Whole or not, the spans come out of SQLite ready to stream.
"""

from __future__ import annotations

from homesync.store.db import Reads, fetchall

__all__ = ["Span", "spans"]

Span = tuple[str, int, int]  # (chunk hash, from, to exclusive), offsets within the chunk


def _holding(byte: str) -> str:
    """SQL for the idx of the row whose chunk holds ``byte`` (a parameter).

    Where every chunk but the last has the size of the first (anything uploaded: an
    upload has one chunk size), that row is byte // that size: two rows read to be sure.
    Otherwise the version's rows are walked back from its end (primary key order, no
    chunk row read) to the last one that begins at or before the byte.
    """
    return (
        "coalesce("
        "(SELECT g.idx FROM version_chunks g WHERE g.version_id = ?1"
        f" AND g.idx = {byte} / (SELECT byte_offset FROM version_chunks"
        " WHERE version_id = ?1 AND idx = 1)"
        f" AND g.byte_offset <= {byte}"
        " AND NOT EXISTS (SELECT 1 FROM version_chunks n WHERE n.version_id = ?1"
        f" AND n.idx = g.idx + 1 AND n.byte_offset <= {byte})),"
        f"(SELECT idx FROM version_chunks WHERE version_id = ?1 AND byte_offset <= {byte}"
        " ORDER BY idx DESC LIMIT 1))"
    )


# The rows from the one holding byte ?2 to the one holding byte ?3, each cut to the
# range: SQLite does the arithmetic, so a whole file of 10 000 chunks is not 10 000 turns
# of a Python loop on the event loop. Where a chunk ends is where the next row begins,
# looked up by primary key (~30 % less CPU than lead() over the rows, which sorts them
# first); the last chunk ends at the version's size ?4, and is NULL when its own size
# says otherwise: a version whose chunks do not add up to its size is damaged.
_SPANS = (
    "SELECT v.chunk_hash, max(?2 - v.byte_offset, 0),"
    " min(?3 + 1, coalesce((SELECT n.byte_offset FROM version_chunks n"
    "  WHERE n.version_id = ?1 AND n.idx = v.idx + 1),"
    "  (SELECT ?4 FROM chunks c WHERE c.hash = v.chunk_hash AND v.byte_offset + c.size = ?4)"
    " )) - v.byte_offset"
    " FROM version_chunks v WHERE v.version_id = ?1"
    f" AND v.idx BETWEEN {_holding('?2')} AND {_holding('?3')}"
    " ORDER BY v.idx"
)


async def spans(conn: Reads, version_id: str, size: int, first: int,
                last: int) -> list[Span] | None:
    """The spans of the chunks holding bytes ``first``..``last`` (inclusive) of a version
    of ``size`` bytes, in order; ``[]`` for an empty range.

    None when the rows cannot tell: the version has no manifest (dropped since it was
    read), a row without its offset, or offsets that do not fit the range (a damaged
    manifest). The caller then reads the whole manifest, which tells which.
    """
    if last < first:
        return []
    rows = await fetchall(conn, _SPANS, (version_id, first, last, size))
    found: list[Span] = [(chunk_hash, lo, hi) for chunk_hash, lo, hi in rows]
    try:
        # Offsets that go back, or do not start at the range, cannot add up to it exactly.
        fits = (sum(hi - lo for _, lo, hi in found) == last - first + 1
                and min(hi - lo for _, lo, hi in found) >= 0)
    except (TypeError, ValueError):  # an offset is NULL; no rows at all
        return None
    return found if fits else None
