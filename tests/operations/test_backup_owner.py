"""One DEST holds one server's backups: `latest` must never be another server's snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homesync.services.container import Services
from homesync.services.maintenance.backup import BackupOfAnotherServer
from homesync.services.maintenance.restore import restore_backup
from homesync.store.backup_repo import BackupRepo
from tests.helpers import make_settings
from tests.operations.data import photo, put_file
from tests.operations.test_backup_cli import as_json, homesync
from tests.operations.test_backup_prune import tree


@pytest.fixture
async def other(tmp_path: Path) -> AsyncIterator[Services]:
    """A second server: its own data dir, so its own server key."""
    svc = await Services.open(make_settings(tmp_path / "other-data"))
    try:
        yield svc
    finally:
        await svc.close()


async def test_a_second_server_is_refused_unless_its_key_was_replaced(
        services: Services, other: Services, make_user, tmp_path: Path) -> None:
    uid = await make_user()
    await put_file(services, uid, "/camera", "mine.jpg", photo(1))
    dest = tmp_path / "backup"
    mine = await services.backups.create(dest)
    before = tree(dest)

    with pytest.raises(BackupOfAnotherServer) as refused:
        await other.backups.create(dest)
    said = str(refused.value)
    assert f"holds the backups of another server: its latest snapshot {mine.snapshot}" in said
    assert str(services.settings.data_path) in said and "--new-server-key" in said
    assert tree(dest) == before
    assert BackupRepo.open(dest).latest() == mine.snapshot
    assert await other.backups.last() is None

    # Told that this is the same server under a new key: it backs up, and is `latest`.
    replaced = await other.backups.create(dest, new_server_key=True)
    assert replaced.ok and BackupRepo.open(dest).latest() == replaced.snapshot
    # ...and the first server is now the stranger there.
    with pytest.raises(BackupOfAnotherServer):
        await services.backups.create(dest)


async def test_a_restored_server_goes_on_backing_up_into_the_same_destination(
        services: Services, make_user, tmp_path: Path) -> None:
    uid = await make_user()
    await put_file(services, uid, "/camera", "a.jpg", photo(1))
    dest = tmp_path / "backup"
    first = await services.backups.create(dest)
    target = tmp_path / "new-disk"
    assert (await restore_backup(dest, target, fsync=False)).ok

    restored = await Services.open(make_settings(target))
    try:
        again = await restored.backups.create(dest)  # the server key came back with it
    finally:
        await restored.close()
    assert again.ok and again.snapshot != first.snapshot
    assert BackupRepo.open(dest).latest() == again.snapshot


async def test_create_into_another_servers_destination_is_exit_code_4(
        services: Services, other: Services, make_user, tmp_path: Path) -> None:
    uid = await make_user()
    await put_file(services, uid, "/camera", "a.jpg", photo(1))
    dest = tmp_path / "backup"
    assert homesync("backup", "create", dest, "--data-dir", services.settings.data_path
                    ).returncode == 0
    snapshots = sorted(p.name for p in (dest / "snapshots").iterdir())
    await other.close()  # the CLI opens that data dir itself

    refused = homesync("backup", "create", dest, "--json", "--data-dir",
                       other.settings.data_path)
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "another server" in as_json(refused)["error"]
    assert sorted(p.name for p in (dest / "snapshots").iterdir()) == snapshots

    allowed = homesync("backup", "create", dest, "--json", "--new-server-key", "--data-dir",
                       other.settings.data_path)
    assert allowed.returncode == 0, allowed.stderr
    assert as_json(homesync("backup", "list", dest, "--json"))["latest"] == \
        as_json(allowed)["snapshot"]
