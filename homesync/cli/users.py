"""``homesync user add|list|passwd|remove|quota|unlock``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.text import Text

from homesync import clock
from homesync.cli.common import (
    EXIT_USAGE,
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    console,
    err_console,
    fail,
    human_size,
    parse_quota,
    print_json,
    read_password,
    run_with_services,
    settings_from,
)
from homesync.cli.shown import shown
from homesync.models import UserInfo
from homesync.server.first_admin import forget_initial_password

app = typer.Typer(help="Manage accounts.", no_args_is_help=True)

EmailArg = Annotated[str, typer.Argument(metavar="EMAIL", help="The account's email address.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of"
                       " standard input instead of asking for it twice (for scripts).")
]


def _quota(user: UserInfo) -> str:
    return "unlimited" if user.quota_bytes == 0 else human_size(user.quota_bytes)


@app.command("add")
def add(
    email: EmailArg,
    name: Annotated[str | None, typer.Option("--name", metavar="NAME", help="Display name.")] = None,
    password_stdin: PasswordStdin = False,
    quota: Annotated[str | None, typer.Option(
        "--quota", metavar="SIZE", help="e.g. 10GiB; 0 or unlimited: no limit;"
        " default: uploads.default_quota (no limit unless set).")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make the account an administrator.")] = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create an account."""
    settings = settings_from(config, data_dir)
    password = read_password(password_stdin)
    quota_bytes = parse_quota(quota) if quota is not None else None
    _check_new_account(email, password, name)
    # The first account may come before the first `serve`: this one makes the data dir
    # (so bad input is refused before, not after it was made).
    try:
        new_data_dir = not settings.db_path.exists()
    except OSError:  # not ours to look into: opening it says so
        new_data_dir = False
    user = run_with_services(settings, lambda s: s.accounts.create_user(
        email, password, name=name, quota_bytes=quota_bytes, is_admin=admin), create=True)
    # Text, not markup, for every name and path here (see common.console).
    console.print(Text.assemble(f"Created {'admin ' if user.is_admin else ''}account ",
                                (user.email, "bold"), f" ({user.id}), quota {_quota(user)}."))
    if new_data_dir:
        # Without the server's --config this lands in the default data dir, which the
        # server (running on another) never sees: say where it went.
        err_console.print(Text(f"The account is in a new data dir"
                               f" {settings.data_path.absolute()} (it had no"
                               " database yet): a server sees it only if it runs on that data"
                               " dir (give the same --config or --data-dir to `homesync serve`"
                               " and to every command)."),
                          soft_wrap=True)


def _check_new_account(email: str, password: str, name: str | None) -> None:
    """Refuse (exit 2) an email, password or name the account service would refuse."""
    from homesync.errors import ValidationError
    from homesync.services.auth.accounts import display_name, normalize_email
    from homesync.services.auth.passwords import check_password_rules

    try:
        display_name(normalize_email(email), name)
        check_password_rules(password)
    except ValidationError as exc:
        raise fail(exc.message, EXIT_USAGE) from None


def user_json(user: UserInfo) -> dict[str, Any]:
    """One account as ``user list --json`` prints it (quotaBytes 0 = unlimited)."""
    return {
        "id": user.id, "email": user.email, "name": user.name, "isAdmin": user.is_admin,
        "quotaBytes": user.quota_bytes, "usedBytes": user.used_bytes,
        "deviceCount": user.device_count, "locked": user.locked,
        "createdAt": clock.rfc3339(user.created_at),
    }


@app.command("list")
def list_users(as_json: JsonOpt = False, data_dir: DataDirOpt = None,
               config: ConfigOpt = None) -> None:
    """List accounts with their usage, quota and devices."""
    settings = settings_from(config, data_dir)
    found = run_with_services(settings, lambda s: s.accounts.list_users())
    if as_json:
        print_json([user_json(u) for u in found])
        return
    if not found:
        console.print("No accounts yet: create one with `homesync user add EMAIL`.")
        return
    from rich.table import Table  # here: only the listing needs it

    table = Table(title="Accounts")
    for col in ("Email", "Name", "Id", "Admin", "Used", "Quota", "Devices", "Created", "Status"):
        table.add_column(col, overflow="fold")
    for u in found:
        # Emails and names may come from open sign-up: shown, control characters too.
        table.add_row(*(shown(cell) for cell in (
            u.email, u.name, u.id, "yes" if u.is_admin else "", human_size(u.used_bytes),
            _quota(u), str(u.device_count), (clock.rfc3339(u.created_at) or "")[:10])),
            Text("locked", style="red") if u.locked else Text("ok"))
    console.print(table)


@app.command("passwd")
def passwd(email: EmailArg, password_stdin: PasswordStdin = False, data_dir: DataDirOpt = None,
           config: ConfigOpt = None) -> None:
    """Set a new password (signs every device of the account out)."""
    settings = settings_from(config, data_dir)
    password = read_password(password_stdin, "New password")
    user = run_with_services(settings, lambda s: s.accounts.set_password(email, password))
    forget_initial_password(settings, user.email)
    console.print(Text(f"Password of {user.email} changed; its devices must sign in again."))


@app.command("remove")
def remove(
    email: EmailArg,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Do not ask for confirmation (needed without a terminal).")] = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Delete an account, its devices and its files (chunks are freed by `homesync gc`)."""
    settings = settings_from(config, data_dir)
    if not yes:
        if not sys.stdin.isatty():
            raise fail("not deleting without confirmation: add --yes", EXIT_USAGE)
        typer.confirm(f"Delete {email} and all of its files?", abort=True)
    user = run_with_services(settings, lambda s: s.accounts.remove_user(email))
    forget_initial_password(settings, user.email)
    console.print(Text(f"Deleted account {user.email}."))


@app.command("quota")
def quota_cmd(email: EmailArg,
              quota: Annotated[str, typer.Argument(
                  metavar="SIZE", help="e.g. 10GiB; 0 or unlimited: no limit.")],
              data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Set an account's storage quota."""
    settings = settings_from(config, data_dir)
    quota_bytes = parse_quota(quota)
    user = run_with_services(settings, lambda s: s.accounts.set_quota(email, quota_bytes))
    console.print(Text(f"Quota of {user.email}: {_quota(user)}"
                       f" ({human_size(user.used_bytes)} used)."))


@app.command("unlock")
def unlock(email: EmailArg, data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Lift the lock after too many failed sign-ins."""
    settings = settings_from(config, data_dir)
    user = run_with_services(settings, lambda s: s.accounts.unlock(email))
    console.print(Text(f"{user.email} can sign in again."))
