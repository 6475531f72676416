"""`homesync backup restore` refuses a snapshot it cannot finish before it touches the
target: the data dir being replaced stays where it is, with no half restore in it."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from homesync.services.container import Services
from homesync.store.backup_repo import BackupRepo
from homesync.store.migrate import migrations
from tests.operations.data import photo, put_file
from tests.operations.test_backup_cli import allow_files, as_json, homesync, small_disk


async def _backup_with_a_live_data_dir(services: Services, make_user,
                                       tmp_path: Path) -> tuple[Path, Path, Path]:
    """(DEST, its latest snapshot dir, a stopped server's data dir to --force a restore into)."""
    uid = await make_user()
    for i in range(3):
        await put_file(services, uid, "/camera", f"IMG_{i}.jpg", photo(i))
    dest = tmp_path / "backup"
    created = homesync("backup", "create", dest, "--json", "--data-dir", services.settings.data_path)
    assert created.returncode == 0, created.stderr
    repo = BackupRepo.open(dest)
    target = tmp_path / "home-server"
    target.mkdir()
    (target / "homesync.sqlite3").write_bytes(b"today's database")
    (target / "server.key").write_text("today's key")
    return dest, repo.snapshot_dir(repo.resolve(None)), target


def _homesync_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``homesync(...)`` run from ``cwd``, for relative paths."""
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false"}
    env.pop("HOMESYNC_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "homesync", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _contents(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _refused_and_untouched(dest: Path, target: Path, *words: str) -> None:
    before = _contents(target)
    result = homesync("backup", "restore", dest, "--force", "--json", "--data-dir", target)
    assert result.returncode == 1, result.stdout + result.stderr
    error = as_json(result)["error"]
    assert all(w in error for w in words), error
    assert "Traceback" not in result.stderr and "Errno" not in result.stderr, result.stderr
    assert _contents(target) == before  # nothing moved aside, no restore marker
    assert sorted(p.name for p in target.iterdir()) == ["homesync.sqlite3", "server.key"]


async def test_a_snapshot_without_its_server_key_is_refused_before_the_target_is_touched(
        services: Services, make_user, tmp_path: Path) -> None:
    dest, snapshot, target = await _backup_with_a_live_data_dir(services, make_user, tmp_path)
    (snapshot / "server.key").unlink()
    _refused_and_untouched(dest, target, "server.key", "missing", "--snapshot")


async def test_a_snapshot_whose_server_key_is_damaged_is_refused_not_restored(
        services: Services, make_user, tmp_path: Path) -> None:
    dest, snapshot, target = await _backup_with_a_live_data_dir(services, make_user, tmp_path)
    key = snapshot / "server.key"
    key.write_bytes(key.read_bytes()[:-4] + b"XXXX")
    _refused_and_untouched(dest, target, "server.key", "does not match its manifest")


async def test_a_snapshot_from_a_newer_homesync_is_refused_before_the_target_is_touched(
        services: Services, make_user, tmp_path: Path) -> None:
    """Restoring onto an older install (a distro's package, say) says to upgrade first,
    rather than a migration traceback after every chunk was copied."""
    dest, snapshot, target = await _backup_with_a_live_data_dir(services, make_user, tmp_path)
    newest = migrations()[-1][0]
    database = snapshot / "homesync.sqlite3"
    with closing(sqlite3.connect(database)) as conn:
        conn.execute(f"PRAGMA user_version = {newest + 1}")
        conn.commit()
    manifest_file = snapshot / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["databaseSha256"] = hashlib.sha256(database.read_bytes()).hexdigest()
    manifest["schemaVersion"] = newest + 1
    manifest_file.write_text(json.dumps(manifest))
    _refused_and_untouched(dest, target, "newer homesync", "upgrade")


async def test_the_config_init_wrote_in_the_data_dir_stays_where_serve_looks_for_it(
        services: Services, make_user, tmp_path: Path) -> None:
    """A backup holds no config: restoring into the data dir `init` made (its config in
    it) needs no --force, and --force moves the data aside but leaves the config, so the
    same `serve --config` starts on the restored data."""
    dest, _snapshot, _target = await _backup_with_a_live_data_dir(services, make_user, tmp_path)
    data = tmp_path / "srv" / "homesync"
    assert homesync("init", "--data-dir", data).returncode == 0
    config = data / "homesync.toml"
    written = config.read_text()

    fresh = homesync("backup", "restore", dest, "--config", config, "--json")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert as_json(fresh)["movedAside"] is None and config.read_text() == written

    again = homesync("backup", "restore", dest, "--config", config, "--force", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    aside = Path(as_json(again)["movedAside"])
    assert config.read_text() == written and not (aside / "homesync.toml").exists()
    assert (aside / "homesync.sqlite3").is_file()
    status = homesync("status", "--config", config, "--json")
    assert status.returncode == 0, status.stderr
    assert as_json(status)["files"] == 3


async def test_a_relative_backup_path_is_reported_and_recorded_absolute(
        services: Services, make_user, tmp_path: Path) -> None:
    """As `backup create` and `verify` give it: 'backup' alone names nothing later."""
    dest, _snapshot, _target = await _backup_with_a_live_data_dir(services, make_user, tmp_path)
    result = _homesync_in(tmp_path, "backup", "restore", dest.name, "--data-dir", "restored",
                          "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert as_json(result)["destination"] == str(dest)
    with closing(sqlite3.connect(tmp_path / "restored" / "homesync.sqlite3")) as conn:
        (source,) = conn.execute("SELECT source FROM restores").fetchone()
    assert source.startswith(f"{dest}/snapshots/"), source


async def test_a_target_too_small_for_the_restore_is_refused_before_it_is_touched(
        services: Services, make_user, tmp_path: Path) -> None:
    dest, _snapshot, _target = await _backup_with_a_live_data_dir(services, make_user, tmp_path)
    with small_disk(tmp_path / "small", "256k") as small:
        target = small / "homesync"
        target.mkdir()
        (target / "homesync.sqlite3").write_bytes(b"today's database")
        (target / "server.key").write_text("today's key")
        _refused_and_untouched(dest, target, str(target), "free", "needs", "nothing was changed")


async def test_a_target_that_fills_up_midway_is_named_and_the_same_restore_resumes(
        services: Services, make_user, tmp_path: Path) -> None:
    """Room for the bytes but not for every file: the check up front passes, the copy
    runs out of room. The message names the data dir and says how to go on."""
    dest, _snapshot, _target = await _backup_with_a_live_data_dir(services, make_user, tmp_path)
    with small_disk(tmp_path / "small", "16m") as small:
        target = small / "homesync"
        allow_files(small, 9)  # the data dir, server.lock, the marker, ... two chunks
        full = homesync("backup", "restore", dest, "--data-dir", target, "--json")
        assert full.returncode == 1, full.stdout + full.stderr
        error = as_json(full)["error"]
        assert f"the data dir {target} is full" in error and "run the same restore again" in error
        assert "Traceback" not in full.stderr
        allow_files(small, 100)
        again = homesync("backup", "restore", dest, "--data-dir", target, "--json")
        assert again.returncode == 0, again.stdout + again.stderr
        assert as_json(again)["ok"] and as_json(again)["resumedChunks"] > 0


async def test_forced_over_the_data_dir_it_was_taken_of_the_room_counts_the_chunks_moved_aside(
        services: Services, make_user, tmp_path: Path) -> None:
    """`--force` over a data dir holding the same chunks (the server's own, restored over
    itself): they are moved aside, not reused, yet the check counted them as in place, so
    a disk without room for a second copy was not refused: the data dir was moved aside
    and the restore stopped at a full disk, one it could never finish there."""
    dest, _snapshot, _target = await _backup_with_a_live_data_dir(services, make_user, tmp_path)
    # Room for the database again (~0.4 MiB) but not for it and the chunks (~0.45 MiB).
    with small_disk(tmp_path / "small", "1536k") as small:
        target = small / "homesync"
        first = homesync("backup", "restore", dest, "--data-dir", target, "--json")
        assert first.returncode == 0, first.stdout + first.stderr
        before = _contents(target)

        again = homesync("backup", "restore", dest, "--force", "--json", "--data-dir", target)

        assert again.returncode == 1, again.stdout + again.stderr
        error = as_json(again)["error"]
        assert all(w in error for w in ("free", "needs", "nothing was changed")), error
        assert _contents(target) == before  # nothing moved aside, no restore marker


async def test_a_target_that_is_a_file_is_refused_as_before_the_room_check(
        services: Services, make_user, tmp_path: Path) -> None:
    """The room check (a8b21db) read the target's restore marker before the target was
    checked: a data dir that is a file ended the restore with exit 1 and "[Errno 20] Not a
    directory: '…/.restore-in-progress'" instead of the refusal, exit code 4."""
    dest, _, _ = await _backup_with_a_live_data_dir(services, make_user, tmp_path)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a data dir")
    for force in ([], ["--force"]):
        refused = homesync("backup", "restore", dest, "--json", "--data-dir", a_file, *force)
        assert refused.returncode == 4, refused.stdout + refused.stderr
        assert as_json(refused) == {"ok": False, "error": f"{a_file} is not a directory"}
    assert a_file.read_text() == "not a data dir"
