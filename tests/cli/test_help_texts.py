"""What ``--help`` tells a new user without the README: where the data goes, what happens
when an option is left out, and what each command shows."""

from __future__ import annotations

import pytest

from tests.cli.help_text import help_words


@pytest.mark.parametrize("words", [("serve",), ("status",), ("user", "add")])
def test_every_command_says_where_the_data_is_without_data_dir(words: tuple[str, ...]) -> None:
    text = help_words(*words)
    assert "default: data_dir in the config, else $XDG_DATA_HOME/homesync" \
           " (usually ~/.local/share/homesync)" in text
    assert "without one, the built-in defaults" in text


def test_serve_says_where_it_listens_by_default() -> None:
    text = help_words("serve")
    assert "default: server.host (127.0.0.1, this machine only" in text
    assert "default: server.port (8080" in text


def test_gc_says_its_defaults() -> None:
    text = help_words("gc")
    assert "default: uploads.gc_grace (48h unless set)" in text
    assert "default: sync.history_retention (180d unless set)" in text


@pytest.mark.parametrize(("words", "says"), [
    (("user", "add"), ["0 or unlimited: no limit; default: uploads.default_quota",
                       "instead of asking for it twice"]),
    (("user", "list"), ["usage, quota and devices"]),
    (("init",), ["--config FILE Where to write the config; default: homesync.toml in the data dir."]),
    ((), ["status Show accounts, devices, files, storage, uploads, notifications and backups"]),
    (("user", "remove"), ["needed without a terminal"]),
    ((), ["keys Manage the keys that sign access tokens"]),
])
def test_help_says_what_the_readme_says(words: tuple[str, ...], says: list[str]) -> None:
    text = help_words(*words)
    for wanted in says:
        assert wanted in text, wanted
