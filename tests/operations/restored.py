"""A backup of alice's photos, and what a data dir restored from it must do: serve them
back, byte for byte."""

from __future__ import annotations

from pathlib import Path

from homesync.services.container import Services
from tests.helpers import ServerProcess
from tests.operations.cli import homesync
from tests.operations.data import photo, put_file
from tests.operations.phone import Phone


async def photos_backed_up(services: Services, make_user, dest: Path, count: int = 1,
                           backups: int = 1) -> list[str]:
    """alice's photos ``IMG_i.jpg`` (``photo(i)``, i < ``count``), then ``backups`` runs
    of `homesync backup create` into ``dest``; the photos' ids."""
    uid = await make_user()
    photo_ids = [await put_file(services, uid, "/camera", f"IMG_{i}.jpg", photo(i))
                 for i in range(count)]
    for _ in range(backups):
        created = homesync("backup", "create", dest, "--json", "--data-dir",
                           services.settings.data_path)
        assert created.returncode == 0, created.stderr
    return photo_ids


def assert_photos_download(target: Path, photo_ids: list[str]) -> None:
    """A server started on the restored ``target`` gives alice's phone each photo back,
    byte for byte (photo ``i`` is ``photo(i)``)."""
    server = ServerProcess(target)
    server.start()
    try:
        phone = Phone(server.base, "alice@example.com", "pixel")
        for i, photo_id in enumerate(photo_ids):
            r = phone.download(photo_id)
            assert r.status_code == 200 and r.content == photo(i), (i, r.status_code)
    finally:
        server.stop()
