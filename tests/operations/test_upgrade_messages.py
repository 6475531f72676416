"""A start (a command, a restore of an older snapshot) that upgrades the database says
so: which migration it applies and how long it took (0024 rewrites every manifest row,
seconds for a big database, and a silent server looked like one that does not start)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from homesync.services.container import Services
from homesync.store.backup_repo import DATABASE_FILE, BackupRepo
from homesync.store.file_copies import sha256_file
from homesync.store.migrate import migrations
from tests.helpers import ServerProcess, database_at, make_settings, schema_before
from tests.operations.cli import homesync
from tests.operations.restored import assert_photos_download, photos_backed_up


def _schema_before(path: Path, migration: str) -> list[str]:
    """An empty database at ``path`` as a homesync before ``migration`` made it; the names
    of the migrations an upgrade applies."""
    before = schema_before(migration)
    database_at(path, before).close()
    return [name for n, name, _ in migrations() if n > before]


def _database_before(path: Path, migration: str) -> list[str]:
    """A database as a homesync before ``migration`` left it, with an account and a file
    of three chunks; the names of the migrations an upgrade applies."""
    applied = _schema_before(path, migration)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        "INSERT INTO users (id, email, name, password_hash, created_at, password_changed_at)"
        " VALUES ('user_1', 'a@example.com', 'A', 'x', 0, 0);"
        "INSERT INTO files (id, user_id, kind, folder, name, name_key, modified_at,"
        " created_at, created_seq, seq) VALUES ('file_1', 'user_1', 'file', '/', 'a', 'a',"
        " 0, 0, 1, 1);"
        "INSERT INTO chunks (hash, size, created_at) VALUES ('a', 10, 0), ('b', 3, 0);"
        "INSERT INTO file_versions (id, file_id, user_id, size, checksum, mime_type,"
        " modified_at, created_at) VALUES ('ver_1', 'file_1', 'user_1', 23, 'x', 'x', 0, 0);"
        "INSERT INTO version_chunks (version_id, idx, chunk_hash) VALUES ('ver_1', 0, 'a'),"
        " ('ver_1', 1, 'b'), ('ver_1', 2, 'a');")
    conn.close()
    return applied


def _assert_says_upgrade(lines: list[str], applied: list[str]) -> None:
    """A command's standard error ``lines`` start with the upgrade, and name each
    migration it applied with how long that took."""
    assert lines[0].startswith("upgrading the database from schema version"), lines
    for name in applied:
        assert f"applying migration {name} ..." in lines
        assert any(re.fullmatch(rf"applied migration {re.escape(name)} in \d+\.\d s", line)
                   for line in lines), lines


def test_a_start_that_upgrades_the_database_says_each_migration_and_how_long(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    settings = make_settings(data)
    applied = _database_before(settings.db_path, "_version_chunk_offsets.sql")
    server = ServerProcess(data)
    server.start()
    try:
        log = server.log_path.read_text()
    finally:
        server.stop()
    newest = migrations()[-1][0]
    said = re.findall(r" INFO homesync\.store\.migrate \[-\] (.*)", log)
    assert said[0].startswith(f"upgrading the database from schema version {newest - len(applied)}"
                              f" to {newest} ({len(applied)} migration(s))"), log
    for name in applied:
        assert f"applying migration {name} ..." in said, log
        assert any(re.fullmatch(rf"applied migration {re.escape(name)} in \d+\.\d s", line)
                   for line in said), log
    assert any(re.fullmatch(rf"database upgraded to schema version {newest} in \d+\.\d s", line)
               for line in said), log
    # All of it before the server says it serves: the wait is explained while it lasts.
    assert log.index("database upgraded") < log.index("homesync serving"), log

    again = ServerProcess(data)
    again.start()  # an up-to-date database: nothing to say
    try:
        assert "homesync.store.migrate" not in again.log_path.read_text()
    finally:
        again.stop()


def test_a_command_that_upgrades_the_database_says_so_on_stderr(tmp_path: Path) -> None:
    """The first command after an upgrade (a status check, a user list) may be the one
    that applies the migrations: it says so too, on standard error, and its output on
    standard output stays clean (--json)."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    applied = _database_before(make_settings(data).db_path, "_version_chunk_offsets.sql")
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false"}
    listed = subprocess.run([sys.executable, "-m", "homesync", "user", "list", "--json",
                             "--data-dir", str(data)], capture_output=True, text=True,
                            env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert [u["email"] for u in json.loads(listed.stdout)] == ["a@example.com"]
    _assert_says_upgrade(listed.stderr.splitlines(), applied)
    again = subprocess.run([sys.executable, "-m", "homesync", "user", "list", "--json",
                            "--data-dir", str(data)], capture_output=True, text=True,
                           env=env, timeout=120)
    assert again.returncode == 0 and again.stderr == "", again.stderr


def _as_an_older_homesync_left_it(db: Path, migration: str) -> list[str]:
    """Rewrite the database ``db`` as a homesync before ``migration`` would have: the same
    rows (the columns that schema has) in its older schema. The migrations an upgrade
    applies."""
    older = db.with_name("older.sqlite3")
    applied = _schema_before(older, migration)
    conn = sqlite3.connect(older, isolation_level=None)
    conn.execute("ATTACH ? AS newer", (str(db),))
    conn.execute("BEGIN")
    # The rows are copied as they are: no trigger may add to them.
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _sql in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                         " AND name NOT LIKE 'sqlite_%'")]
    for table in tables:
        has = {row[1] for row in conn.execute(f"PRAGMA newer.table_info({table})")}
        columns = ", ".join(row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")
                            if row[1] in has)
        conn.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM newer.{table}")
    for _name, sql in triggers:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("DETACH newer")
    conn.close()
    os.replace(older, db)
    return applied


async def test_a_restore_of_an_older_snapshot_says_each_migration_it_applies(
        services: Services, make_user, tmp_path: Path) -> None:
    """A snapshot taken by an older homesync is brought up to date as it is restored
    (its "Migrate database" step): the restore says so as any command does, and the
    restored server serves the file (its manifest rows have their offsets now)."""
    dest = tmp_path / "backup"
    [photo_id] = await photos_backed_up(services, make_user, dest)
    snap_dir = BackupRepo.open(dest).snapshot_dir(BackupRepo.open(dest).resolve(None))
    applied = _as_an_older_homesync_left_it(snap_dir / DATABASE_FILE,
                                            "_version_chunk_offsets.sql")
    manifest = json.loads((snap_dir / "manifest.json").read_text())
    manifest["databaseSha256"] = sha256_file(snap_dir / DATABASE_FILE)
    (snap_dir / "manifest.json").write_text(json.dumps(manifest))

    restored = tmp_path / "restored"
    done = homesync("backup", "restore", dest, "--data-dir", restored, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"]
    _assert_says_upgrade(done.stderr.splitlines(), applied)
    assert_photos_download(restored, [photo_id])
