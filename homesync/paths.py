"""Client paths: folders and names checked and normalised before anything uses them.

A folder is absolute and normalised (``/``, ``/photos/2024``); a name is one segment.
Names are stored in Unicode NFC (iOS sends NFD, Android NFC: the same file), and two
entries of one folder may not differ only by case (``name_key``).
"""

from __future__ import annotations

import unicodedata
from typing import Literal

from homesync.errors import Forbidden, InvalidPath

__all__ = [
    "MAX_DEPTH",
    "MAX_NAME_BYTES",
    "MAX_PATH_BYTES",
    "SHARED_WITH_ME",
    "broken_folder_limit",
    "check_not_reserved",
    "is_under",
    "join",
    "name_key",
    "nameable",
    "normalize_folder",
    "normalize_name",
    "place_key",
    "split_path",
]

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
MAX_DEPTH = 64
# The root folder where the server shows what others share with a user
# (homesync.services.sharing.view): none of the user's own entries may take its name.
SHARED_WITH_ME = "Shared with me"
# How much more a path there holds than the owner's own path from the shared item down:
# "/Shared with me/<owner's name>" (two levels) and the item's name with a " (n)".
_SHOWN_EXTRA_DEPTH = 2
_SHOWN_EXTRA_BYTES = len("/" + SHARED_WITH_ME) + 2 * (1 + MAX_NAME_BYTES)


def _check_segment(segment: str, what: str) -> str:
    if segment == "":
        raise InvalidPath(f"{what} has an empty segment")
    if segment in (".", ".."):
        raise InvalidPath(f"{what} may not contain '.' or '..'")
    if "\\" in segment:
        raise InvalidPath(f"{what} may not contain backslashes")
    for ch in segment:
        if ord(ch) < 0x20 or ord(ch) == 0x7F or unicodedata.category(ch) == "Cc":
            raise InvalidPath(f"{what} may not contain control characters")
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise InvalidPath(f"{what} is not valid Unicode")
    segment = unicodedata.normalize("NFC", segment)
    if len(segment.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidPath(f"{what}: a name may be at most {MAX_NAME_BYTES} bytes")
    return segment


def nameable(text: str, stand_in: str) -> str:
    """``text`` with ``stand_in`` for each character a name may not hold (slashes,
    backslashes, control and other non-printing characters), to make one from it."""
    return "".join(stand_in if ch in "/\\" or unicodedata.category(ch).startswith("C") else ch
                   for ch in text)


def normalize_name(name: str) -> str:
    """One path segment in NFC, or InvalidPath."""
    if not isinstance(name, str):
        raise InvalidPath("Name must be a string")
    if "/" in name:
        raise InvalidPath("A name may not contain '/'")
    return _check_segment(name, "Name")


def normalize_folder(folder: str) -> str:
    """An absolute folder in normal form (``/a/b``), or InvalidPath.

    A trailing slash is tolerated (``/photos/``); everything else that is not already
    normal (``//``, ``.``, ``..``, relative paths, ``C:\\x``) is refused, not repaired.
    """
    if not isinstance(folder, str) or not folder.startswith("/"):
        raise InvalidPath("Folder must be an absolute path starting with '/'")
    # What others share is shown deeper than it is kept (see _SHOWN_EXTRA_*): a path
    # there is held to the owner's limits where the change lands.
    shown = folder.split("/", 2)[1].casefold() == SHARED_WITH_ME.casefold()
    extra_bytes, extra_depth = (_SHOWN_EXTRA_BYTES, _SHOWN_EXTRA_DEPTH) if shown else (0, 0)
    if len(folder.encode("utf-8", errors="surrogatepass")) > MAX_PATH_BYTES + extra_bytes:
        raise InvalidPath(f"Path may be at most {MAX_PATH_BYTES} bytes")
    if folder == "/":
        return "/"
    body = folder[1:-1] if folder.endswith("/") else folder[1:]
    segments = [_check_segment(s, "Folder") for s in body.split("/")]
    normal = "/" + "/".join(segments)
    broken = broken_folder_limit(len(normal.encode("utf-8")) - extra_bytes,
                                 len(segments) - extra_depth)
    if broken == "depth":
        raise InvalidPath(f"Folders may be at most {MAX_DEPTH} levels deep")
    if broken == "bytes":
        raise InvalidPath(f"Path may be at most {MAX_PATH_BYTES} bytes")
    return normal


def broken_folder_limit(size: int, depth: int) -> Literal["bytes", "depth"] | None:
    """The limit a folder path of ``size`` UTF-8 bytes, ``depth`` levels deep, breaks, or
    None: the limits :func:`normalize_folder` holds requests to, which a folder the server
    makes (a move, a restore) must keep too, or no request could name it again."""
    if size > MAX_PATH_BYTES:
        return "bytes"
    if depth > MAX_DEPTH:
        return "depth"
    return None


def name_key(name: str) -> str:
    """The key under which names collide: case-insensitive, NFC."""
    return unicodedata.normalize("NFC", name.casefold())


def place_key(folder: str, name: str) -> tuple[str, str]:
    """The key under which ``name`` in ``folder`` is one place however the app spelt it:
    both compared as names are (``/DCIM/a.jpg`` is ``/dcim/A.JPG``). ``name`` may be a
    ``name_key`` already (``name_key`` of a ``name_key`` is itself)."""
    return name_key(folder), name_key(name)


def join(folder: str, name: str) -> str:
    return f"/{name}" if folder == "/" else f"{folder}/{name}"


def split_path(path: str) -> tuple[str, str]:
    """``/photos/a.jpg`` → (``/photos``, ``a.jpg``), both normalised."""
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise InvalidPath("Path must be absolute and name a file")
    if "//" in path:  # else "/a//b" would pass as folder "/a/" (a trailing slash is fine)
        raise InvalidPath("Path has an empty segment")
    folder, _, name = path.rpartition("/")
    return normalize_folder(folder or "/"), normalize_name(name)


def is_under(folder: str, root: str) -> bool:
    """True if ``folder`` is ``root`` or inside it (both normalised)."""
    return root == "/" or folder == root or folder.startswith(root + "/")


def check_not_reserved(folder: str, name: str) -> None:
    """Forbidden if ``name`` in ``folder`` would be one's own ``/Shared with me`` (in any
    case): devices place what others share there, and a file of that name, or writes
    into a folder of it (which go to the shares), would leave them nowhere to."""
    if folder == "/" and name_key(name) == name_key(SHARED_WITH_ME):
        raise Forbidden(f"/{SHARED_WITH_ME} is where the server shows what others share with"
                        " you: none of your own files or folders can take that name")
