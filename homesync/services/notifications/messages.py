"""What one push says: a single notification as it is, or several uploads as one summary.

Pure functions over the notifications a delivery carries (its own plus any merged into
it, see :func:`homesync.store.delivery_claims.merge_uploads`); no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from msgspec import Struct

from homesync.push.base import Category, Priority, PushMessage

__all__ = ["Part", "build_message", "latest_per_upload", "part_from_row", "summary_text"]

# The uploads service's kinds (services/uploads/events.py): anything but a completion or
# a cancellation (upload_failed, upload_expired) counts as a failure in a summary.
UPLOAD_COMPLETED = "upload_completed"
# The owner ended the share the upload was going into (sharing/shares.py): retrying
# cannot help, so a summary tells these apart from failures.
UPLOAD_CANCELLED = "upload_cancelled"
# Pushed at high priority (FCM HIGH, APNs 10, ntfy 4/5): the user should see these now.
_URGENT: frozenset[str] = frozenset({"security", "shares"})


class Part(Struct, frozen=True, kw_only=True):
    """One notification as the push worker needs it."""

    id: str
    category: Category
    kind: str
    title: str
    body: str
    data: dict[str, str]
    mime_type: str | None = None  # of what an upload notification's upload sent


def part_from_row(row: Any) -> Part:
    """A :class:`Part` from :func:`homesync.store.delivery_claims.message_parts`."""
    data = msgspec.json.decode(row["data"] or "{}", type=dict[str, str])
    return Part(id=row["id"], category=row["category"], kind=row["kind"], title=row["title"],
                body=row["body"], data=data, mime_type=row["mime_type"])


def build_message(parts: Sequence[Part]) -> PushMessage:
    """The push for ``parts`` (oldest first, at least one).

    One part: its own title and body, ``data`` plus its ``kind``. Several (uploads only):
    "37 photos backed up" with ``data`` ``{"kind": "upload_summary", "count": "37",
    "failed": "0"}`` (and ``"stopped"``, the uploads a share's owner stopped, when there
    are any); the newest notification's id is the message id, so a retry of the same
    summary carries the same id and apps can drop duplicates. Of one upload only its
    newest notification counts (see :func:`latest_per_upload`).
    """
    if not parts:
        raise ValueError("a push needs at least one notification")
    parts = latest_per_upload(parts)
    newest = parts[-1]
    priority: Priority = "high" if newest.category in _URGENT else "normal"
    if len(parts) == 1:
        return PushMessage(
            notification_id=newest.id, category=newest.category, title=newest.title,
            body=newest.body, data={**newest.data, "kind": newest.kind}, priority=priority,
        )
    _, failed, stopped = _by_outcome(parts)
    title, body = summary_text(parts)
    data = {"kind": "upload_summary", "count": str(len(parts)), "failed": str(len(failed))}
    if stopped:
        data["stopped"] = str(len(stopped))
    return PushMessage(
        notification_id=newest.id, category=newest.category, title=title, body=body,
        data=data, priority=priority, collapse_key="uploads",
    )


def latest_per_upload(parts: Sequence[Part]) -> list[Part]:
    """``parts`` (oldest first) with only the newest notification of each upload: one that
    failed (arrived damaged, say) and then completed is told as completed, not also as a
    failure to retry. Notifications about no upload are all kept."""
    newest_of = {p.data["uploadId"]: i for i, p in enumerate(parts) if p.data.get("uploadId")}
    return [p for i, p in enumerate(parts) if newest_of.get(p.data.get("uploadId", ""), i) == i]


def summary_text(parts: Sequence[Part]) -> tuple[str, str]:
    """Title and body for several upload notifications. Those a share's owner stopped are
    told apart: the app retrying them would be refused."""
    done, failed, stopped = _by_outcome(parts)
    if not done and not stopped:
        return f"{len(failed)} uploads failed", "Open the app to retry them."
    if not done and not failed:
        return (f"{len(stopped)} uploads stopped",
                "The share they were going into no longer lets you add to it.")
    said = []
    if failed:
        them = "them" if len(failed) > 1 else "it"
        said.append(f"{len(failed)} failed to upload; open the app to retry {them}.")
    if stopped:
        it_was = "they were" if len(stopped) > 1 else "it was"
        said.append(f"{len(stopped)} stopped: the share {it_was} going into no longer lets"
                    " you add to it.")
    if not done:
        return f"{len(failed) + len(stopped)} uploads not backed up", " ".join(said)
    return f"{len(done)} {_noun(done)} backed up", " ".join(said) or "Open the app to see them."


def _by_outcome(parts: Sequence[Part]) -> tuple[list[Part], list[Part], list[Part]]:
    """``parts`` as (completed, failed: the app may retry them, stopped by a share's end)."""
    done = [p for p in parts if p.kind == UPLOAD_COMPLETED]
    stopped = [p for p in parts if p.kind == UPLOAD_CANCELLED]
    failed = [p for p in parts if p.kind not in (UPLOAD_COMPLETED, UPLOAD_CANCELLED)]
    return done, failed, stopped


def _noun(parts: Sequence[Part]) -> str:
    """What ``parts`` are, in the plural, or in the singular for one ("1 photo")."""
    kinds = {(p.mime_type or "").partition("/")[0] for p in parts}
    if kinds == {"image"}:
        noun = "photos"
    elif kinds == {"video"}:
        noun = "videos"
    elif kinds == {"image", "video"}:
        noun = "photos and videos"
    else:
        noun = "files"
    return noun if len(parts) > 1 else noun.removesuffix("s")
