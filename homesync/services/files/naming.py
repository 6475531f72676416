"""Names the server makes up: conflicted copies and restored entries, always unique.

``photo.jpg`` kept from Alice's phone beside the server's version becomes
``photo (conflicted copy Alice's Pixel 7 2024-01-20).jpg``; if that exists too,
``… 2024-01-20 2).jpg`` and so on. A name never exceeds the 255-byte limit: the stem
is shortened instead, and an extension too long to keep beside the label is shortened
with the rest of the name (the label goes at the end).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from homesync.errors import NameConflict
from homesync.paths import MAX_NAME_BYTES, nameable, normalize_name
from homesync.store import files
from homesync.store.db import Conn, Row

__all__ = ["conflicted_copy_names", "find_free_name", "restored_names", "split_extension"]

_MAX_ATTEMPTS = 1000
_MAX_DEVICE_NAME = 60
# Also in bytes: 60 emoji are 240, and with the rest of the label no room was left.
_MAX_DEVICE_NAME_BYTES = 100


def split_extension(name: str) -> tuple[str, str]:
    """``photo.jpg`` → (``photo``, ``.jpg``); dotfiles and names without a dot keep it all."""
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1:
        return name, ""
    return name[:dot], name[dot:]


def _clean_label(text: str) -> str:
    """A device name made safe inside a file name (no slashes or control characters)."""
    label = unicodedata.normalize("NFC", " ".join(nameable(text, "-").split()))
    label = label[:_MAX_DEVICE_NAME]
    label = label.encode()[:_MAX_DEVICE_NAME_BYTES].decode("utf-8", errors="ignore").rstrip()
    return label or "device"


def _fit(stem: str, suffix: str) -> str:
    """``stem + suffix`` shortened (the stem only) to fit a name's byte limit."""
    # Measured as stored, in NFC, where a few characters (U+0958) take twice the bytes.
    stem, suffix = unicodedata.normalize("NFC", stem), unicodedata.normalize("NFC", suffix)
    room = MAX_NAME_BYTES - len(suffix.encode())
    encoded = stem.encode()
    if len(encoded) > room:
        stem = encoded[:max(room, 1)].decode("utf-8", errors="ignore")
    return normalize_name(stem + suffix)


def _numbered(name: str, label: Callable[[int], str], *,
              is_folder: bool = False) -> Iterator[str]:
    # A folder's name has no extension: "v1.0" becomes "v1.0 (restored)", not "v1 (restored).0".
    stem, ext = (name, "") if is_folder else split_extension(name)
    if len(f" ({label(_MAX_ATTEMPTS)}){ext}".encode()) >= MAX_NAME_BYTES:
        # "x.<250 bytes>": no stem fits beside the label and this extension (the name
        # was refused as too long, and the resolution or restore with it).
        stem, ext = name, ""
    for n in range(1, _MAX_ATTEMPTS + 1):
        yield _fit(stem, f" ({label(n)}){ext}")


def conflicted_copy_names(name: str, device_name: str, at_ms: int, *,
                          is_folder: bool = False) -> Iterator[str]:
    """Candidates for the device's copy in a ``keep_both`` resolution, best first; a
    folder's get the suffix at the end."""
    day = datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%d")
    base = f"conflicted copy {_clean_label(device_name)} {day}"
    return _numbered(name, lambda n: base if n == 1 else f"{base} {n}", is_folder=is_folder)


def restored_names(name: str, *, is_folder: bool = False) -> Iterator[str]:
    """Candidates for an entry restored from the trash, the original name first; a
    folder's get the suffix at the end."""
    yield name
    yield from _numbered(name, lambda n: "restored" if n == 1 else f"restored {n}",
                         is_folder=is_folder)


async def find_free_name(conn: Conn, user_id: str, folder: str, candidates: Iterator[str], *,
                         holding: str | None = None) -> tuple[str, Row | None]:
    """The first candidate that is free in ``folder``, or one already holding the content.

    With ``holding`` (a checksum), a candidate whose file has exactly that content is
    returned with its row: a retried resolution finds the copy it made (or that the device
    uploaded there) instead of making another. Otherwise the row is None.
    """
    for candidate in candidates:
        row = await files.find_by_name(conn, user_id, folder, candidate)
        if row is None:
            return candidate, None
        if holding is not None and row["kind"] == "file" and row["checksum"] == holding:
            return candidate, row
    raise NameConflict(f"No free name in {folder} after {_MAX_ATTEMPTS} attempts")
