"""A backup repository: the directory ``homesync backup create DEST`` writes to.

Layout::

    DEST/
      homesync-backup.json     marks the directory as ours: {"format": "homesync-backup", ...}
      chunks/ab/cd/<sha256>    one shared, content-addressed pool; a chunk is copied once
      snapshots/<name>/        one per backup; never changed once published (``backup prune``
                               removes whole ones: see store/backup_pool.py)
        homesync.sqlite3       the database as of one commit
        server.key             the server secret
        manifest.json          what the snapshot holds (counts, bytes, checksums)
      latest                   the name of the newest complete snapshot
      tmp/                     work in progress, emptied when the next backup starts
      .lock                    one backup (or prune) writes at a time (flock, exclusive)

Who may write, delete and read at once: store/backup_repo_lock.py.

Crash safety: chunks and the snapshot are built under ``tmp/`` and renamed into place
only when complete, and ``latest`` is replaced last. A backup killed at any point leaves
the previous snapshots exactly as they were, and whatever chunks it finished copying are
reused by the next run. With fsync on, a chunk is renamed into the pool only once DEST
was synced after it was copied (in batches: see :meth:`BackupRepo.settle_chunks`): the
next backup takes a chunk in the pool with its size as whole, and a power cut can leave
a renamed, unsynced file with its size but not its bytes.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import msgspec

from homesync import __version__
from homesync.store.durable_files import fsync_dir, write_atomic
from homesync.store.file_copies import copy_file, sha256_file, syncfs

__all__ = [
    "DATABASE_FILE",
    "FORMAT",
    "KEY_FILE",
    "BackupRepo",
    "BackupRepoError",
    "DestinationTaken",
    "Manifest",
    "SourceMismatch",
    "chunk_relpath",
    "snapshot_order",
]

FORMAT = "homesync-backup"
FORMAT_VERSION = 1
MARKER = "homesync-backup.json"
DATABASE_FILE = "homesync.sqlite3"
KEY_FILE = "server.key"
MANIFEST_FILE = "manifest.json"
LATEST_FILE = "latest"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SNAPSHOT_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}Z(-[0-9]+)?$")


class BackupRepoError(Exception):
    """DEST is not usable as a backup repository (the message says why)."""


class DestinationTaken(BackupRepoError):
    """Something that is not a homesync backup is already at DEST; nothing was written."""


class Manifest(msgspec.Struct, kw_only=True, rename="camel"):
    """``snapshots/<name>/manifest.json``: what one snapshot holds."""

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    name: str
    homesync_version: str = __version__
    source: str                       # the data dir it was taken from
    started_at: int                   # ms
    finished_at: int                  # ms
    schema_version: int
    users: int
    files: int
    versions: int
    journal_seq: int
    chunks: int                       # chunks the snapshot refers to
    bytes: int                        # their total size
    # Referenced but not in the backup: missing or damaged at the source (backup create
    # exits 1; verify names them). Empty for a complete snapshot.
    missing_chunks: list[str] = msgspec.field(default_factory=list)
    database_sha256: str
    server_key_sha256: str


def _manifest_from(raw: bytes) -> Manifest:
    """A manifest as any homesync wrote it: before a02513e (the first day) its keys were in
    snake_case (``started_at``), the same fields in the same format version."""
    data = msgspec.json.decode(raw)
    if isinstance(data, dict) and "started_at" in data:
        data = {_camel(key): value for key, value in data.items()}
    return msgspec.convert(data, type=Manifest)


def _camel(key: str) -> str:
    first, *rest = key.split("_")
    return first + "".join(word.capitalize() for word in rest)


@dataclass(frozen=True)
class SourceMismatch:
    """A chunk :meth:`BackupRepo.put_chunk` refused: its size, and its sha256 when the
    size was right (so the bytes are damaged)."""

    size: int
    sha256: str | None = None


def chunk_relpath(chunk_hash: str) -> str:
    """``ab/cd/<hash>``: where a chunk lives under a ``chunks/`` directory."""
    if not _HEX64.match(chunk_hash):
        raise ValueError(f"not a chunk hash: {chunk_hash!r}")
    return f"{chunk_hash[:2]}/{chunk_hash[2:4]}/{chunk_hash}"


def snapshot_order(name: str) -> tuple[str, int]:
    """Sort key of snapshot names in the order they were taken: a second's later ones are
    ``<time>-1``, ``-2``, … ``-10`` (:meth:`BackupRepo.unused_name`), and as text ``-10``
    came before ``-2``."""
    time_part, _, n = name.partition("-")
    return time_part, int(n) if n.isdigit() else 0


def _is_marker_temp(name: str) -> bool:
    """Whether ``name`` is the temp file of a marker being written (``write_atomic``'s
    ``.<name>.<pid>.tmp``): another ``backup create`` making the same new DEST, a moment
    before its rename. DEST is still new then; the writer lock decides which one runs."""
    return name.startswith(f".{MARKER}.") and name.endswith(".tmp")


# Copied chunks wait in tmp/ for one syncfs of DEST per this many bytes (or chunks): a
# kill costs at most that much copying again; a sync per chunk would cost a journal
# commit per file.
_SETTLE_BYTES = 256 * 2**20
_SETTLE_CHUNKS = 4096


class BackupRepo:
    """One backup repository directory. Open with :meth:`create_or_open` or :meth:`open`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.chunks_dir = root / "chunks"
        self.snapshots_dir = root / "snapshots"
        self.tmp_dir = root / "tmp"
        self._chunks_prefix = f"{self.chunks_dir}/"
        self._made_dirs: set[str] = set()
        self._durable = False
        self._unsettled: set[str] = set()  # hashes copied into tmp/, not yet in the pool
        self._unsettled_bytes = 0

    @classmethod
    def create_or_open(cls, root: Path, *, durable: bool = False) -> BackupRepo:
        """Open DEST for writing, making it a repository if it is missing or empty.
        ``durable``: chunks go into the pool only once synced (fsync on)."""
        root = root.expanduser().absolute()
        # DEST, or the nearest of its parents that is there (DEST/sub where DEST is a
        # file), must be a directory: mkdir would say only "[Errno 20] Not a directory".
        there = next((p for p in (root, *root.parents) if p.exists()), root)
        if there.exists() and not there.is_dir():
            raise DestinationTaken(f"{there} is not a directory"
                                   + (f" (so {root} cannot be made)" if there != root else ""))
        if not (root / MARKER).is_file():
            if root.exists() and any(not _is_marker_temp(p.name) for p in root.iterdir()):
                raise DestinationTaken(
                    f"{root} is not empty and is not a homesync backup; choose an empty or "
                    "new directory")
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
            marker = msgspec.json.encode({"format": FORMAT, "format_version": FORMAT_VERSION})
            write_atomic(root / MARKER, marker + b"\n", fsync=True)
        repo = cls.open(root)
        repo._durable = durable
        for d in (repo.chunks_dir, repo.snapshots_dir, repo.tmp_dir):
            d.mkdir(exist_ok=True, mode=0o700)
        return repo

    @classmethod
    def open(cls, root: Path) -> BackupRepo:
        """Open an existing repository (for verify and restore)."""
        root = root.expanduser().absolute()
        try:
            info = msgspec.json.decode((root / MARKER).read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            # Say which mistake it is: a mistyped DEST, or a file named as the backup.
            why = (f"no {MARKER}" if root.is_dir() else
                   "it is a file" if root.exists() else "it does not exist")
            raise BackupRepoError(f"{root} is not a homesync backup ({why})") from None
        except PermissionError:
            raise  # the commands name the path and whose it is (cli.common.permission_message)
        except (OSError, msgspec.DecodeError) as exc:
            raise BackupRepoError(f"{root / MARKER} is unreadable: {exc}") from None
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise BackupRepoError(f"{root} is not a homesync backup")
        if int(info.get("format_version", 0)) > FORMAT_VERSION:
            raise BackupRepoError(f"{root} was written by a newer homesync; upgrade homesync")
        return cls(root)

    # -- chunks ------------------------------------------------------------------------

    def chunk_path(self, chunk_hash: str) -> Path:
        return self.chunks_dir / chunk_relpath(chunk_hash)

    def chunk_size(self, chunk_hash: str) -> int | None:
        """Size of the stored chunk, or ``None`` when the repository does not have it."""
        # Plain strings, not Path objects: an incremental backup stats every chunk.
        try:
            return os.stat(f"{self._chunks_prefix}{chunk_relpath(chunk_hash)}").st_size
        except FileNotFoundError:
            return None

    def put_chunk(self, chunk_hash: str, source: Path, size: int) -> SourceMismatch | None:
        """Copy ``source`` in as ``chunk_hash``: temp file, then rename, so never half a chunk.

        The copy is re-hashed (read back from the page cache it was just written to: the
        kernel's copy plus this read cost less than copying through Python), so a chunk
        damaged at the source, or in the copy, never lands in the backup looking good
        (verify without ``--read-data`` checks sizes only). Returns ``None`` when the chunk is
        stored; otherwise what ``source`` holds instead (other than ``size`` bytes, or
        bytes that do not hash to ``chunk_hash``: damaged), and stores nothing.
        Not fsynced one by one: when durable, it waits in ``tmp/`` for the next
        :meth:`settle_chunks` (called here every so many bytes, and by :meth:`publish`).
        """
        chunk_relpath(chunk_hash)  # refuses what is not a hash, before it names a file
        tmp = f"{self.tmp_dir}/{chunk_hash}"
        problem: SourceMismatch | None = None
        try:
            if not copy_file(str(source), tmp, size):
                problem = SourceMismatch(size=os.stat(source).st_size)
            elif (actual := sha256_file(Path(tmp))) != chunk_hash:
                problem = SourceMismatch(size=size, sha256=actual)
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # half a copy: nothing publishes it, nor should it stay
            raise
        if problem is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            return problem
        if not self._durable:
            self._into_pool(chunk_hash)
            return None
        self._unsettled.add(chunk_hash)
        self._unsettled_bytes += size
        if self._unsettled_bytes >= _SETTLE_BYTES or len(self._unsettled) >= _SETTLE_CHUNKS:
            self.settle_chunks()
        return None

    def settle_chunks(self) -> None:
        """Sync DEST, then move the chunks copied since the last call into the pool."""
        if not self._unsettled:
            return
        syncfs(self.root)
        for chunk_hash in self._unsettled:
            self._into_pool(chunk_hash)
        self._unsettled.clear()
        self._unsettled_bytes = 0

    def _into_pool(self, chunk_hash: str) -> None:
        rel = chunk_relpath(chunk_hash)
        parent = f"{self._chunks_prefix}{rel[:5]}"
        if parent not in self._made_dirs:
            os.makedirs(parent, exist_ok=True)
            self._made_dirs.add(parent)
        os.replace(f"{self.tmp_dir}/{chunk_hash}", f"{self._chunks_prefix}{rel}")

    # -- snapshots ---------------------------------------------------------------------

    def new_snapshot_dir(self, name: str) -> Path:
        """A private work directory for snapshot ``name``, published by :meth:`publish`."""
        work = self.tmp_dir / f"snapshot-{name}"
        work.mkdir(mode=0o700)
        return work

    def unused_name(self, base: str) -> str:
        name, n = base, 1
        while (self.snapshots_dir / name).exists():
            name, n = f"{base}-{n}", n + 1
        return name

    def publish(self, work: Path, manifest: Manifest, *, fsync: bool) -> Path:
        """Write the manifest, move the snapshot into place and point ``latest`` at it.

        The new ``latest`` is written (under ``tmp/``) before the snapshot is moved: after
        that only renames are left, which need no room. So a destination that fills up
        ends the backup with no new snapshot, never with one that ``latest`` does not name.
        """
        self.settle_chunks()
        write_atomic(work / MANIFEST_FILE, msgspec.json.format(msgspec.json.encode(manifest)),
                      fsync=fsync)
        pointer = self.tmp_dir / LATEST_FILE
        write_atomic(pointer, manifest.name.encode() + b"\n", fsync=fsync)
        if fsync:
            syncfs(self.root)  # every chunk and file of the snapshot, before it is visible
            fsync_dir(work)
        final = self.snapshots_dir / manifest.name
        os.replace(work, final)
        if fsync:
            fsync_dir(self.snapshots_dir)
        os.replace(pointer, self.root / LATEST_FILE)
        if fsync:
            fsync_dir(self.root)
        return final

    def snapshot_names(self) -> list[str]:
        """Published snapshots, oldest first."""
        if not self.snapshots_dir.is_dir():
            return []
        return sorted((p.name for p in self.snapshots_dir.iterdir()
                       if _SNAPSHOT_NAME.match(p.name) and (p / MANIFEST_FILE).is_file()),
                      key=snapshot_order)

    def damaged_snapshots(self) -> dict[str, str]:
        """Snapshot directories whose manifest is missing or unreadable: {name: what is wrong}.

        A backup moves a snapshot into ``snapshots/`` whole, manifest included (a run in
        progress is under ``tmp/``), so these are damage, not work under way.
        """
        found: dict[str, str] = {}
        if not self.snapshots_dir.is_dir():
            return found
        for path in sorted(self.snapshots_dir.iterdir(), key=lambda p: snapshot_order(p.name)):
            if not _SNAPSHOT_NAME.match(path.name):
                continue
            if not (path / MANIFEST_FILE).is_file():
                found[path.name] = f"{path / MANIFEST_FILE} is missing"
                continue
            try:
                self.manifest(path.name)
            except BackupRepoError as exc:
                found[path.name] = str(exc)
        return found

    def latest(self) -> str | None:
        """The newest complete snapshot (``latest``, else the newest directory)."""
        names = self.snapshot_names()
        try:
            pointed = (self.root / LATEST_FILE).read_text().strip()
        except FileNotFoundError:
            pointed = ""
        if pointed in names:
            return pointed
        return names[-1] if names else None

    def resolve(self, name: str | None) -> str:
        """The snapshot called ``name`` (default: the latest), or an error naming the choices."""
        names = self.snapshot_names()
        if name is None:
            latest = self.latest()
            if latest is None:
                raise BackupRepoError(f"{self.root} holds no complete snapshot yet")
            return latest
        if name not in names:
            choices = ", ".join(names[-5:]) or "none"
            raise BackupRepoError(f"no snapshot {name!r} in {self.root} (newest: {choices})")
        return name

    def snapshot_dir(self, name: str) -> Path:
        return self.snapshots_dir / name

    def manifest(self, name: str) -> Manifest:
        path = self.snapshot_dir(name) / MANIFEST_FILE
        try:
            return _manifest_from(path.read_bytes())
        except (OSError, msgspec.DecodeError) as exc:
            raise BackupRepoError(f"{path} is unreadable: {exc}") from None
