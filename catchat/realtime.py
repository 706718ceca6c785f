"""The realtime gateway: pushing frames to a user's open tabs, one channel group per (user, cat).

Services push only through here, and writes push only after their transaction commits
(`push_on_commit`), so nothing is broadcast for a write that rolled back.

Tabs do not each hold a channel of the channel layer. One channel per process (per event loop:
the `_Hub`) is in the groups of the tabs open in that process, and hands every frame it receives
to those tabs (`join`, `leave`). An idle tab then costs the process no layer state: no receive
task waiting on the layer, no per-channel buffer, no Redis membership of its own (measured: about
9 KB per idle socket with channels_redis). The hub's receive is never cancelled, which also avoids
a channels_redis hazard: cancelling one channel's receive can lose a message meant for another
channel of the same process. Relayed stops and REST followers go through this hub too (one
receiver per process, `cats.chat`).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

# A tab's way in: called with each group message ({"type": "cat.frame", "frame", "group"}).
Deliver = Callable[[dict[str, Any]], Awaitable[None]]

# At most this many group_add/group_discard calls of the hub in flight at once: a burst of
# connections (every tab reconnecting after a restart) would otherwise take every connection of
# the Redis pool at once, and redis-py refuses the one over its limit (MaxConnectionsError).
MEMBERSHIP_CONCURRENCY = 32


def group_name(user_id: int, cat_id: int) -> str:
    return f"cat.{user_id}.{cat_id}"


async def send_to_group(group: str, frame: Any) -> None:
    """Deliver a server frame to every open tab of that (user, cat), in every process."""
    layer = get_channel_layer()
    assert layer is not None  # noqa: S101 - CHANNEL_LAYERS is always configured
    # `group` tells each process's hub which of its tabs the frame is for.
    await layer.group_send(group, {"type": "cat.frame", "frame": frame, "group": group})


def push_on_commit(group: str, frame: Any) -> None:
    """From sync code (a service): send `frame` once the current transaction commits."""
    transaction.on_commit(lambda: async_to_sync(send_to_group)(group, frame))


async def join(group: str, deliver: Deliver) -> None:
    """From now on, `deliver` gets every message sent to `group` (until `leave`). Returns once
    this process's channel is in the group (so nothing sent afterwards is missed)."""
    await (await _hub()).join(group, deliver)


async def leave(group: str, deliver: Deliver) -> None:
    """`deliver` gets nothing more from `group`. Safe to call twice, or without `join`."""
    hub = _hubs.get(asyncio.get_running_loop())
    if hub is not None:
        await hub.leave(group, deliver)


class _Members:
    """The tabs of one group in this process, and the lock that keeps the layer's membership
    changes for the group in order (a leave's discard never overtakes a later join's add)."""

    __slots__ = ("busy", "delivers", "lock")

    def __init__(self) -> None:
        self.delivers: set[Deliver] = set()
        self.lock = asyncio.Lock()
        self.busy = 0  # join/leave calls under way for this group


class _Hub:
    """One channel of the layer for every tab of this process (on one event loop)."""

    def __init__(self, layer: Any, channel: str) -> None:
        self.layer = layer
        self.channel = channel
        self.groups: dict[str, _Members] = {}
        self.membership = asyncio.Semaphore(MEMBERSHIP_CONCURRENCY)
        self.task: asyncio.Task[None] | None = None

    async def join(self, group: str, deliver: Deliver) -> None:
        members = self.groups.get(group)
        if members is None:
            members = self.groups[group] = _Members()
        members.delivers.add(deliver)
        members.busy += 1
        try:
            async with members.lock:
                if deliver in members.delivers:  # not already gone again
                    # Also when the channel is in the group already: that renews the group's
                    # expiry (channels_redis forgets a group a day after its last add).
                    async with self.membership:
                        await self.layer.group_add(group, self.channel)
        finally:
            members.busy -= 1
            self._forget_if_unused(group, members)

    async def leave(self, group: str, deliver: Deliver) -> None:
        members = self.groups.get(group)
        if members is None or deliver not in members.delivers:
            return
        members.delivers.discard(deliver)
        members.busy += 1
        try:
            async with members.lock:
                if not members.delivers:  # the group's last tab here
                    async with self.membership:
                        await self.layer.group_discard(group, self.channel)
        finally:
            members.busy -= 1
            self._forget_if_unused(group, members)

    def _forget_if_unused(self, group: str, members: _Members) -> None:
        if not members.delivers and not members.busy and self.groups.get(group) is members:
            del self.groups[group]

    async def run(self) -> None:
        """Receive forever; hand each message to the tabs of its group, in order."""
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception:
                logger.exception("The realtime hub could not receive; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            members = self.groups.get(message.get("group", ""))
            if members is None:
                continue
            for deliver in list(members.delivers):
                try:
                    await deliver(message)
                except Exception:
                    logger.exception("A tab failed to take a frame of %s", message.get("group"))


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = weakref.WeakKeyDictionary()
_starting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def _hub() -> _Hub:
    """This event loop's hub, started on first use (again if the channel layer was replaced)."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    assert layer is not None  # noqa: S101 - CHANNEL_LAYERS is always configured
    hub = _hubs.get(loop)
    if hub is not None and hub.layer is layer:
        return hub
    starting = _starting.setdefault(loop, asyncio.Lock())
    async with starting:
        hub = _hubs.get(loop)
        if hub is None or hub.layer is not layer:
            hub = _Hub(layer, await layer.new_channel())
            _hubs[loop] = hub
            # Never cancelled (see the module's docstring); it ends with its event loop.
            hub.task = loop.create_task(hub.run(), name="realtime-hub")
    return hub


# --- A user's own group: telling every open socket of an account, in every process ----------


def user_group(user_id: int) -> str:
    """The group every open socket of the user is in (besides its (user, cat) group)."""
    return f"user.{user_id}"


def close_user_sockets_on_commit(user_id: int, *, code: int, frame: Any) -> None:
    """From sync code (a service): once the current transaction commits, every open socket of
    the user, in every process, sends `frame` and closes with `code`."""
    group = user_group(user_id)
    message = {"type": "user.close", "group": group, "code": code, "frame": frame}

    async def send() -> None:
        layer = get_channel_layer()
        assert layer is not None  # noqa: S101 - CHANNEL_LAYERS is always configured
        await layer.group_send(group, message)

    transaction.on_commit(lambda: async_to_sync(send)())


# --- Open sockets per user, counted across processes -------------------------------------------
#
# One counter per user in Django's cache (Redis, shared by every process, when REDIS_URL is set):
# incremented when a socket opens, decremented when it closes. A process that dies cannot
# decrement what it counted, so the counter expires SOCKET_COUNT_TTL_S after it was last
# refreshed, and each process refreshes, every SOCKET_COUNT_REFRESH_S, the counters of the users
# with a socket open in it. What a dead process counted is forgotten once its user has had no
# socket open anywhere for SOCKET_COUNT_TTL_S.

SOCKET_COUNT_TTL_S = 300
SOCKET_COUNT_REFRESH_S = 60


def _socket_count_key(user_id: int) -> str:
    return f"ws-open:{user_id}"


async def socket_open(user_id: int, limit: int) -> bool:
    """Count one more open socket of the user, unless `limit` are open already (in every process):
    then count nothing and return False. Each True must be followed by one `socket_closed`."""
    # On a thread of its own, not the database's (see cats.consumers._spend_message).
    counted = await sync_to_async(_socket_open_sync, thread_sensitive=False)(user_id, limit)
    if counted:
        _sockets_here().opened(user_id)
    return counted


async def socket_closed(user_id: int) -> None:
    """One socket counted by `socket_open` is closed."""
    _sockets_here().closed(user_id)
    await sync_to_async(_socket_closed_sync, thread_sensitive=False)(user_id)


def _socket_open_sync(user_id: int, limit: int) -> bool:
    key = _socket_count_key(user_id)
    cache.add(key, 0, timeout=SOCKET_COUNT_TTL_S)
    try:
        count = cache.incr(key)  # atomic (INCR) on Redis
    except ValueError:  # expired between add and incr
        cache.add(key, 0, timeout=SOCKET_COUNT_TTL_S)
        count = cache.incr(key)
    if count > limit:
        _socket_closed_sync(user_id)
        return False
    cache.touch(key, SOCKET_COUNT_TTL_S)
    return True


def _socket_closed_sync(user_id: int) -> None:
    key = _socket_count_key(user_id)
    try:
        count = cache.decr(key)
    except ValueError:  # expired (its sockets outlived SOCKET_COUNT_TTL_S unrefreshed)
        return
    if count < 0:  # it expired and restarted while sockets counted before were open
        cache.incr(key, -count)
    cache.touch(key, SOCKET_COUNT_TTL_S)


class _SocketsHere:
    """The open sockets of this process (one event loop) by user, and the task that keeps their
    counters from expiring."""

    def __init__(self) -> None:
        self.users: dict[int, int] = {}
        self.task: asyncio.Task[None] | None = None

    def opened(self, user_id: int) -> None:
        self.users[user_id] = self.users.get(user_id, 0) + 1
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(
                self.refresh(), name="realtime-socket-counts"
            )

    def closed(self, user_id: int) -> None:
        left = self.users.get(user_id, 0) - 1
        if left > 0:
            self.users[user_id] = left
        else:
            self.users.pop(user_id, None)

    async def refresh(self) -> None:
        """Every SOCKET_COUNT_REFRESH_S while sockets are open here, renew their counters."""
        while self.users:
            await asyncio.sleep(SOCKET_COUNT_REFRESH_S)
            keys = [_socket_count_key(user_id) for user_id in list(self.users)]
            try:
                await sync_to_async(_touch_all, thread_sensitive=False)(keys)
            except Exception:
                logger.exception("Could not renew the open-socket counters; retrying later")


def _touch_all(keys: list[str]) -> None:
    for key in keys:
        cache.touch(key, SOCKET_COUNT_TTL_S)


_sockets: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SocketsHere] = (
    weakref.WeakKeyDictionary()
)


def _sockets_here() -> _SocketsHere:
    loop = asyncio.get_running_loop()
    here = _sockets.get(loop)
    if here is None:
        here = _sockets[loop] = _SocketsHere()
    return here
