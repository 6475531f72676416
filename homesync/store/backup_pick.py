"""Which snapshot ``verify`` and ``restore`` work on: the one asked for, else ``latest``."""

from __future__ import annotations

from homesync.store.backup_repo import BackupRepo, BackupRepoError, Manifest

__all__ = ["pick_snapshot"]


def pick_snapshot(repo: BackupRepo, asked: str | None) -> tuple[str, Manifest]:
    """The snapshot ``asked`` (default: the latest) and its manifest.

    Raises:
        BackupRepoError: no such snapshot, or its manifest is unreadable. When that is the
            latest, picked by default, the message names older snapshots to pick instead.
    """
    name = repo.resolve(asked)
    try:
        return name, repo.manifest(name)
    except BackupRepoError as exc:
        if asked is not None:
            raise
        damaged = repo.damaged_snapshots()
        readable = [n for n in repo.snapshot_names() if n != name and n not in damaged]
        instead = (f"pick an older one with --snapshot (newest readable: "
                   f"{', '.join(readable[-3:][::-1])}; see `homesync backup list {repo.root}`)"
                   if readable else "no other snapshot there can be read")
        raise BackupRepoError(f"the latest snapshot {name} is damaged: {exc}; {instead}") from None
