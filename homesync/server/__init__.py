"""The running server: ``homesync serve`` checks its options and settings, then becomes
``python -m homesync.server`` (same process, see cli/serve.py), so the long-running
process holds the web stack and the services but not the CLI's typer, rich and pydantic.

- :mod:`~homesync.server.run`: the data dir lock, the listening socket, uvicorn.
- :mod:`~homesync.server.first_admin`: the first start's administrator and its password file.
- :mod:`~homesync.server.graceful`: uvicorn's server with a clean stop.
- ``__main__``: the entry, settings from the environment ``homesync serve`` hands over.
"""
