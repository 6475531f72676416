"""`homesync gc --history-retention`: 0 keeps sync history, as "0d" in the config does."""

from __future__ import annotations

import json

import pytest

from homesync import clock
from homesync.services.container import Services
from tests.cli.conftest import Cli
from tests.helpers import write_lock_held_elsewhere
from tests.operations.data import photo, put_file

DAY = 86400.0


def _history_of_three_files(cli: Cli) -> float:
    """Alice stores three files (three journal entries); returns when, in seconds."""
    cli.add_user()
    start = float(int(clock.now()))
    clock.set_now(lambda: start)

    async def store(s: Services) -> None:
        uid = (await s.accounts.get("alice@example.com")).id
        for i in range(3):
            await put_file(s, uid, "/camera", f"IMG_{i}.jpg", photo(i, 1000))

    cli.with_services(store)
    return start


def _journal_rows(cli: Cli) -> int:
    async def count(s: Services) -> int:
        row = await s.db.fetchone("SELECT count(*) FROM journal")
        assert row is not None
        return int(row[0])

    return cli.with_services(count)


def test_retention_0_keeps_history_as_the_config_value_does(cli: Cli) -> None:
    start = _history_of_three_files(cli)
    clock.set_now(lambda: start + 2 * DAY)  # every entry is now two days old
    before = _journal_rows(cli)
    assert before >= 3

    # The config's "0d" copied to the flag: keep, never "compact everything".
    for flag in ("0s", "0d"):
        done = cli("gc", "--history-retention", flag, "--json")
        assert done.exit_code == 0, done.output
        assert _journal_rows(cli) == before
        history = json.loads(done.stdout)["history"]
        assert history == {"kept": True, "journal": 0, "tombstones": 0, "feed": 0,
                           "retention": "0s"}
    text = cli("gc", "--history-retention", "0s")
    assert "kept (retention 0" in text.stdout
    kept_by_config = cli("gc", env={"HOMESYNC_SYNC_HISTORY_RETENTION": "0d"})
    assert "kept (retention 0" in kept_by_config.stdout
    assert _journal_rows(cli) == before

    # Any positive duration compacts: 1s takes all but the last second (and the head).
    done = cli("gc", "--history-retention", "1s")
    assert done.exit_code == 0, done.output
    assert f"compacted past 1s: {before - 1} journal entries" in done.stdout
    assert _journal_rows(cli) == 1  # the user's latest position stays


@pytest.mark.parametrize("option", ["--grace", "--history-retention"])
@pytest.mark.parametrize("given", ["10x", "-1h", "1.5h", "99999999999999999999d",
                                   "53375995584d", "36501d", "876025h"])
def test_a_bad_or_huge_duration_exits_2(cli: Cli, option: str, given: str) -> None:
    cli.add_user()
    result = cli("gc", option, given, "--json")
    assert result.exit_code == 2, result.output
    assert given in result.stderr
    assert f"{option}: " in result.stderr  # which of the two flags, as click says
    document = json.loads(result.stdout)  # a script reads why, as for any --json failure
    assert document["ok"] is False and given in document["error"]


def test_the_config_bound_is_the_flag_bound(cli: Cli) -> None:
    """36500d, as for uploads.gc_grace and sync.history_retention in the config."""
    cli.add_user()
    for option in ("--grace", "--history-retention"):
        done = cli("gc", option, "36500d", "--json")
        assert done.exit_code == 0, done.output
        refused = cli("gc", option, "36501d")
        assert refused.exit_code == 2
        assert "'36501d' is too long (at most 36500d)" in refused.stderr
    for option in ("uploads.gc_grace", "sync.history_retention"):
        env = "HOMESYNC_" + option.upper().replace(".", "_")
        assert cli("gc", env={env: "36500d"}).exit_code == 0
        config = cli("gc", env={env: "36501d"})
        assert config.exit_code == 2 and "(at most 36500d)" in config.stderr


def test_every_gc_json_outcome_says_ok(cli: Cli) -> None:
    """A script reads ``ok`` whatever happened, as fsck's and backup's documents say it:
    gc's report had none, only its failures ({"ok": false, "error"}) did."""
    cli.add_user()
    done = cli("gc", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["removedChunks"] == 0
    # Another process holds the write lock past the busy timeout: a failure, said so.
    with write_lock_held_elsewhere(cli.settings.db_path):
        busy = cli("gc", "--json")
    assert busy.exit_code == 1, busy.output
    failed = json.loads(busy.stdout)
    assert failed["ok"] is False and "database is locked" in failed["error"]
