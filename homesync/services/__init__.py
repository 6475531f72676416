"""The rules of homesync: no HTTP and no terminal here (api/ and cli/ call in).

One package per area, each a handful of modules with one job:

- ``auth``: accounts, passwords, sign-in, access and refresh tokens, signing keys,
  rate limits, a user's devices;
- ``uploads``: background uploads, chunk by chunk, and quotas;
- ``files``: listing and downloads, versions, the trash;
- ``sync``: deltas from the change journal, long polls, local changes and the offline
  queue, conflicts, the sync horizon;
- ``sharing``: shares between the users of one server;
- ``notifications``: the events services raise, the inbox, preferences, push delivery;
- ``maintenance``: backup, restore, gc, fsck, status.

:class:`~homesync.services.container.Services` builds them all over one database and
chunk store.
"""
