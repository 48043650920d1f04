"""The bus: revisions of the tree fanned out to subscribers by path, in order, none skipped.

A revision reaches subscribers only once it is durable (the journal confirms it with
`set_durable`), so no client ever sees a revision that a crash could take back. Each revision's
ops are serialised once (by the tree); what a subscriber gets is those bytes, or for an op
above its path the part that concerns it. Every subscriber has a bounded queue: one that
overflows drops its backlog and gets one fresh snapshot instead, so a slow client never holds
up the daemon or anybody else. The last `window` revisions are kept for `since` replay.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from rockd.core import pointer
from rockd.core.pointer import MISSING, Tokens
from rockd.core.tree import Op, Revision, Tree

UNKNOWN = object()
"""The `old` of an op read back from the journal: what it replaced is no longer known."""


class Subscription:
    """One subscriber's path, queue of pending op fragments, and resync state."""

    __slots__ = (
        "bytes",
        "floor",
        "id",
        "last_rev",
        "limit",
        "limit_bytes",
        "path",
        "queue",
        "resync",
        "tokens",
        "wake",
    )

    def __init__(self, sub_id: int, tokens: Tokens, wake: Callable[[], None], limit: int,
                 limit_bytes: int):
        self.id = sub_id
        self.tokens = tokens
        self.path = pointer.join(tokens)
        self.wake = wake
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

    @property
    def ready(self) -> bool:
        return self.resync or bool(self.queue)


class Bus:
    """Fans revisions out to subscriptions; keeps a replay window; knows what is durable."""

    def __init__(self, tree: Tree, *, epoch: str = "", window: int = 10_000,
                 queue_limit: int = 1_000, queue_bytes: int = 8 << 20, gated: bool = False):
        self.tree = tree
        self.epoch = epoch
        self.window: deque[Revision] = deque(maxlen=window)
        self.durable_rev = tree.rev
        self.queue_limit = queue_limit
        self.queue_bytes = queue_bytes
        self._gated = gated
        self._held: deque[Revision] = deque()
        self._groups: dict[Tokens, set[Subscription]] = {}
        self._next_id = 0
        self._durable_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.subscribed = asyncio.Event()
        """Set whenever someone subscribes (samplers that run only while watched wait on it)."""
        tree.listen(self._on_revision)

    # -- revisions in ------------------------------------------------------------------------

    def _on_revision(self, revision: Revision) -> None:
        if self._gated:
            self._held.append(revision)
        else:
            self._release(revision)

    def set_durable(self, rev: int) -> None:
        """The journal has committed every revision up to `rev`: deliver them."""
        while self._held and self._held[0].rev <= rev:
            self._release(self._held.popleft())
        if self._durable_waiters:
            still = []
            for want, fut in self._durable_waiters:
                if want <= self.durable_rev:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    still.append((want, fut))
            self._durable_waiters = still

    async def durable(self, rev: int) -> None:
        """Wait until revision `rev` is durable."""
        if rev <= self.durable_rev:
            return
        fut = asyncio.get_running_loop().create_future()
        self._durable_waiters.append((rev, fut))
        await fut

    def load_window(self, revisions: Iterable[tuple[int, list[dict[str, Any]]]]) -> None:
        """Fill the replay window from the journal at start-up."""
        for rev, ops in revisions:
            self.window.append(Revision(rev, [_journalled(op) for op in ops]))
        self.durable_rev = self.tree.rev

    def _release(self, revision: Revision) -> None:
        self.window.append(revision)
        self.durable_rev = revision.rev
        for tokens, subs in self._groups.items():
            fragment = _fragment(revision, tokens)
            if fragment is None:
                # an op above this path whose effect is unknown: resync them
                for sub in subs:
                    sub.queue.clear()
                    sub.bytes = 0
                    sub.resync = True
                    sub.wake()
            elif fragment:
                for sub in subs:
                    sub.push(revision.rev, fragment)

    # -- subscribers -------------------------------------------------------------------------

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._groups.values())

    def subscribe(self, path: str, wake: Callable[[], None], since: int | None = None,
                  epoch: str | None = None) -> Subscription:
        """Register a subscriber at once; it starts with a snapshot or with the missed revisions.

        Registration and the choice between replay and snapshot happen with no await in
        between, so nothing can fall into a gap.
        """
        tokens = pointer.parse(path)
        self._next_id += 1
        sub = Subscription(self._next_id, tokens, wake, self.queue_limit, self.queue_bytes)
        if since is not None and (epoch is None or epoch == self.epoch):
            self._replay(sub, since)
        self._groups.setdefault(tokens, set()).add(sub)
        self.subscribed.set()
        if sub.ready:
            wake()
        return sub

    def watching(self, path: str) -> bool:
        """Whether any subscriber would see a change at `path`."""
        tokens = pointer.parse(path)
        return any(pointer.is_prefix(group, tokens) or pointer.is_prefix(tokens, group)
                   for group in self._groups)

    def unsubscribe(self, sub: Subscription) -> None:
        group = self._groups.get(sub.tokens)
        if group is not None:
            group.discard(sub)
            if not group:
                del self._groups[sub.tokens]

    def _replay(self, sub: Subscription, since: int) -> None:
        if since > self.durable_rev:
            return
        if since < self.durable_rev and (not self.window or self.window[0].rev > since + 1):
            return
        fragments = []
        for revision in reversed(self.window):
            if revision.rev <= since:
                break
            fragment = _fragment(revision, sub.tokens)
            if fragment is None:
                return
            if fragment:
                fragments.append(fragment)
        sub.resync = False
        sub.floor = since
        sub.last_rev = self.durable_rev
        for fragment in reversed(fragments):
            sub.queue.append(fragment)
            sub.bytes += len(fragment)
        if len(sub.queue) > sub.limit or sub.bytes > sub.limit_bytes:
            sub.queue.clear()
            sub.bytes = 0
            sub.resync = True

    def take(self, sub: Subscription) -> tuple[bytes | None, int]:
        """The next frame for `sub` and the revision that must be durable before it is sent.

        A pending resync becomes a snapshot of the subtree as it is now (serialised at once,
        dropping the queue); otherwise everything queued becomes one patch frame.
        """
        if sub.resync:
            sub.resync = False
            sub.queue.clear()
            sub.bytes = 0
            rev = self.tree.rev
            sub.floor = sub.last_rev = rev
            value = orjson.dumps(self.tree.get(sub.tokens))
            head = b'{"type":"snapshot","sub":%d,"rev":%d,"epoch":' % (sub.id, rev)
            return head + orjson.dumps(self.epoch) + b',"value":' + value + b"}", rev
        if not sub.queue:
            return None, 0
        ops = b",".join(sub.queue)
        sub.queue.clear()
        sub.bytes = 0
        frame = b'{"type":"patch","sub":%d,"rev":%d,"ops":[%s]}' % (sub.id, sub.last_rev, ops)
        return frame, sub.last_rev


def _fragment(revision: Revision, tokens: Tokens) -> bytes | None:
    """The ops of `revision` that concern `tokens`, comma-joined; None if one can't be trimmed."""
    if not tokens:
        return b",".join(op.wire for op in revision.ops)
    parts = []
    for op in revision.ops:
        if pointer.is_prefix(tokens, op.tokens):
            parts.append(op.wire)
        elif pointer.is_prefix(op.tokens, tokens):
            trimmed = _trim(op, tokens)
            if trimmed is None:
                return None
            if trimmed:
                parts.append(trimmed)
    return b",".join(parts)


def _trim(op: Op, tokens: Tokens) -> bytes | None:
    """An op on an ancestor of `tokens`, restated as what it does at `tokens` itself."""
    if op.old is UNKNOWN:
        return None
    rel = tokens[len(op.tokens) :]
    before = MISSING if op.old is MISSING else pointer.lookup(op.old, rel)
    after = pointer.lookup(op.new_value(), rel) if op.kind != "remove" else MISSING
    path = pointer.join(tokens)
    if after is not MISSING:
        kind = "add" if before is MISSING else "replace"
        return orjson.dumps({"op": kind, "path": path, "value": after})
    if before is not MISSING:
        return orjson.dumps({"op": "remove", "path": path})
    return b""


def _journalled(body: dict[str, Any]) -> Op:
    op = Op(body["op"], pointer.parse(body["path"]), old=UNKNOWN)
    op.wire = memoryview(orjson.dumps(body)).tobytes()  # exact size: see Op.freeze
    return op
