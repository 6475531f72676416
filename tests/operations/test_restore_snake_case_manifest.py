"""A snapshot taken by a homesync of the first day (before a02513e) has its manifest's keys
in snake_case (``started_at``): restore, list and verify read it as any other, instead of
calling it damaged ('Object missing required field `startedAt`')."""

from __future__ import annotations

import json
import re
from pathlib import Path

from homesync.services.container import Services
from homesync.store.backup_repo import BackupRepo
from tests.operations.cli import homesync
from tests.operations.restored import assert_photos_download, photos_backed_up


def _snake(key: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), key)


async def test_a_snapshot_with_a_snake_case_manifest_restores(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    [photo_id] = await photos_backed_up(services, make_user, dest)
    repo = BackupRepo.open(dest)
    manifest_path = repo.snapshot_dir(repo.resolve(None)) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({_snake(k): v for k, v in manifest.items()}))
    assert "started_at" in manifest_path.read_text()

    listed = homesync("backup", "list", dest, "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    verified = homesync("backup", "verify", dest, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    restored = tmp_path / "restored"
    done = homesync("backup", "restore", dest, "--data-dir", restored, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"]
    assert_photos_download(restored, [photo_id])
