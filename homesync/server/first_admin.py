"""The first start's administrator: created on a data dir with no accounts, its password
shown once and kept in a file until that account chooses its own."""

from __future__ import annotations

import contextlib
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from homesync.config import Settings, default_data_dir, env_var
from homesync.errors import NotFound
from homesync.store.durable_files import write_atomic

if TYPE_CHECKING:
    from homesync.services.container import Services

__all__ = ["INITIAL_PASSWORD_FILE", "announce_first_admin", "forget_initial_password"]

INITIAL_PASSWORD_FILE = "initial-admin-password.txt"


def forget_initial_password(settings: Settings, email: str) -> None:
    """Delete the saved first-start password once that account has a password of its own."""
    path = settings.data_path / INITIAL_PASSWORD_FILE
    if _initial_password_email(path) == email:
        path.unlink(missing_ok=True)


def _initial_password_email(path: Path) -> str | None:
    """The account the saved first-start password is for (its first line), if the file
    is there and readable; a damaged one is as good as none, never a crash at start-up."""
    try:
        return path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
    except (OSError, UnicodeDecodeError):
        return None


async def announce_first_admin(services: Services) -> None:
    """On a data dir with no accounts: create an admin and show its password, once."""
    created = await services.accounts.create_first_admin()
    if created is None:
        await _remind_initial_password(
            services, services.settings.data_path.absolute() / INITIAL_PASSWORD_FILE)
        return
    user, password = created
    path = services.settings.data_path.absolute() / INITIAL_PASSWORD_FILE
    # On disk before it is announced: the account exists from now on, and a crash must
    # not leave the only copy of its password lost or half written.
    write_atomic(path, f"{user.email}\n{password}\n".encode())
    options = _same_data_dir_options(services.settings)
    print(
        "\nNo accounts yet, so an administrator was created. Sign in from the app with:\n\n"
        f"    email:    {user.email}\n"
        f"    password: {password}\n\n"
        f"The password is also in {path} until you change it:\n"
        f"    homesync user passwd {user.email}{options}\n"
        f"Add accounts for your people with: homesync user add you@example.com{options}\n",
        flush=True,
    )


async def _remind_initial_password(services: Services, path: Path) -> None:
    """While the printed password is still the first admin's (its file goes when they
    choose their own), say where it is: the first start's output may be long gone."""
    email = _initial_password_email(path)
    if email is None:
        return
    try:
        await services.accounts.get(email)
    except NotFound:
        # The account was removed (`user remove` now forgets its file too): the password
        # is nobody's, and `user passwd` for it would only say "No account".
        _drop(path)
        return
    print(f"The first administrator's password is still in {path}; choose your own"
          f" with: homesync user passwd {email}{_same_data_dir_options(services.settings)}",
          flush=True)


def _same_data_dir_options(settings: Settings) -> str:
    """The options that give a command this server's data dir, as it was started with
    them (`homesync serve` hands its --config and --data-dir over as these variables):
    without them the suggested command went to the default data dir, where `user passwd`
    found no account and `user add` made a new data dir this server never sees."""
    options = ""
    config = os.environ.get("HOMESYNC_CONFIG")
    if config:
        options += f" --config {shlex.quote(str(Path(config).expanduser().absolute()))}"
    if os.environ.get(env_var("data_dir")) or (
            not config and settings.data_path.absolute() != default_data_dir().absolute()):
        options += f" --data-dir {shlex.quote(str(settings.data_path.absolute()))}"
    return options


def _drop(path: Path) -> None:
    with contextlib.suppress(OSError):  # a file we cannot delete only stays unmentioned
        path.unlink()
