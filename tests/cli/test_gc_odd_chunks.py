"""`homesync gc` on a data dir where something odd stands at a chunk's place."""

from __future__ import annotations

import os

from homesync.services.container import Services
from tests.cli.conftest import Cli
from tests.operations.data import chunk_files, delete_file, photo, put_file


def _two_deleted_photos(cli: Cli) -> list[str]:
    """Alice stores two one-chunk photos and deletes them: their chunks, waiting for gc."""
    cli.add_user()

    async def store(s: Services) -> None:
        uid = (await s.accounts.get("alice@example.com")).id
        for seed in (1, 2):
            await delete_file(s, uid, await put_file(s, uid, "/camera", f"IMG_{seed}.jpg",
                                                      photo(seed, 1000)))

    cli.with_services(store)
    return sorted(chunk_files(cli.data_dir))


def test_a_directory_at_an_unused_chunks_place_does_not_stop_gc(cli: Cli) -> None:
    """A directory made by hand where a deleted file's chunk was: gc failed at it with
    'Is a directory', exit 1, every round (the server's too), and freed nothing after
    it. It is left alone (fsck lists it as not a chunk) and the rest is collected."""
    first, second = _two_deleted_photos(cli)
    path = chunk_files(cli.data_dir)[first]
    path.unlink()
    path.mkdir()
    os.utime(path, (0, 0))

    result = cli("gc", "--grace", "0s", "--json")
    assert result.exit_code == 0, result.output
    assert not chunk_files(cli.data_dir).get(second)  # collected
    assert path.is_dir()  # left for the operator
    report = cli.json("fsck")
    assert report["ok"] is True and report["unusedMissing"] == 0  # its row was forgotten
    assert report["strayFiles"] == [f"{first[:2]}/{first[2:4]}/{first}/"]
