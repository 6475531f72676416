"""The README's promises: the commands it gives are the ones CI runs and the CLI has."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import stat
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

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


def test_packaging_files_are_linked_not_copied() -> None:
    """One source of truth: the tested files in packaging/, never a divergent copy."""
    for fence in ("```ini", "```caddyfile", "```nginx", "```dockerfile", "```systemd"):
        assert fence not in README, f"a {fence[3:]} block: link the file in packaging/ instead"
    for path in ("packaging/systemd/homesync.service", "packaging/systemd/homesync-backup.service",
                 "packaging/proxy/Caddyfile", "packaging/proxy/nginx.conf",
                 "packaging/docker/Dockerfile"):
        assert (ROOT / path).is_file()
        assert path in README, f"README does not point at {path}"


def _command(words: list[str]) -> tuple[Any, list[str]]:
    """The command ``homesync <words>`` names, and the words left for it."""
    cmd = typer.main.get_command(app)
    words = list(words)
    while isinstance(cmd, TyperGroup) and words and not words[0].startswith("-"):
        sub = cmd.get_command(typer.Context(cmd), words[0])
        assert sub is not None, f"no command {words[0]!r}"
        cmd, words = sub, words[1:]
    return cmd, words


def _invocations(line: str) -> list[list[str]]:
    """The argument lists of every ``homesync`` run in a shell line (``a && b`` is two)."""
    found: list[list[str]] = []
    tokens = shlex.split(line.replace("%%", "%"), comments=True)
    for i, token in enumerate(tokens):
        if token.endswith("sh") and tokens[i + 1:i + 2] == ["-c"]:  # /bin/sh -c '...'
            found += _invocations(tokens[i + 2])
        if Path(token).name == "homesync" and (i == 0 or tokens[i - 1] in ("sudo", "&&")):
            args = tokens[i + 1:]
            found.append(args[:args.index("&&")] if "&&" in args else args)
    return found


def _shell_lines() -> list[str]:
    """Lines of the README's sh blocks and the systemd units' Exec lines."""
    lines, fence = [], None
    for line in README.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:]
        elif fence == "sh":
            lines.append(line)
    for unit in (ROOT / "packaging" / "systemd").glob("*.service"):
        lines += [line.split("=", 1)[1] for line in unit.read_text("utf-8").splitlines()
                  if line.startswith("Exec")]
    return lines


def test_every_command_given_runs_as_written() -> None:
    """Each ``homesync ...`` line to copy and paste parses: commands, options, arguments."""
    checked = 0
    for line in _shell_lines():
        for args in _invocations(line):
            cmd, rest = _command(args)
            try:
                cmd.make_context(f"homesync {' '.join(args)}", rest)
            except typer.TyperException as exc:  # click's UsageError, vendored by Typer
                raise AssertionError(f"{line!r}: {exc}") from None
            checked += 1
    assert checked >= 15


def test_every_option_the_prose_names_exists() -> None:
    """``homesync backup verify DEST [--read-data]`` in the text: each --option is real."""
    for snippet in re.findall(r"`((?:[\w./-]*/)?homesync [^`]+)`", README):
        words = shlex.split(snippet.replace("[", " ").replace("]", " "))
        command_words = list(itertools.takewhile(lambda w: re.fullmatch(r"[a-z]+", w), words[1:]))
        cmd, _ = _command(command_words)
        known = {opt for param in cmd.params for opt in param.opts}
        unknown = {w.split("=")[0] for w in words if w.startswith("--")} - known
        assert unknown == set(), f"`{snippet}`: no such option {unknown}"


def test_docker_exec_gives_a_command_that_asks_a_terminal() -> None:
    """``docker exec`` without ``-t`` has no terminal: ``user add`` would refuse to ask for
    the password ("no terminal ... use --password-stdin") instead of creating the account."""
    asks = ("user add", "user passwd", "user remove")
    execs = re.findall(r"`(docker exec [^`]+)`", README)
    assert execs
    for snippet in execs:
        words = shlex.split(snippet)
        if any(a in snippet for a in asks) and "--password-stdin" not in words:
            flags = [w for w in words[2:] if w.startswith("-")]
            assert any("t" in f.lstrip("-") for f in flags if not f.startswith("--")) \
                or "--tty" in flags, f"`{snippet}` needs -it"


def test_the_backup_section_lists_every_exit_code_the_backup_commands_use() -> None:
    """A cron job reads that paragraph: busy (5, try later) must not look like a failure."""
    from homesync.cli import backup_common

    section = README.split("### Backup and restore", 1)[1].split("\n### ", 1)[0]
    paragraph = section.split("`--json` prints one JSON document", 1)[1].split("\n\n", 1)[0]
    listed = {int(code) for code in re.findall(r"(?<![\w.])(\d)\s\(", paragraph)}
    used = {common.EXIT_OK, common.EXIT_ERROR, *backup_common.refusal_exit_codes().values()}
    assert used <= listed, f"not in the backup section: {used - listed}"
