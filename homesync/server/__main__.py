"""``python -m homesync.server``: what ``homesync serve`` becomes once its options and
settings are checked (cli/serve.py), in the same process.

No typer, rich or pydantic here: they are most of the CLI's memory and the server runs
for months. The settings come from the environment ``homesync serve`` hands over
(``HOMESYNC_CONFIG`` and ``HOMESYNC_*`` variables for the flags), and are read the way
the CLI read them, so they come out the same.
"""

from __future__ import annotations

import sys

from homesync.config import ConfigError, load_settings
from homesync.exit_codes import EXIT_INTERRUPTED, EXIT_USAGE
from homesync.logs import configure_logging
from homesync.server.run import StartError, serve


def main() -> None:
    try:
        try:
            settings = load_settings()
        except ConfigError as exc:  # checked by `homesync serve`; changed since?
            raise StartError(f"configuration: {exc}", EXIT_USAGE) from None
        configure_logging(settings.server.log_level, settings.server.log_format)
        serve(settings)
    except StartError as exc:
        sys.stdout.flush()
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        sys.exit(exc.code)
    except KeyboardInterrupt:
        # A second Ctrl-C while stopping: the clean-up has run to its end all the same
        # (Services.close); end as an interrupted command does, without a traceback.
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
