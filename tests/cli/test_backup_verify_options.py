"""`backup verify` refuses options it would otherwise silently not use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli


@pytest.mark.parametrize("subset", [[], ["--read-data", "--subset", "2/7"]])
def test_a_seed_without_a_subset_percentage_is_a_usage_error(cli: Cli, tmp_path: Path,
                                                             subset: list[str]) -> None:
    # DEST is not a backup: the usage error comes before anything is read (else exit 1).
    dest = str(tmp_path / "no-backup")
    result = cli("backup", "verify", dest, *subset, "--seed", "7", data_dir=False)
    assert result.exit_code == 2, result.output
    assert "--seed needs --subset" in result.stderr
    as_json = cli("backup", "verify", dest, *subset, "--seed", "7", "--json", data_dir=False)
    assert as_json.exit_code == 2
    assert "--seed needs --subset" in json.loads(as_json.stdout)["error"]


def test_a_seed_with_a_subset_percentage_is_still_fine(cli: Cli, tmp_path: Path) -> None:
    dest = tmp_path / "no-backup"
    result = cli("backup", "verify", str(dest), "--read-data", "--subset", "10%", "--seed", "7",
                 data_dir=False)
    assert result.exit_code == 1 and "not a homesync backup" in result.stderr  # got to DEST
