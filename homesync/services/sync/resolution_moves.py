"""Where a resolution puts entries in the tree: a rename or move onto a taken name, the
device's name for a kept file, trash and back, and the folder a kept file goes into.
Deciding what a resolution does is :mod:`.resolutions`; this carries out its moves."""

from __future__ import annotations

from homesync.errors import InvalidPath, NotFound
from homesync.paths import is_under, join
from homesync.services.files.naming import conflicted_copy_names, find_free_name, restored_names
from homesync.services.files.trash import folder_to_restore_into, untrash
from homesync.services.sync.conflicts import ConflictSide, ConflictView
from homesync.services.sync.engine import move_to_trash
from homesync.services.sync.types import Actor
from homesync.store import files, tree
from homesync.store.db import Conn, Row

__all__ = ["conflict_file", "folder_for_kept_file", "relocate", "rename_as_local",
           "trash_entry", "untrash_entry"]


async def conflict_file(tx: Conn, actor: Actor, file_id: str) -> Row:
    row = await tree.get(tx, actor.user_id, file_id)
    if row is None:
        raise NotFound("The file of this conflict no longer exists")
    return row


async def folder_for_kept_file(tx: Conn, actor: Actor, folder: str) -> str:
    """Where a new file the device keeps goes, for ``folder``: found as a trash restore
    finds it (made if gone; a segment whose name a file took since is "name
    (restored)"). That file in the way made the resolution fail ("… is a file"), and
    only keep_remote, dropping the device's side, could settle the conflict."""
    return await folder_to_restore_into(tx, actor.user_id, folder, actor.device_id, actor.now)


async def untrash_entry(tx: Conn, actor: Actor, row: Row) -> Row:
    """Bring a trashed entry back where it was (under a free name), with its group,
    as a trash restore does."""
    await untrash(tx, user_id=actor.user_id, row=row, device_id=actor.device_id, now=actor.now)
    return await conflict_file(tx, actor, row["id"])


async def trash_entry(tx: Conn, actor: Actor, file_id: str | None) -> str | None:
    if file_id is None:
        return None
    row = await conflict_file(tx, actor, file_id)
    if row["deleted_at"] is None:
        await move_to_trash(tx, actor, row)
    return file_id


async def rename_as_local(tx: Conn, actor: Actor, file_id: str, *,
                          folder: str | None, name: str | None) -> None:
    """``localData`` named the file differently: the device's name (or folder) wins
    too. Only what ``localData`` names changes: the rest stays as the server has it."""
    row = await conflict_file(tx, actor, file_id)
    folder, name = folder or row["folder"], name or row["name"]
    folder = await files.canonical_folder(tx, actor.user_id, folder)
    if (folder, name) == (row["folder"], row["name"]):
        return
    here = await files.find_by_name(tx, actor.user_id, folder, name)
    if here is not None and here["id"] != row["id"]:
        name, _ = await find_free_name(tx, actor.user_id, folder, restored_names(name))
    await files.ensure_folder(tx, user_id=actor.user_id, folder=folder,
                              device_id=actor.device_id, now=actor.now)
    await tree.move(tx, user_id=actor.user_id, row=row, folder=folder, name=name,
                    device_id=actor.device_id, now=actor.now)


async def relocate(tx: Conn, actor: Actor, conflict: ConflictView, local: ConflictSide,
                   choice: str) -> tuple[str | None, str | None]:
    """A rename or move onto a taken name. If the entry was deleted meanwhile there is
    nothing left to rename: the conflict is settled as it stands."""
    assert local.file_id is not None and local.folder is not None and local.name is not None
    row = await conflict_file(tx, actor, local.file_id)
    if row["deleted_at"] is not None:
        return None, None
    folder = local.folder
    if row["kind"] == "folder" and is_under(folder, join(row["folder"], row["name"])):
        # localData may name a place inside the folder itself: as in /sync/files, never
        # (it would leave the folder, and all in it, where no listing reaches).
        raise InvalidPath("A folder cannot move into itself")
    in_way = await files.find_by_name(tx, actor.user_id, folder, local.name)
    name = local.name
    if in_way is not None and in_way["id"] != row["id"]:
        if choice == "keep_local":
            await trash_entry(tx, actor, in_way["id"])
            # The entry in the way may be the folder holding this one, which went to
            # the trash with it: it comes back out, at its new place.
            row = await conflict_file(tx, actor, row["id"])
        else:
            name, _ = await find_free_name(
                tx, actor.user_id, folder,
                conflicted_copy_names(local.name, local.device_name or actor.device_name,
                                      conflict.created_at,
                                      is_folder=row["kind"] == "folder"))
    if row["deleted_at"] is not None:
        await tree.restore_group(tx, user_id=actor.user_id, row=row, folder=folder,
                                 name=name, device_id=actor.device_id, now=actor.now)
    elif (folder, name) != (row["folder"], row["name"]):
        await files.ensure_folder(tx, user_id=actor.user_id, folder=folder,
                                  device_id=actor.device_id, now=actor.now)
        await tree.move(tx, user_id=actor.user_id, row=row, folder=folder, name=name,
                        device_id=actor.device_id, now=actor.now)
    return str(row["id"]), None
