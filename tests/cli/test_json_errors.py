"""With `--json`, every failure prints one `{"ok": false, "error": ...}` document on
stdout — usage errors from click too — and keeps its exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli


def _document(stdout: str) -> dict[str, object]:
    [line] = stdout.splitlines()  # one document, nothing else
    document = json.loads(line)
    assert document["ok"] is False and isinstance(document["error"], str)
    return document


@pytest.mark.parametrize(("argv", "says"), [
    (["gc", "--bogus", "--json"], "No such option: --bogus"),
    (["backup", "verify", "DEST", "--seed", "abc", "--json"], "Invalid value for '--seed'"),
    (["backup", "verify", "--json"], "Missing argument 'DEST'"),
    (["user", "list", "--json", "--quota"], "No such option: --quota"),
    (["backup", "nope", "--json"], "No such command 'nope'"),
    (["--bogus", "--json"], "No such option: --bogus"),
    (["status", "--json", "--data-dir"], "requires an argument"),
    (["user", "quota", "a@example.com", "1GiB", "--json"], "No such option: --json"),
])
def test_a_usage_error_with_json_is_a_document_and_exit_2(cli: Cli, tmp_path: Path,
                                                         argv: list[str], says: str) -> None:
    argv = [str(tmp_path) if a == "DEST" else a for a in argv]
    result = cli(*argv, data_dir=False)
    assert result.exit_code == 2, result.output
    assert says.lower() in str(_document(result.stdout)["error"]).lower()
    assert "Error" in result.stderr  # and click's text for people

    if "--json" not in says:  # without it: click's text only, as before
        plain = cli(*[a for a in argv if a != "--json"], data_dir=False)
        assert plain.exit_code == 2 and plain.stdout == "" and "Error" in plain.stderr


def test_json_after_a_double_dash_is_an_argument_not_the_option(cli: Cli) -> None:
    result = cli("device", "revoke", "--bogus", "--", "--json", data_dir=False)
    assert result.exit_code == 2 and result.stdout == ""


def test_the_commands_own_refusals_print_the_same_document(cli: Cli, tmp_path: Path) -> None:
    cli.add_user()
    bad = cli("gc", "--grace", "10x", "--json")
    assert bad.exit_code == 2
    assert "10x" in str(_document(bad.stdout)["error"])
    missing = cli("status", "--json", "--data-dir", str(tmp_path / "nowhere"), data_dir=False)
    assert missing.exit_code == 1
    assert "no data dir at" in str(_document(missing.stdout)["error"])
    gone = cli("user", "list", "--json", "--data-dir", str(tmp_path / "nowhere"), data_dir=False)
    assert gone.exit_code == 1 and "no data dir" in str(_document(gone.stdout)["error"])


def test_the_document_escapes_del_and_c1_controls(cli: Cli, tmp_path: Path) -> None:
    # JSON lets DEL and C1 controls stand raw; a terminal may run \x9b (CSI) as an escape.
    nowhere = tmp_path / "nowhere\x9b31m\x7f"
    missing = cli("status", "--json", "--data-dir", str(nowhere), data_dir=False)
    assert missing.exit_code == 1
    assert "\x9b" not in missing.stdout and "\x7f" not in missing.stdout, repr(missing.stdout)
    assert str(nowhere) in str(_document(missing.stdout)["error"])
