"""The schema's numbered migrations: contiguous, never edited once landed, and every
database, fresh or of any older version, reaches the newest."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from pathlib import Path

import jwt
import pytest

from homesync.services.container import Services
from homesync.store.db import Database
from homesync.store.migrate import migrations
from tests.helpers import database_at, make_settings, schema_before

# sha256 (first 16 hex digits) of every migration that has been on main: a database that
# ran one never runs it again, so changing it changes nothing there. Add a new migration
# instead, and its hash here.
_LANDED = {
    1: "e1e8fce054eefafa", 2: "16306b025f00bd9b", 3: "1ba7ba6c435c12fa",
    4: "76b8c702bf04b237", 5: "15ebd37f81cba41e", 6: "bbdc1befbf6b4f5c",
    7: "79eaafc3ec2d3079", 8: "3a014ac2b03452ee", 9: "014e3bcee02d972f",
    10: "4bb7f9167754e3fb", 11: "cab702351e9dac3b", 12: "26328d0b68289ab6",
    13: "0fd1d02b7367297f", 14: "558c56f02ee29fdd", 15: "f14b8de631aaa15a",
    16: "77d79cc294ba47be", 17: "e299f26f8e1db21d",
    18: "100887d500bfbf09", 19: "3f862f6f1dcea7ea", 20: "1210f7dbf98e9b48",
    21: "567310ef8c207ae3", 22: "4c85f4065ba990c9", 23: "3e29a206b7299840",
    24: "48b76fb834fd2455", 25: "3bfb09e1c873c0fd", 26: "2bc60614513d0b66",
    27: "e2325a5d9c415d77", 28: "193b369cc84cc836", 29: "41d96a2e11b58503",
}


def test_landed_migrations_are_never_edited() -> None:
    found = {number: hashlib.sha256(sql.encode()).hexdigest()[:16]
             for number, _name, sql in migrations()}
    assert {n: found.get(n) for n in _LANDED} == _LANDED
    assert set(found) <= set(_LANDED), "add the new migration's hash to _LANDED"


def test_migrations_are_numbered_without_gaps() -> None:
    numbers = [number for number, _, _ in migrations()]
    assert numbers == list(range(1, len(numbers) + 1))


async def test_fresh_database_reaches_the_newest_version(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        row = await db.fetchone("PRAGMA user_version")
        assert row is not None and row[0] == migrations()[-1][0]
        check = await db.fetchone("PRAGMA integrity_check")
        assert check is not None and check[0] == "ok"
        assert await db.fetchall("PRAGMA foreign_key_check") == []
    finally:
        await db.close()


async def _upgrades_keeping_user_1(path: Path) -> None:
    """Opening ``path`` brings it to the newest version, consistent, with user_1 kept."""
    db = await Database.open(path)
    try:
        row = await db.fetchone("PRAGMA user_version")
        assert row is not None and row[0] == migrations()[-1][0]
        assert await db.fetchall("PRAGMA foreign_key_check") == []
        assert [r["id"] for r in await db.fetchall("SELECT id FROM users")] == ["user_1"]
    finally:
        await db.close()


@pytest.mark.parametrize("older", range(1, len(migrations())))
async def test_a_database_of_an_older_version_upgrades_with_its_data(tmp_path: Path,
                                                                     older: int) -> None:
    """Each migration applies on top of the one before (a server upgraded in place), not
    only to a fresh database, and keeps the data."""
    path = tmp_path / "db.sqlite3"
    conn = database_at(path, older)
    conn.execute("INSERT INTO users (id, email, name, password_hash, created_at,"
                 " password_changed_at) VALUES ('user_1', 'a@example.com', 'A', 'x', 0, 0)")
    conn.close()
    await _upgrades_keeping_user_1(path)


async def test_an_upgraded_server_keeps_signing_with_its_key(tmp_path: Path) -> None:
    """Before signing_keys, the one access-token key was derived from server.key. After the
    upgrade it is the active key: a token it signed before still works, also once a
    rotation made it the previous key."""
    settings = make_settings(tmp_path / "data")
    settings.data_path.mkdir(parents=True)
    conn = database_at(settings.db_path, schema_before("_signing_keys.sql"))
    conn.executescript(
        "INSERT INTO users (id, email, name, password_hash, created_at, password_changed_at)"
        " VALUES ('user_1', 'a@example.com', 'A', 'x', 0, 0);"
        "INSERT INTO devices (id, user_id, client_id, name, platform, model, os_version,"
        " app_version, registered_at, last_active_at)"
        " VALUES ('device_1', 'user_1', 'phone-1', 'A''s Pixel', 'android', 'Pixel', '14',"
        " '1.0', 0, 0);"
        "INSERT INTO token_families (id, user_id, device_id, created_at)"
        " VALUES ('sid_1', 'user_1', 'device_1', 0);")
    conn.close()
    secret = secrets.token_bytes(32)
    (settings.data_path / "server.key").write_text(secret.hex() + "\n")
    # A token as homesync signed it then: with the key derived from server.key.
    derived = hmac.new(secret, b"homesync access-token key v1", hashlib.sha256).digest()
    kid = hashlib.sha256(derived).hexdigest()[:12]
    now = int(time.time())
    token = jwt.encode({"iss": settings.auth.issuer, "aud": settings.auth.audience,
                        "sub": "user_1", "did": "device_1", "sid": "sid_1", "jti": "j",
                        "iat": now, "nbf": now, "exp": now + 600},
                       derived, algorithm="HS256", headers={"typ": "at+jwt", "kid": kid})

    services = await Services.open(settings)
    try:
        [key] = await services.signing_keys.list()
        assert (key.kid, key.state, key.from_server_key) == (kid, "active", True)
        assert (await services.sessions.principal(token)).device_id == "device_1"
        await services.signing_keys.rotate()
        assert [k.state for k in await services.signing_keys.list()] == ["previous", "active"]
        assert (await services.sessions.principal(token)).device_id == "device_1"
    finally:
        await services.close()


def _schema(conn: sqlite3.Connection) -> set[tuple[str, ...]]:
    """Every table's columns, and every index, view and trigger, by name."""
    objects = conn.execute("SELECT type, name FROM sqlite_master"
                           " WHERE name NOT LIKE 'sqlite_%'").fetchall()
    columns = {("column", table, col[1]) for kind, table in objects if kind == "table"
               for col in conn.execute(f"PRAGMA table_info('{table}')")}
    return {(kind, name) for kind, name in objects} | columns


@pytest.mark.parametrize("made", ["0006 before 0004", "0006 before 0005",
                                  "0005 without its share feed"])
async def test_a_first_day_database_at_version_6_upgrades(tmp_path: Path, made: str) -> None:
    """0006 landed before 0004 and 0005, and 0005 first landed without the share feed: a
    database made then says version 6 but lacks them, and 0007 failed on it ('no such
    table: share_feed'). It upgrades to the schema a new database has, keeping its rows."""
    sql = {number: text for number, _, text in migrations()}
    shares = sql[5]
    applied = {"0006 before 0004": [sql[1], sql[2], sql[3], sql[6]],
               "0006 before 0005": [sql[1], sql[2], sql[3], sql[4], sql[6]],
               "0005 without its share feed": [
                   sql[1], sql[2], sql[3], sql[4],
                   shares[:shares.index("CREATE TABLE share_feed")], sql[6]]}[made]
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for text in applied:
        conn.executescript(f"BEGIN;\n{text}\nCOMMIT;")
    conn.execute("PRAGMA user_version = 6")
    conn.execute("INSERT INTO users (id, email, name, password_hash, created_at,"
                 " password_changed_at) VALUES ('user_1', 'a@example.com', 'A', 'x', 0, 0)")
    conn.close()
    await _upgrades_keeping_user_1(path)
    fresh = tmp_path / "fresh.sqlite3"
    await (await Database.open(fresh)).close()
    upgraded, new = sqlite3.connect(path), sqlite3.connect(fresh)
    try:
        assert _schema(upgraded) == _schema(new)
    finally:
        upgraded.close()
        new.close()


async def test_shares_made_before_the_share_feed_reach_the_recipients_feed(
        tmp_path: Path) -> None:
    """The first 0005 had shares but no share feed, and a recipient's sync lists shared
    items from the feed: shares made then gave the recipient nothing, however long after
    the upgrade. The upgrade feeds each live shared item and what is live below it."""
    sql = {number: text for number, _, text in migrations()}
    shares = sql[5]
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for text in (sql[1], sql[2], sql[3], sql[4],
                 shares[:shares.index("CREATE TABLE share_feed")], sql[6]):
        conn.executescript(f"BEGIN;\n{text}\nCOMMIT;")
    conn.execute("PRAGMA user_version = 6")
    for user in ("owner", "bob"):
        conn.execute("INSERT INTO users (id, email, name, password_hash, created_at,"
                     " password_changed_at) VALUES (?, ?, ?, 'x', 0, 0)",
                     (user, f"{user}@example.com", user))
    for file_id, kind, folder, name, deleted in (
            ("album", "folder", "/", "Album", None), ("a", "file", "/Album", "a.jpg", None),
            ("deep", "file", "/Album/2024", "b.jpg", None),
            ("gone", "file", "/Album", "c.jpg", 5), ("other", "file", "/", "x.txt", None),
            ("note", "file", "/", "note.txt", None)):
        conn.execute("INSERT INTO files (id, user_id, kind, folder, name, name_key,"
                     " modified_at, created_at, created_seq, seq, deleted_at)"
                     " VALUES (?, 'owner', ?, ?, ?, lower(?), 0, 0, 1, 1, ?)",
                     (file_id, kind, folder, name, name, deleted))
    for share_id, file_id in (("s1", "album"), ("s2", "note")):
        conn.execute("INSERT INTO shares (id, owner_id, file_id, recipient_email,"
                     " recipient_id, permission, created_at, updated_at)"
                     " VALUES (?, 'owner', ?, 'bob@example.com', 'bob', 'read', 0, 0)",
                     (share_id, file_id))
    conn.close()
    db = await Database.open(path)
    try:
        rows = await db.fetchall("SELECT file_id FROM share_feed WHERE recipient_id = 'bob'")
        assert sorted(r["file_id"] for r in rows) == ["a", "album", "deep", "note"]
    finally:
        await db.close()
