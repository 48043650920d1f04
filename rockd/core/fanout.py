"""Subscriptions, and the groups of those that follow the same path, for the bus.

A subscription is *detached* while it has a queue of its own: from the start (its snapshot or
its replay), after an overflow (a pending snapshot), or while its connection cannot take a
frame at once (control replies queued, a frame of its own in flight, a full socket buffer).
Its connection's writer takes its frames (`Bus.take`).

Once it has caught up and its connection is idle, a subscription with an outlet (a connection
that can write a frame at once) goes *live*: it then has no queue at all. Each released
revision's fragment is appended once to its group's pending list, and at each flush the group
encodes the pending ops once, as one patch body, and writes it to every live subscriber behind
its own `{"type":"patch","sub":N` head: per revision and subscriber no Python work, per flush
one write. A live subscriber whose connection is not idle at a flush is detached again, with
the flush's fragments queued for it, so nothing is skipped, duplicated or reordered.

Flushes are paced for all groups together: at most one per FRAME_BUDGET / subscribers
seconds (MAX_INTERVAL at most), the first after a quiet spell at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from typing import Protocol

from rockd.core import pointer
from rockd.core.pointer import Tokens

FRAME_BUDGET = 50_000
"""Frames per second for all subscribers together. With many subscribers the frames to each
one are subscribers / FRAME_BUDGET seconds apart, and what comes meanwhile goes out in the
next frame: the cost stays bounded however many clients follow the stream."""
MAX_INTERVAL = 0.02
"""The longest wait between two frames to a subscriber, however many there are."""


class Outlet(Protocol):
    """A connection that can write a subscription's frame at once."""

    def idle(self) -> bool:
        """Whether a frame written now goes out at once and after all this connection has
        sent: nothing queued, nothing in flight, room in the socket's buffer."""

    def write(self, head: bytes, body: bytes) -> None:
        """Send one text frame, `head` then `body`, now."""


class Subscription:
    """One subscriber's path, queue of pending op fragments, and resync state."""

    __slots__ = (
        "bytes",
        "floor",
        "head",
        "id",
        "last_rev",
        "limit",
        "limit_bytes",
        "outlet",
        "path",
        "queue",
        "resync",
        "tokens",
        "wake",
    )

    def __init__(self, sub_id: int, tokens: Tokens, wake: Callable[[], None], limit: int,
                 limit_bytes: int, outlet: Outlet | None = None):
        self.id = sub_id
        self.tokens = tokens
        self.path = pointer.join(tokens)
        self.wake = wake
        self.outlet = outlet
        self.head = b'{"type":"patch","sub":%d' % sub_id
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.queue: deque[bytes] = deque()
        self.bytes = 0
        self.last_rev = 0
        self.floor = 0
        self.resync = True

    def push(self, rev: int, fragment: bytes) -> None:
        """Queue one revision's ops for this subscriber (a comma-joined run of ops)."""
        if self.resync or rev <= self.floor:
            return
        self.queue.append(fragment)
        self.bytes += len(fragment)
        self.last_rev = rev
        if len(self.queue) > self.limit or self.bytes > self.limit_bytes:
            self.queue.clear()
            self.bytes = 0
            self.resync = True
        self.wake()

    def start_over(self) -> None:
        """Drop the queue: the next frame is a fresh snapshot."""
        self.queue.clear()
        self.bytes = 0
        self.resync = True
        self.wake()

    def patch(self) -> bytes:
        """Everything queued as a patch frame's body (after `head`), the queue emptied."""
        ops = b",".join(self.queue)
        self.queue.clear()
        self.bytes = 0
        return b',"rev":%d,"ops":[%s]}' % (self.last_rev, ops)

    @property
    def ready(self) -> bool:
        return self.resync or bool(self.queue)


class Pacer:
    """Schedules the flushes of all groups with something pending, FRAME_BUDGET apart."""

    def __init__(self) -> None:
        self.dirty: dict[Group, None] = {}
        self.handle: asyncio.Handle | None = None
        self.last = 0.0
        self.outlets = 0  # subscriptions that can go live, in all groups

    def due(self, group: Group) -> None:
        self.dirty[group] = None
        if self.handle is None:
            loop = asyncio.get_running_loop()
            wait = self.last + min(MAX_INTERVAL, self.outlets / FRAME_BUDGET) - loop.time()
            if wait > 0:
                self.handle = loop.call_later(wait, self.flush)
            else:
                self.handle = loop.call_soon(self.flush)

    def flush(self) -> None:
        self.handle = None
        self.last = asyncio.get_running_loop().time()
        dirty, self.dirty = self.dirty, {}
        for group in dirty:
            group.flush()


class Group:
    """The subscriptions of one path: those with queues of their own, and the live ones."""

    __slots__ = ("detached", "live", "pacer", "pending")

    def __init__(self, pacer: Pacer):
        self.pacer = pacer
        self.detached: set[Subscription] = set()
        self.live: set[Subscription] = set()
        self.pending: list[tuple[int, bytes]] = []

    def __len__(self) -> int:
        return len(self.detached) + len(self.live)

    def __iter__(self) -> Iterator[Subscription]:
        yield from self.detached
        yield from self.live

    def add(self, sub: Subscription) -> None:
        self.detached.add(sub)
        if sub.outlet is not None:
            self.pacer.outlets += 1

    def discard(self, sub: Subscription) -> None:
        if sub in self.live or sub in self.detached:
            self.live.discard(sub)
            self.detached.discard(sub)
            if sub.outlet is not None:
                self.pacer.outlets -= 1

    def push(self, rev: int, fragment: bytes) -> None:
        """One released revision's fragment for every subscriber of the path."""
        for sub in self.detached:
            sub.push(rev, fragment)
        if self.live:
            self.pending.append((rev, fragment))
        if self.live or (self.detached and self.pacer.outlets):
            self.pacer.due(self)

    def resync(self) -> None:
        """Everyone starts over with a snapshot."""
        self.detached.update(self.live)
        self.live.clear()
        self.pending.clear()
        for sub in self.detached:
            sub.start_over()

    def flush(self) -> None:
        """Write what is pending to the live subscribers; take in those that caught up."""
        pending, self.pending = self.pending, []
        if pending and self.live:
            ops = b",".join(fragment for _, fragment in pending)
            body = b',"rev":%d,"ops":[%s]}' % (pending[-1][0], ops)
            stuck = []
            for sub in self.live:
                outlet = sub.outlet
                if outlet is not None and outlet.idle():
                    outlet.write(sub.head, body)
                else:
                    stuck.append(sub)
            for sub in stuck:
                self.live.discard(sub)
                self.detached.add(sub)
                for rev, fragment in pending:
                    sub.push(rev, fragment)
        for sub in [s for s in self.detached if s.outlet is not None and not s.resync]:
            outlet = sub.outlet
            if outlet is not None and outlet.idle():
                if sub.queue:
                    outlet.write(sub.head, sub.patch())
                self.detached.discard(sub)
                self.live.add(sub)
