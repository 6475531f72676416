"""What Bob should see of Alice's tree, from README "Sharing", written independently of
homesync.services.sharing (for tests/shares/test_share_properties.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

Tree = dict[str, tuple[str, str, str, str | None]]  # id → (kind, folder, name, checksum)


@dataclass(frozen=True)
class Root:
    share_id: str
    file_id: str
    permission: str
    order: tuple[int, str]  # (createdAt, id): older shares keep the plain name


def join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


def under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def numbered(name: str, n: int) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{name} ({n})" if not dot or not stem else f"{stem} ({n}).{ext}"


@dataclass
class Expected:
    tree: Tree
    entries: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    share_paths: dict[str, str] = field(default_factory=dict)
    folder_shares: dict[str, str] = field(default_factory=dict)  # share id → owner path
    roots: list[tuple[Root, str, str]] = field(default_factory=list)  # (root, owner, seen)
    owner_path: dict[str, str] = field(default_factory=dict)  # seen path → owner path

    def listing(self, root_path: str) -> dict[str, str | None]:
        return {join(f, n)[len(root_path):]: c for _, (_, f, n, c) in self.tree.items()
                if under(f, root_path)}

    def _write_folders(self) -> list[str]:
        return [owner for root, owner, _ in self.roots
                if root.permission == "write" and self.tree[root.file_id][0] == "folder"]

    def writable_folder(self, seen: str) -> bool:
        """A new entry may go into the folder Bob sees at ``seen``."""
        owner = self.owner_path.get(seen)
        if owner is None or self.tree_kind(owner) != "folder":
            return False
        return any(under(owner, w) for w in self._write_folders())

    def tree_kind(self, owner: str) -> str | None:
        return next((k for k, f, n, _ in self.tree.values() if join(f, n) == owner), None)

    def writable_content(self, file_id: str) -> bool:
        """New versions of ``file_id`` are allowed."""
        if any(r.file_id == file_id and r.permission == "write" for r, _, _ in self.roots):
            return True
        return self.inside_write(file_id)

    def inside_write(self, file_id: str) -> bool:
        """``file_id`` lies inside a write-shared folder (renames, moves, deletes)."""
        folder = self.tree[file_id][1]
        return any(under(folder, w) for w in self._write_folders())


def expected_view(tree: Tree, shares: list[Root], owner_folder: str) -> Expected:
    out = Expected(tree=tree)
    taken: set[str] = set()
    shared_folders = [join(tree[r.file_id][1], tree[r.file_id][2]) for r in shares
                      if r.file_id in tree and tree[r.file_id][0] == "folder"]
    for root in sorted(shares, key=lambda r: r.order):
        if root.file_id not in tree:
            continue  # the shared item is in the trash: the share shows nothing
        _, folder, name, _ = tree[root.file_id]
        if any(under(folder, f) for f in shared_folders):
            # Seen inside another shared folder: it takes no name.
            out.roots.append((root, join(folder, name), ""))
            continue
        seen, n = name, 1
        while join(owner_folder, seen).casefold() in taken:
            n += 1
            seen = numbered(name, n)
        taken.add(join(owner_folder, seen).casefold())
        out.roots.append((root, join(folder, name), join(owner_folder, seen)))
    for file_id, (kind, folder, name, checksum) in tree.items():
        path = join(folder, name)
        covering = [(owner, seen) for root, owner, seen in out.roots
                    if root.file_id == file_id or (tree[root.file_id][0] == "folder"
                                                   and under(folder, owner))]
        if not covering:
            continue
        owner, seen = min(covering, key=lambda c: len(c[0]))
        place = seen if owner == path else seen + path[len(owner):]
        out.entries[file_id] = (kind, place, checksum)
        out.owner_path[place] = path
    for root, owner, _ in out.roots:
        out.share_paths[root.share_id] = out.entries[root.file_id][1]
        if tree[root.file_id][0] == "folder":
            out.folder_shares[root.share_id] = owner
    return out
