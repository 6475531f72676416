"""`backup verify` says which part of a snapshot is wrong, and what to do about a damaged latest."""

from __future__ import annotations

from pathlib import Path

from homesync.services.container import Services
from tests.operations.data import photo, put_file
from tests.operations.test_backup_cli import as_json, homesync


async def _two_snapshots(services: Services, make_user, dest: Path) -> tuple[str, str]:
    uid = await make_user()
    await put_file(services, uid, "/camera", "a.jpg", photo(1))
    names = []
    for _ in range(2):
        made = homesync("backup", "create", dest, "--json", "--data-dir",
                        services.settings.data_path)
        assert made.returncode == 0, made.stderr
        names.append(as_json(made)["snapshot"])
    return names[0], names[1]


async def test_a_missing_server_key_is_labelled_as_the_key_not_the_database(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    _, latest = await _two_snapshots(services, make_user, dest)
    key = dest / "snapshots" / latest / "server.key"
    key.unlink()

    human = homesync("backup", "verify", dest)
    assert human.returncode == 1
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in human.stdout.splitlines() if line.count("│") >= 3}
    assert rows["Database"] == "ok" and rows["Server key"] == "missing", human.stdout
    assert f"server key: {key} is missing" in " ".join(human.stderr.split())

    document = as_json(homesync("backup", "verify", dest, "--json"))
    assert document["databaseProblems"] == [] and not document["ok"]
    assert document["serverKeyProblems"] == [f"{key} is missing"]
    assert document["chunks"] == 3  # the chunks were still checked

    key.write_text("0" * 64 + "\n")
    damaged = homesync("backup", "verify", dest)
    assert damaged.returncode == 1 and "Server key" in damaged.stdout
    assert "does not match the checksum" in damaged.stderr


async def test_a_damaged_latest_manifest_points_to_snapshot(services: Services, make_user,
                                                           tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    older, latest = await _two_snapshots(services, make_user, dest)
    (dest / "snapshots" / latest / "manifest.json").write_text("{")

    for command in (["verify"], ["restore", "--data-dir", str(tmp_path / "restored")]):
        refused = homesync("backup", *command, dest, "--json")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        error = as_json(refused)["error"]
        assert f"the latest snapshot {latest} is damaged" in error
        assert f"pick an older one with --snapshot (newest readable: {older};" in error
    assert not (tmp_path / "restored").exists()
    assert homesync("backup", "verify", dest, "--snapshot", older).returncode == 0
    # Asked for by name, the plain error: the operator already chose.
    named = homesync("backup", "verify", dest, "--snapshot", latest, "--json")
    assert named.returncode == 1 and "--snapshot" not in as_json(named)["error"]
