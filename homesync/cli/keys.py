"""``homesync keys list|rotate|retire``: the access-token signing keys (safe while the
server runs; it notices without a restart)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from homesync import clock
from homesync.cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    console,
    print_json,
    run_with_services,
    settings_from,
)

if TYPE_CHECKING:  # the services load when a command runs, not for --help
    from homesync.services.auth.signing_keys import KeyInfo

app = typer.Typer(
    help="Manage the keys that sign access tokens (rotate after the data dir may have leaked).",
    no_args_is_help=True,
)

_STATE_STYLE = {"active": "[green]active[/]", "previous": "previous", "retired": "[dim]retired[/]"}


def key_json(key: KeyInfo) -> dict[str, Any]:
    """One key as ``keys list --json`` prints it: never its secret."""
    return {
        "kid": key.kid, "state": key.state, "createdAt": clock.rfc3339(key.created_at),
        "replacedAt": clock.rfc3339(key.replaced_at), "retiredAt": clock.rfc3339(key.retired_at),
        "fromServerKey": key.from_server_key, "retireAfter": clock.rfc3339(key.retire_after),
    }


def _when(ms: int | None) -> str:
    return clock.rfc3339(ms) or ""


@app.command("list")
def list_keys(as_json: JsonOpt = False, data_dir: DataDirOpt = None,
              config: ConfigOpt = None) -> None:
    """Show the signing keys: the active one signs new tokens, previous ones still verify."""
    settings = settings_from(config, data_dir)
    found = run_with_services(settings, lambda s: s.signing_keys.list())
    if as_json:
        print_json([key_json(k) for k in found])
        return
    from rich.table import Table  # here: only the listing needs it

    table = Table(title="Access-token signing keys")
    for col in ("Kid", "State", "Created", "Stopped signing", "Retired", "Notes"):
        table.add_column(col, overflow="fold")
    now = clock.now_ms()
    for k in found:
        notes = ["derived from server.key"] if k.from_server_key else []
        if k.retire_after is not None:
            notes.append("can be retired" if now >= k.retire_after
                         else f"its tokens live until {_when(k.retire_after)}")
        table.add_row(k.kid, _STATE_STYLE[k.state], _when(k.created_at), _when(k.replaced_at),
                      _when(k.retired_at), "; ".join(notes))
    console.print(table)


@app.command("rotate")
def rotate(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Sign new access tokens with a new random key; nobody is signed out.

    Tokens of the previous key keep working until `homesync keys retire KID`.
    A running server signs with the new key from its next sign-in or refresh.
    """
    settings = settings_from(config, data_dir)
    new, old = run_with_services(settings, lambda s: s.signing_keys.rotate())
    console.print(f"New access tokens are signed with key [bold]{new.kid}[/].")
    if old is not None and old.retire_after is not None:
        console.print(f"Key {old.kid} still verifies the tokens it signed; once they have "
                      f"expired ({_when(old.retire_after)}), run "
                      f"`homesync keys retire {old.kid}`.", soft_wrap=True)


@app.command("retire")
def retire(
    kid: Annotated[str, typer.Argument(
        metavar="KID", help="The key's kid (see `homesync keys list`).")],
    force: Annotated[bool, typer.Option(
        "--force", help="Retire even though tokens it signed may not have expired yet "
                        "(after a leak: their devices get 401 and refresh).")] = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Stop accepting tokens signed with a previous key (never the active one).

    A running server refuses them from its next request.
    Without --force, only once they have expired (TTL + 30 s after the rotation).
    """
    settings = settings_from(config, data_dir)
    key = run_with_services(settings, lambda s: s.signing_keys.retire(kid, force=force))
    console.print(f"Key {key.kid} is retired (since {_when(key.retired_at)}): access tokens "
                  "it signed are refused.", soft_wrap=True)
