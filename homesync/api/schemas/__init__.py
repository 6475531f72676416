"""Wire Structs, one module per area. JSON keys are camelCase, as the contract shows."""

from __future__ import annotations

import msgspec

__all__ = ["RequestStruct", "ResponseStruct"]


class RequestStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """A request body: unknown fields are refused (no mass assignment, OWASP API3)."""


class ResponseStruct(msgspec.Struct, rename="camel", kw_only=True):
    """A response body."""
