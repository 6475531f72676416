"""The refresh-token rotation rule (RFC 9700 §4.14.2; reliability-plan A7–A10), as one
pure decision so the order of its checks is visible and testable.

A refresh token is spent once. Presenting it again is either a retry of a response that
was lost in transit (same device, within the grace window, and its successor is still
unused: answer with that same successor) or theft (revoke the whole sign-in). Reuse is
judged *before* expiry: an old token replayed months later is still a theft signal, and
must not quietly end the sign-in as "expired" without telling the user.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["RotationPolicy", "Verdict"]


class Verdict(enum.Enum):
    ROTATE = "rotate"              # unused and alive: spend it, mint its successor
    REPLAY = "replay"              # a lost response retried: the same successor again
    WRONG_DEVICE = "wrong_device"  # another install presented it: revoke (A8)
    REUSED = "reused"              # already spent, outside the grace: revoke (A7)
    EXPIRED = "expired"            # idle or absolute lifetime over: revoke quietly


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    idle_ms: int       # a token unused this long is dead
    absolute_ms: int   # a sign-in ends this long after it started, however active
    grace_ms: int      # a spent token retried within this window gets the same successor

    def judge(self, *, bound_client_id: str, client_id: str, issued_at: int,
              used_at: int | None, family_created_at: int, successor_used: bool | None,
              now: int) -> Verdict:
        """What to do with a presented refresh token of a live (unrevoked) sign-in.

        ``successor_used`` is None when the successor does not exist (never minted).
        """
        if bound_client_id != client_id:
            return Verdict.WRONG_DEVICE
        over = now > family_created_at + self.absolute_ms
        if used_at is not None:
            if now - used_at <= self.grace_ms and successor_used is False:
                # A replay answers for a sign-in still alive: none past its absolute end.
                return Verdict.EXPIRED if over else Verdict.REPLAY
            return Verdict.REUSED
        if over or now > issued_at + self.idle_ms:
            return Verdict.EXPIRED
        return Verdict.ROTATE
