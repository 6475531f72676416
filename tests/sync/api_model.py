"""The model behind tests/sync/test_api_model.py: what two accounts should hold after a
sequence of API calls, computed here from the calls and README, not from homesync's code.

An account's tree is its live folders (by path) and files (by id: path, checksum); every
file keeps the list of its retained versions (retention is off in the test), so the
storage the account uses is the sum of those sizes over the files not purged (README:
"Every retained version counts", trash included; "Purging frees its quota").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.helpers import API, Device


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def under(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def same_name(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def restored_names(name: str) -> Iterator[str]:
    """README: a restored entry whose name is taken is "name (restored).ext", then
    "name (restored 2).ext" and so on."""
    dot = name.rfind(".")
    stem, ext = (name, "") if dot <= 0 or dot == len(name) - 1 else (name[:dot], name[dot:])
    yield name
    yield f"{stem} (restored){ext}"
    for n in range(2, 1000):
        yield f"{stem} (restored {n}){ext}"


@dataclass
class MFile:
    folder: str
    name: str
    versions: list[tuple[str, int]]  # (checksum, size), oldest first
    trashed_in: str | None = None  # the trash group's root id while in the trash
    edits: list[tuple[int, str]] = field(default_factory=list)  # (step, device) of content changes

    @property
    def path(self) -> str:
        return join(self.folder, self.name)

    @property
    def checksum(self) -> str:
        return self.versions[-1][0]


@dataclass
class Group:
    """One item of the trash: a file, or a folder with what went with it."""

    root: str  # the item's id (a file id, or the folder's id)
    kind: str
    folder: str  # where the item was
    name: str
    files: list[str]  # ids of the files deleted with it
    subfolders: list[str]  # folder paths relative to the item ("" is the item itself)


@dataclass
class Phone:
    dev: Device
    token: str | None = None
    synced_at: int = 0  # the model's step at the device's last pull
    tree: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)  # id → (kind, path, checksum)

    def apply(self, data: dict[str, Any]) -> None:
        if data.get("reset"):
            self.tree.clear()
        for e in data["changes"]["created"] + data["changes"]["updated"]:
            self.tree[e["id"]] = (e["type"], join(e["folder"], e["name"]), e["checksum"])
        for e in data["changes"]["deleted"]:
            self.tree.pop(e["id"], None)
        self.token = data["nextSyncToken"]


@dataclass
class Account:
    name: str
    phones: list[Phone]
    folders: set[str] = field(default_factory=set)  # live folder paths
    files: dict[str, MFile] = field(default_factory=dict)  # not purged
    trash: dict[str, Group] = field(default_factory=dict)
    deleted_content: set[str] = field(default_factory=set)  # every checksum ever trashed
    acked: set[str] = field(default_factory=set)  # content the server acknowledged
    ids: set[str] = field(default_factory=set)  # every id of this account seen
    uploads: set[str] = field(default_factory=set)  # every upload id
    open_uploads: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # open, with local content
    watcher: Phone | None = None  # a replica pulling deltas after every step
    quota: int = 0  # bytes; 0: unlimited

    def over_quota(self, extra: int) -> bool:
        """``extra`` more bytes would not fit: versions plus open uploads (README Quotas)."""
        reserved = sum(len(u["data"]) for u in self.open_uploads.values())
        return bool(self.quota) and extra > 0 and self.usage() + reserved + extra > self.quota

    @property
    def user_id(self) -> str:
        return self.phones[0].dev.user_id

    def live(self) -> dict[str, MFile]:
        return {i: f for i, f in self.files.items() if f.trashed_in is None}

    def expected_tree(self) -> tuple[set[str], dict[str, tuple[str, str]]]:
        return set(self.folders), {i: (f.path, f.checksum) for i, f in self.live().items()}

    def usage(self) -> int:
        return sum(size for f in self.files.values() for _, size in f.versions)

    def stored(self, checksum: str) -> bool:
        """Any retained version of the account has this content."""
        return any(c == checksum for f in self.files.values() for c, _ in f.versions)

    def taken(self, folder: str, name: str, but: str | None = None) -> str | None:
        """What holds ``name`` in ``folder`` (a file id, or "folder"), case ignored."""
        for i, f in self.live().items():
            if i != but and f.folder == folder and same_name(f.name, name):
                return i
        if any(parent_of(p) == folder and same_name(p.rsplit("/", 1)[1], name)
               for p in self.folders if p != but):
            return "folder"
        return None

    def blocked(self, folder: str) -> bool:
        """A live file stands where ``folder`` (or one of its parents) would be."""
        paths = {f.path.casefold() for f in self.live().values()}
        parts = folder.strip("/").split("/") if folder != "/" else []
        return any("/" + "/".join(parts[:n]).casefold() in paths for n in range(1, len(parts) + 1))

    def make_folders(self, folder: str) -> None:
        parts = folder.strip("/").split("/") if folder != "/" else []
        for n in range(1, len(parts) + 1):
            self.folders.add("/" + "/".join(parts[:n]))

    def changed_by_other(self, file_id: str, phone: Phone) -> bool:
        f = self.files[file_id]
        return any(step > phone.synced_at and dev != phone.dev.device_id for step, dev in f.edits)

    # -- changes the server acknowledged -----------------------------------------------

    def add_file(self, file_id: str, folder: str, name: str, checksum: str, size: int,
                 step: int, device: str) -> None:
        assert file_id not in self.files, file_id
        self.make_folders(folder)
        self.files[file_id] = MFile(folder, name, [(checksum, size)], edits=[(step, device)])
        self.ids.add(file_id)
        self.acked.add(checksum)

    def add_version(self, file_id: str, checksum: str, size: int, step: int, device: str) -> None:
        f = self.files[file_id]
        f.versions.append((checksum, size))
        f.edits.append((step, device))
        self.acked.add(checksum)

    def move_folder(self, old: str, new: str) -> None:
        """A folder renamed or moved: it and everything under it."""
        self.folders = {new + p[len(old):] if under(p, old) else p for p in self.folders}
        for f in self.live().values():
            if under(f.folder, old):
                f.folder = new + f.folder[len(old):]

    def trash_file(self, file_id: str) -> None:
        f = self.files[file_id]
        f.trashed_in = file_id
        self.deleted_content.add(f.checksum)
        self.trash[file_id] = Group(file_id, "file", f.folder, f.name, [file_id], [])

    def trash_folder(self, folder_id: str, path: str) -> None:
        members = [i for i, f in self.live().items() if under(f.folder, path)]
        subs = sorted(p[len(path):] for p in self.folders if under(p, path))
        for i in members:
            self.files[i].trashed_in = folder_id
            self.deleted_content.add(self.files[i].checksum)
            self.files[i].folder = self.files[i].folder[len(path):]  # relative while trashed
        self.folders = {p for p in self.folders if not under(p, path)}
        self.trash[folder_id] = Group(folder_id, "folder", parent_of(path),
                                      path.rsplit("/", 1)[1], members, subs)

    def restore(self, group_id: str, folder: str, name: str) -> None:
        """The trash item comes back at ``folder``/``name`` (where the server put it): a
        folder answered with a live folder's place was merged into it (README "Trash")."""
        g = self.trash.pop(group_id)
        self.make_folders(folder)
        if g.kind == "file":
            f = self.files[group_id]
            f.trashed_in, f.folder, f.name = None, folder, name
            return
        root = join(folder, name)
        if root in self.folders:
            self._merge(g, "", root, placed=set())
            return
        self._place(g, "", root)

    def _place(self, g: Group, rel: str, path: str) -> None:
        """The group's folder ``rel`` (relative to the item) and what is below it, at
        ``path``."""
        for sub in g.subfolders:
            if under(sub, rel):  # rel "": all of them
                self.folders.add(path + sub[len(rel):])
        for i in g.files:
            f = self.files[i]
            if f.trashed_in is not None and under(f.folder, rel):
                f.trashed_in, f.folder = None, path + f.folder[len(rel):]

    def _merge(self, g: Group, rel: str, live: str, placed: set[str]) -> None:
        """The group's folder ``rel`` merged into the live folder ``live``: each child goes
        in under its name, or "name (restored)" if a live entry holds it (or one this
        restore put there); a folder meeting a live folder merges again. The server goes
        through the children by name, case ignored."""
        # (name, file id or None for a folder, the folder relative to the item)
        children: list[tuple[str, str | None, str]] = [
            (sub.rsplit("/", 1)[1], None, sub) for sub in g.subfolders
            if sub and sub.rsplit("/", 1)[0] == rel]
        children += [(self.files[i].name, i, "") for i in g.files
                     if self.files[i].trashed_in is not None and self.files[i].folder == rel]
        for child, file_id, sub in sorted(children, key=lambda c: c[0].casefold()):
            if file_id is None and self.taken(live, child) == "folder":
                there = next(p for p in self.folders
                             if parent_of(p) == live and same_name(p.rsplit("/", 1)[1], child))
                if there not in placed:
                    self._merge(g, sub, there, placed)
                    continue
            free = next(n for n in restored_names(child) if self.taken(live, n) is None)
            placed.add(join(live, free))
            if file_id is None:
                self._place(g, sub, join(live, free))
            else:
                f = self.files[file_id]
                f.trashed_in, f.folder, f.name = None, live, free

    def purge(self, group_id: str) -> None:
        g = self.trash.pop(group_id)
        for i in g.files:
            del self.files[i]
        self.acked = {c for c in self.acked if self.stored(c)}  # purged on purpose


async def full_listing(http: Any, dev: Device, limit: int) -> Phone:
    """A fresh device's first sync, page by page."""
    phone = Phone(dev)
    while True:
        params: dict[str, Any] = {"limit": limit}
        if phone.token:
            params["syncToken"] = phone.token
        r = await http.get(f"{API}/sync/status", params=params, headers=dev.auth)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        phone.apply(data)
        if not data["hasMore"]:
            return phone


def split_tree(tree: dict[str, tuple[str, str, str | None]]
               ) -> tuple[set[str], dict[str, tuple[str, str | None]]]:
    """A replica as (folder paths, file id → (path, checksum))."""
    folders = {p for kind, p, _ in tree.values() if kind == "folder"}
    return folders, {i: (p, c) for i, (kind, p, c) in tree.items() if kind == "file"}


def check_envelope(status: int, body: Any, text: str) -> None:
    """A failure is in the contract's envelope; never a 5xx but the contract's 507."""
    assert status < 500 or (status == 507 and "QUOTA_EXCEEDED" in text), text
    if status >= 400:
        assert isinstance(body, dict) and body.get("success") is False, text
        error = body.get("error")
        assert isinstance(error, dict), text
        assert isinstance(error.get("code"), str) and error["code"], text
        assert isinstance(error.get("message"), str), text
        assert isinstance(error.get("details"), dict), text
