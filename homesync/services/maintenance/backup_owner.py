"""Whose backups DEST holds: one server per DEST, told apart by the server key.

``latest`` is simply the newest snapshot, and ``restore`` without ``--snapshot`` takes
it. Were two servers backed up into one DEST, each one's nightly backup would make the
other's ``latest`` — and a restore would bring back the wrong server. So ``backup create``
refuses a DEST whose newest snapshot was taken of another server, unless told that this
server's key was replaced (then it is the same server under a new key).

A server is known by its ``server.key``: made on first start, never changed by
``keys rotate``, brought back by a restore (so a restored server continues its backups).
Every manifest records the key's sha256 (``serverKeySha256``), never the key.
"""

from __future__ import annotations

from homesync import clock
from homesync.store.backup_repo import BackupRepo, BackupRepoError, Manifest

__all__ = ["other_servers_snapshot", "refusal"]


def other_servers_snapshot(repo: BackupRepo, server_key_sha256: str) -> Manifest | None:
    """DEST's newest readable snapshot (``latest`` first) when another server took it."""
    latest = repo.latest()
    names = repo.snapshot_names()
    for name in ([latest] if latest else []) + names[::-1]:
        try:
            newest = repo.manifest(name)
        except BackupRepoError:
            continue  # damaged: `backup list` names it; judge by the next one
        return None if newest.server_key_sha256 == server_key_sha256 else newest
    return None


def refusal(repo: BackupRepo, theirs: Manifest) -> str:
    taken = clock.rfc3339(theirs.finished_at) or "?"
    return (f"{repo.root} holds the backups of another server: its latest snapshot"
            f" {theirs.name} (taken {taken} of {theirs.source}) has another server key, and"
            " `latest` (what a restore takes by default) would switch between the two"
            " servers. Back this server up into a directory of its own; if it is the same"
            " server and its server.key was replaced, pass --new-server-key. Nothing was"
            " written")
