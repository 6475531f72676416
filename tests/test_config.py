"""Settings: the example documents every option, and loading names what went wrong where."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from homesync.config import (
    ConfigError,
    Settings,
    env_var,
    example_config,
    load_settings,
    parse_duration,
    parse_size,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "homesync.toml.example"


def options_of(struct: Any, prefix: str = "") -> set[str]:
    """Every option of a settings Struct, recursively, as dotted names."""
    names: set[str] = set()
    for field in msgspec.structs.fields(struct):
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            names |= options_of(field.type, f"{prefix}{field.name}.")
        else:
            names.add(prefix + field.name)
    return names


def options_in(table: dict[str, Any], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for key, value in table.items():
        if isinstance(value, dict):
            names |= options_in(value, f"{prefix}{key}.")
        else:
            names.add(prefix + key)
    return names


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "homesync.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the example file ---------------------------------------------------------------


def test_example_has_every_option_and_nothing_else() -> None:
    in_example = options_in(tomllib.loads(EXAMPLE.read_text("utf-8")))
    in_settings = options_of(Settings)
    assert in_settings - in_example == set(), "options missing from homesync.toml.example"
    assert in_example - in_settings == set(), "homesync.toml.example has options Settings lacks"


def test_every_option_in_the_example_has_a_comment() -> None:
    # An option is documented when a comment sits above it, directly or above the
    # run of options it belongs to ("# Address and port" over host and port).
    undocumented: list[str] = []
    commented = False
    for line in EXAMPLE.read_text("utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            commented = True
        elif not stripped or stripped.startswith("["):
            commented = False
        elif re.match(r"^[a-z_0-9]+\s*=", stripped) and not commented:
            undocumented.append(stripped.split("=")[0].strip())
    assert undocumented == []


def test_example_loads_to_exactly_the_defaults() -> None:
    assert load_settings(EXAMPLE, environ={}) == Settings()


def test_packaged_example_is_the_documented_one() -> None:
    # `homesync init` writes the copy inside the package; it must not drift.
    assert example_config() == EXAMPLE.read_text("utf-8")


def test_example_config_fills_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = str(tmp_path / 'odd "dir"\\x\tnew\nline')
    text = example_config(data_dir=data_dir)
    settings = load_settings(write(tmp_path, text), environ={})
    assert settings.data_dir == data_dir
    assert msgspec.structs.replace(settings, data_dir="") == Settings()


# -- layering: defaults < file < environment < command line ---------------------------


def test_no_file_no_environment_gives_the_defaults() -> None:
    assert load_settings(None, environ={}) == Settings()


def test_file_values_are_used(tmp_path: Path) -> None:
    path = write(tmp_path, 'data_dir = "/srv/hs"\n[server]\nport = 9000\n'
                           '[auth]\naccess_token_ttl = "15m"\nopen_signup = true\n')
    s = load_settings(path, environ={})
    assert (s.data_dir, s.server.port, s.auth.access_token_ttl, s.auth.open_signup) == \
        ("/srv/hs", 9000, "15m", True)
    assert s.auth.access_ttl_s == 900
    assert s.server.host == Settings().server.host  # untouched options keep their defaults


def test_config_file_from_homesync_config_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9001\n")
    assert load_settings(None, environ={"HOMESYNC_CONFIG": str(path)}).server.port == 9001


@pytest.mark.parametrize(
    ("var", "raw", "option", "expected"),
    [
        ("HOMESYNC_DATA_DIR", "/var/lib/homesync", "data_dir", "/var/lib/homesync"),
        ("HOMESYNC_SERVER_PORT", "9090", "server.port", 9090),
        ("HOMESYNC_SERVER_HOST", "0.0.0.0", "server.host", "0.0.0.0"),
        ("HOMESYNC_STORAGE_FSYNC", "false", "storage.fsync", False),
        ("HOMESYNC_STORAGE_FSYNC", "TRUE", "storage.fsync", True),
        ("HOMESYNC_STORAGE_FSYNC", "0", "storage.fsync", False),
        ("HOMESYNC_AUTH_OPEN_SIGNUP", "true", "auth.open_signup", True),
        ("HOMESYNC_AUTH_ACCESS_TOKEN_TTL", "15m", "auth.access_token_ttl", "15m"),
        ("HOMESYNC_AUTH_ARGON2_TIME_COST", "2", "auth.argon2_time_cost", 2),
        # A size option stays a string even when written as bare digits.
        ("HOMESYNC_UPLOADS_DEFAULT_QUOTA", "0", "uploads.default_quota", "0"),
        ("HOMESYNC_SERVER_MAX_JSON_BODY", "1048576", "server.max_json_body", "1048576"),
        ("HOMESYNC_SERVER_TRUSTED_PROXIES", '["10.0.0.1", "fd00::1"]', "server.trusted_proxies",
         ["10.0.0.1", "fd00::1"]),
        ("HOMESYNC_SERVER_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2", "server.trusted_proxies",
         ["10.0.0.1", "10.0.0.2"]),
        ("HOMESYNC_SERVER_TRUSTED_PROXIES", "", "server.trusted_proxies", []),
        ("HOMESYNC_NOTIFICATIONS_ALLOWED_HOSTS", '["ntfy.lan"]', "notifications.allowed_hosts",
         ["ntfy.lan"]),
    ],
)
def test_environment_overrides(var: str, raw: str, option: str, expected: Any) -> None:
    assert env_var(option) == var
    settings = load_settings(None, environ={var: raw})
    section, _, name = option.rpartition(".")
    value = getattr(getattr(settings, section) if section else settings, name)
    assert value == expected


def test_environment_beats_file_and_command_line_beats_both(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\nhost = \"10.0.0.5\"\n")
    env = {"HOMESYNC_SERVER_PORT": "9100"}
    s = load_settings(path, environ=env)
    assert (s.server.port, s.server.host) == (9100, "10.0.0.5")
    s = load_settings(path, environ=env, overrides={"server": {"port": 9200},
                                                    "data_dir": "/x"})
    assert (s.server.port, s.server.host, s.data_dir) == (9200, "10.0.0.5", "/x")


def test_unrelated_environment_is_ignored() -> None:
    assert load_settings(None, environ={"HOME": "/root", "HOMESYNCX": "1"}) == Settings()


# -- errors name the option and the source -------------------------------------------


def load_error(*args: Any, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(*args, **kwargs)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "option", "says"),
    [
        ('[auth]\naccess_token_ttl = "soon"\n', "auth.access_token_ttl", "duration"),
        ('[uploads]\nmax_file_size = "lots"\n', "uploads.max_file_size", "size"),
        ('[server]\nport = "8080"\n', "server.port", "integer"),
        ("[server]\nport = 70000\n", "server.port", "<= 65535"),
        ('[server]\nlog_level = "loud"\n', "server.log_level", "debug, info, warning, error"),
        ('[storage]\nfsync = "yes"\n', "storage.fsync", "true or false"),
        ("[server]\ntrusted_proxies = [1]\n", "server.trusted_proxies[0]", "string, got 1"),
        ("data_dir = 5\n", "data_dir", "string"),
        ("[auth]\nargon2_time_cost = 0\n", "auth.argon2_time_cost", ">= 1"),
        # Empty would make the server listen on every interface, not on the default.
        ('[server]\nhost = ""\n', "server.host", "0.0.0.0 for every interface"),
        ('[server]\nhost = " "\n', "server.host", "such as 127.0.0.1"),
        # A port past 65535 passed the pattern and ended `serve` with a traceback.
        ('[server]\nmetrics_address = "127.0.0.1:99999"\n', "server.metrics_address",
         "a port from 0 to 65535, such as 127.0.0.1:9464"),
        ('[server]\nmetrics_address = "9464"\n', "server.metrics_address",
         "an address and a port"),
        # Chunk upload URLs built from it were relative paths phones cannot use.
        ('[server]\npublic_url = "home.example"\n', "server.public_url",
         "http:// or https:// address"),
        ('[server]\npublic_url = "https://"\n', "server.public_url", "https://home.example"),
    ],
)
def test_bad_file_value_names_file_and_option(tmp_path: Path, text: str, option: str,
                                              says: str) -> None:
    path = write(tmp_path, text)
    message = load_error(path, environ={})
    assert message.startswith(f"{path}: option {option}: ")
    assert says in message


@pytest.mark.parametrize(
    ("var", "raw", "option", "says"),
    [
        ("HOMESYNC_AUTH_ACCESS_TOKEN_TTL", "soon", "auth.access_token_ttl", "duration"),
        ("HOMESYNC_SERVER_PORT", "http", "server.port", "integer"),
        ("HOMESYNC_SERVER_PORT", "-1", "server.port", ">= 0"),
        ("HOMESYNC_STORAGE_FSYNC", "maybe", "storage.fsync", "true or false"),
        ("HOMESYNC_UPLOADS_DEFAULT_QUOTA", "ten gigs", "uploads.default_quota", "size"),
        ("HOMESYNC_SERVER_TRUSTED_PROXIES", "[1, 2", "server.trusted_proxies", "TOML array"),
        ("HOMESYNC_SERVER_LOG_LEVEL", "loud", "server.log_level", "must be one of"),
    ],
)
def test_bad_environment_value_names_variable_and_option(var: str, raw: str, option: str,
                                                         says: str) -> None:
    message = load_error(None, environ={var: raw})
    assert message.startswith(f"{var}: option {option}: ")
    assert says in message
    assert repr(raw) in message or says == "TOML array"


def test_bad_environment_value_is_blamed_on_the_variable_not_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[auth]\naccess_token_ttl = "2h"\n')
    message = load_error(path, environ={"HOMESYNC_AUTH_ACCESS_TOKEN_TTL": "2 hours"})
    assert message.startswith("HOMESYNC_AUTH_ACCESS_TOKEN_TTL: option auth.access_token_ttl:")


def test_bad_command_line_value() -> None:
    message = load_error(None, environ={}, overrides={"server": {"port": 123456}})
    assert message.startswith("command line: option server.port:")


def test_an_empty_listen_address_is_refused_from_every_source() -> None:
    """``--host ""`` or ``HOMESYNC_SERVER_HOST=`` would bind every interface."""
    message = load_error(None, environ={}, overrides={"server": {"host": ""}})
    assert message.startswith("command line: option server.host: expected an address")
    message = load_error(None, environ={"HOMESYNC_SERVER_HOST": ""})
    assert message.startswith("HOMESYNC_SERVER_HOST: option server.host: expected an address")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[auth]\nacess_token_ttl = "1h"\n',
         "unknown option auth.acess_token_ttl (did you mean auth.access_token_ttl?)"),
        ("[bogus]\nx = 1\n", "unknown section [bogus]"),
        ("[sever]\nport = 8080\n", "unknown section [sever] (did you mean [server]?)"),
        ("colour = 1\n", "unknown option colour"),
        ("server = 5\n", "server must be a table ([server])"),
    ],
)
def test_unknown_options_in_a_file_are_rejected(tmp_path: Path, text: str, says: str) -> None:
    path = write(tmp_path, text)
    assert load_error(path, environ={}) == f"{path}: {says}"


def test_unknown_environment_options_are_rejected() -> None:
    assert load_error(None, environ={"HOMESYNC_AUTH_ACESS_TOKEN_TTL": "1h"}) == (
        "HOMESYNC_AUTH_ACESS_TOKEN_TTL: no such option "
        "(did you mean HOMESYNC_AUTH_ACCESS_TOKEN_TTL?)")
    assert load_error(None, environ={"HOMESYNC_NOPE": "1"}) == "HOMESYNC_NOPE: no such option"


def test_unknown_command_line_options_are_rejected() -> None:
    assert "unknown option server.prot" in load_error(None, environ={},
                                                      overrides={"server": {"prot": 1}})


def test_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert load_error(missing, environ={}) == f"config file {missing} does not exist"
    assert "Is a directory" in load_error(tmp_path, environ={})
    broken = write(tmp_path, "[server\n")
    assert load_error(broken, environ={}).startswith(f"{broken}: not valid TOML: ")


def test_contradicting_options_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, '[uploads]\nmin_chunk_size = "32MiB"\n')
    assert "uploads.min_chunk_size" in load_error(path, environ={})
    message = load_error(None, environ={"HOMESYNC_SYNC_DEFAULT_PAGE_SIZE": "5000",
                                        "HOMESYNC_SYNC_MAX_PAGE_SIZE": "2000"})
    assert "sync.default_page_size" in message
    # argon2 needs 8 KiB per lane: refused at load, not as a HashingError at every sign-in.
    message = load_error(None, environ={"HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8"})
    assert message == ("option auth.argon2_memory_kib (8) must be at least 8 per lane of "
                       "auth.argon2_parallelism (4): 32 or more")
    assert load_settings(None, environ={"HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
                                        "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1"}) \
        .auth.argon2_memory_kib == 8


@pytest.mark.parametrize("proxy", ["10.0.0.0/8", "proxy.lan", "10.0.0.2:443", ""])
def test_trusted_proxies_that_are_not_addresses_are_rejected(proxy: str) -> None:
    # Peers are compared with them as written: a network or a name never matched, so
    # everyone behind that proxy shared one sign-in throttle.
    message = load_error(None, environ={"HOMESYNC_SERVER_TRUSTED_PROXIES": f'["{proxy}"]'})
    assert message == (f"option server.trusted_proxies: {proxy!r} is not an IP address (list"
                       " each proxy's address, such as 10.0.0.2; networks and host names are"
                       " not supported)")
    assert load_settings(None, environ={
        "HOMESYNC_SERVER_TRUSTED_PROXIES": "10.0.0.2, ::1, ::ffff:192.0.2.1"}
    ).server.trusted_proxies == ["10.0.0.2", "::1", "::ffff:192.0.2.1"]


def test_durations_and_sizes_beyond_what_the_database_holds_are_rejected(
        tmp_path: Path) -> None:
    # Caught at load, not as an OverflowError in gc or a background job later.
    message = load_error(None, environ={"HOMESYNC_UPLOADS_GC_GRACE": "999999999999999d"})
    assert "uploads.gc_grace" in message and "at most 36500d" in message
    path = write(tmp_path, '[sync]\nhistory_retention = "99999999999999999999d"\n')
    assert "sync.history_retention" in load_error(path, environ={})
    message = load_error(None, environ={"HOMESYNC_UPLOADS_DEFAULT_QUOTA": "99999999TiB"})
    assert "uploads.default_quota" in message and "at most 1 EiB" in message
    assert load_settings(environ={"HOMESYNC_UPLOADS_GC_GRACE": "36500d",
                                  "HOMESYNC_UPLOADS_DEFAULT_QUOTA": "1048576TiB"})


@pytest.mark.parametrize("option", [
    "server.metrics_refresh", "auth.access_token_ttl", "auth.refresh_idle_ttl",
    "auth.refresh_absolute_ttl", "uploads.session_ttl", "sync.retention_interval",
    "sync.wake_check_interval", "notifications.send_timeout", "notifications.poll_interval",
    "notifications.retry_initial_delay", "notifications.retry_max_delay",
])
def test_durations_that_zero_would_break_are_rejected(option: str) -> None:
    # 0 switches nothing off here: uploads and tokens would expire as they are made, a
    # background loop (the retention sweep, say) would run back to back, and a failing
    # push would be sent again at once, in a loop, until give_up_after (24h).
    section, name = option.split(".")
    var = f"HOMESYNC_{section.upper()}_{name.upper()}"
    assert load_error(None, environ={var: "0s"}) == f"option {option}: '0s' must be longer than 0s"
    assert load_settings(None, environ={var: "1s"})


@pytest.mark.parametrize(("option", "value", "says"), [
    ("server.max_json_body", "0", "too small: requests the apps make (sign-in among them)"),
    ("server.max_batch_body", "1KiB", "at least 64KiB"),
    ("uploads.max_file_size", "0", "would refuse every file but empty ones"),
])
def test_limits_that_would_refuse_everything_are_rejected(option: str, value: str,
                                                          says: str) -> None:
    # "0" reads as "no limit" (a quota's 0 is): it was taken as 0 bytes, and every
    # sign-in (or every upload) was answered 413.
    message = load_error(None, environ={env_var(option): value})
    assert message.startswith(f"option {option}: {value!r}") and says in message
    assert load_settings(None, environ={"HOMESYNC_SERVER_MAX_JSON_BODY": "64KiB",
                                        "HOMESYNC_SERVER_MAX_BATCH_BODY": "64KiB",
                                        "HOMESYNC_UPLOADS_MAX_FILE_SIZE": "1"})


def test_zero_still_switches_off_gc_and_retentions() -> None:
    assert load_settings(None, environ={"HOMESYNC_UPLOADS_GC_INTERVAL": "0s",
                                        "HOMESYNC_SYNC_TRASH_RETENTION": "0d"})


# -- value syntax ---------------------------------------------------------------------


def test_durations_and_sizes() -> None:
    assert [parse_duration(t) for t in ("90s", "15m", "1h", "7d")] == [90, 900, 3600, 604800]
    assert parse_size("1024") == 1024
    assert parse_size("8MiB") == 8 * 2**20
    assert parse_size("10GB") == 10 * 10**9
    with pytest.raises(ValueError):
        parse_duration("1 week")
    with pytest.raises(ValueError):
        parse_size("-5MiB")
