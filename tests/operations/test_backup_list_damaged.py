"""`homesync backup list` with a damaged snapshot: the others are still listed (one bad
manifest used to hide every snapshot), the damaged one is named, and the exit code is 1."""

from __future__ import annotations

from pathlib import Path

from homesync.services.container import Services
from homesync.store.backup_repo import BackupRepo
from tests.operations.data import photo, put_file
from tests.operations.test_backup_cli import as_json, homesync


async def test_a_damaged_manifest_is_named_and_the_other_snapshots_are_still_listed(
        services: Services, make_user, tmp_path: Path) -> None:
    uid = await make_user()
    await put_file(services, uid, "/camera", "IMG_0.jpg", photo(0))
    dest = tmp_path / "backup"
    for _ in range(3):
        created = homesync("backup", "create", dest, "--json", "--data-dir",
                           services.settings.data_path)
        assert created.returncode == 0, created.stderr
    repo = BackupRepo.open(dest)
    garbled, lost, good = repo.snapshot_names()
    (repo.snapshot_dir(garbled) / "manifest.json").write_text("garbage")
    (repo.snapshot_dir(lost) / "manifest.json").unlink()

    listed = homesync("backup", "list", dest, "--json")
    assert listed.returncode == 1, listed.stdout + listed.stderr
    document = as_json(listed)
    assert [s["name"] for s in document["snapshots"]] == [good]
    assert document["latest"] == good
    assert sorted(d["name"] for d in document["damaged"]) == [garbled, lost]
    assert all("manifest.json" in d["problem"] for d in document["damaged"])

    human = homesync("backup", "list", dest)
    assert human.returncode == 1
    assert good in human.stdout
    said = human.stderr.replace("\n", " ")
    assert garbled in said and lost in said and "Traceback" not in said
