"""The README's promises: the commands it gives are the ones CI runs and the CLI has."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import typer

from homesync.cli import app, common

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")


def command_paths(typer_app: typer.Typer, prefix: str = "homesync") -> set[str]:
    paths = {f"{prefix} {c.name or (c.callback.__name__ if c.callback else '')}"
             for c in typer_app.registered_commands}
    for group in typer_app.registered_groups:
        assert group.typer_instance is not None
        paths |= command_paths(group.typer_instance, f"{prefix} {group.name}")
    return paths


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    m = re.search(r'^TEST_COMMAND="(.+)"$', ci, re.MULTILINE)
    assert m, ".ci/run must set TEST_COMMAND"
    assert f"```sh\n{m.group(1)}\n```" in README
    assert os.stat(ROOT / ".ci" / "run").st_mode & stat.S_IXUSR


def test_quick_start_installs_and_serves_in_one_line() -> None:
    assert "```sh\npython3 -m venv .venv && .venv/bin/pip install -e . && " \
           ".venv/bin/homesync serve\n```" in README


def test_every_command_is_in_the_readme() -> None:
    missing = [path for path in sorted(command_paths(app)) if f"`{path}" not in README]
    assert missing == []


def test_exit_codes_are_documented() -> None:
    for code in (common.EXIT_OK, common.EXIT_ERROR, common.EXIT_USAGE, common.EXIT_NOT_FOUND,
                 common.EXIT_CONFLICT):
        assert re.search(rf"^\| {code} \| ", README, re.MULTILINE), f"exit code {code}"
