"""Push delivery: one provider per transport behind one contract (no database, no web framework).

Modules:

- :mod:`~homesync.push.base`: the contract (``PushMessage``, ``PushTarget``,
  ``DeliveryResult``, ``Provider``) and helpers shared by providers.
- :mod:`~homesync.push.registry`: ``build_providers(settings, client)`` and
  ``pick(providers, target)``.
- :mod:`~homesync.push.safety`: the SSRF check for client-supplied endpoint URLs.
- One module per provider: ``unifiedpush``, ``ntfy``, ``webhook``, ``fcm``, ``apns``.

Known limits:

- UnifiedPush payloads are plain JSON. Newer distributors expect RFC 8291 (Web Push)
  encryption with keys the app registers; the registration API carries no keys yet.
- ntfy's iOS app needs the upstream ``poll_request`` relay for self-hosted servers; not done.
"""

from homesync.push.base import (
    DeliveryResult,
    Provider,
    PushMessage,
    PushTarget,
)

__all__ = ["DeliveryResult", "Provider", "PushMessage", "PushTarget"]
