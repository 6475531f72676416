"""The inbox as a property, over HTTP: a phone pages through its notifications (filtered by
category and/or unread) while new ones arrive and others are read, and

- no notification is listed twice in one walk, and the walk is newest first;
- every one that existed when the walk began, matches the filter and stayed unread (for
  ``unread=true``) is listed;
- ``unreadCount`` is the inbox's count for the category, whatever the page;
- reading one (again: idempotent) keeps its first ``readAt``; another user's id is 404.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homesync import clock
from homesync.services.notifications.events import security_event
from homesync.store import notifications
from tests.helpers import API, PASSWORD, Device, examples
from tests.notifications.conftest import shared
from tests.server_on_loop import ServerOnLoop

CATEGORIES = ["uploads", "shares", "storage", "security"]


class World(ServerOnLoop):
    """One server for all the examples (each has its own users), on a frozen clock."""

    _emails = itertools.count()

    def __init__(self, root: Path) -> None:
        self.now = 1_717_408_800_000
        clock.set_now(lambda: self.now / 1000)
        super().__init__(root, auth={"api_requests_per_second": 0},
                         notifications={"enabled": False})

    def close(self) -> None:
        super().close()
        clock.set_now(None)

    async def user(self) -> Device:
        email = f"user{next(self._emails)}@example.com"
        await self.svc.accounts.create_user(email, PASSWORD, name="Pat Doe")
        return await self.sign_in(email, "phone")

    async def notify(self, user_id: str, category: str) -> str:
        if category == "shares":  # for a real share: the inbox shows it while the share lasts
            return await shared(self.svc, user_id)
        async with self.svc.db.transaction() as tx:
            if category == "security":
                return await security_event(tx, user_id=user_id, kind="password_changed",
                                            title="t", body="b", now=self.now)
            notification_id = f"notif_{next(self._emails)}"
            await notifications.enqueue(tx, notification_id=notification_id, user_id=user_id,
                                        category=category, kind="k", title="t", body="b",
                                        data={}, now=self.now)
            return notification_id

    async def get(self, dev: Device, url: str, **params: Any) -> Any:
        r = await self.http.get(f"{API}{url}", headers=dev.auth, params=params)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    async def post(self, dev: Device, url: str) -> httpx.Response:
        return await self.http.post(f"{API}{url}", headers=dev.auth)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with World.in_temp_dir() as w:
        yield w


category = st.sampled_from(CATEGORIES)
# Between two pages: new notifications (in the same millisecond or later), reads, a tick.
step = st.one_of(
    st.tuples(st.just("arrive"), category),
    st.tuples(st.just("read"), st.integers(0, 10_000)),
    st.tuples(st.just("tick"), st.integers(0, 2)),
)


@settings(max_examples=examples(30), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(before=st.lists(st.tuples(category, st.integers(0, 1)), max_size=25),
       between=st.lists(st.lists(step, max_size=3), max_size=8),
       limit=st.integers(1, 6), only=st.none() | category, unread=st.booleans())
def test_paging_while_notifications_arrive_and_are_read(
    world: World, before: list[tuple[str, int]], between: list[list[tuple[str, Any]]],
    limit: int, only: str | None, unread: bool,
) -> None:
    world.run(_walk(world, before, between, limit, only, unread))


async def _walk(world: World, before: list[tuple[str, int]], between: list[list[tuple[str, Any]]],
                limit: int, only: str | None, unread: bool) -> None:
    phone, other = await world.user(), await world.user()
    everything: dict[str, str] = {}  # id → category, in order made
    read: dict[str, str] = {}  # id → first readAt
    for n in (await world.get(phone, "/notifications"))["notifications"]:
        everything[n["id"]] = n["category"]
    for cat, tick in before:
        world.now += tick
        everything[await world.notify(phone.user_id, cat)] = cat
    start = [i for i, c in everything.items() if only in (None, c)]

    def unread_count() -> int:
        return sum(1 for i, c in everything.items() if only in (None, c) and i not in read)

    params: dict[str, Any] = {"limit": limit, **({"category": only} if only else {}),
                              **({"unread": "true"} if unread else {})}
    seen: list[str] = []
    cursor: str | None = None
    pauses = iter(between)
    while True:
        page = await world.get(phone, "/notifications", **params,
                               **({"cursor": cursor} if cursor else {}))
        assert page["unreadCount"] == unread_count()
        assert len(page["notifications"]) <= limit
        for n in page["notifications"]:
            assert only in (None, n["category"]) and not (unread and n["read"])
            seen.append(n["id"])
        cursor = page["nextCursor"]
        assert page["hasMore"] is (cursor is not None)
        if cursor is None:
            break
        for op, arg in next(pauses, []):
            if op == "arrive":
                everything[await world.notify(phone.user_id, arg)] = arg
            elif op == "tick":
                world.now += arg
            elif everything:
                target = list(everything)[arg % len(everything)]
                r = await world.post(phone, f"/notifications/{target}/read")
                assert r.status_code == 200, r.text
                read_at = r.json()["data"]["notification"]["readAt"]
                assert read.setdefault(target, read_at) == read_at
                r = await world.post(other, f"/notifications/{target}/read")
                assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"

    assert len(seen) == len(set(seen)), "listed twice"
    order = list(everything)
    assert seen == sorted(seen, key=order.index, reverse=True), "not newest first"
    missing = [i for i in start if i not in seen and not (unread and i in read)]
    assert not missing, "skipped"
    assert not set(seen) - set(everything)
