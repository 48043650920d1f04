"""The bus: revisions of the tree fanned out to subscribers by path, in order, none skipped.

A revision reaches subscribers only once it is durable (the journal confirms it with
`set_durable`), so no client ever sees a revision that a crash could take back. Each revision's
ops are serialised once (by the tree); what a subscriber gets is those bytes, or for an op
above its path the part that concerns it. Every subscriber has a bounded queue: one that
overflows drops its backlog and gets one fresh snapshot instead, so a slow client never holds
up the daemon or anybody else; those that keep up share one patch per flush, written straight
to their connections (rockd/core/fanout.py). The last `window` revisions are kept for `since`
replay.

Revisions read back from the journal at start-up lack their volatile ops (rockd.core.tree), and
some are missing altogether (those that were volatile only), so a replay that reaches back into
them ends with the current value of each volatile path it concerns; where that cannot be said
as a patch, the subscriber gets a snapshot.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from rockd.core import pointer
from rockd.core.fanout import Group, Outlet, Pacer, Subscription
from rockd.core.pointer import MISSING, Tokens
from rockd.core.tree import Op, Revision, Tree

__all__ = ["Bus", "Subscription"]

UNKNOWN = object()
"""The `old` of an op read back from the journal: what it replaced is no longer known."""


class Bus:
    """Fans revisions out to subscriptions; keeps a replay window; knows what is durable."""

    def __init__(self, tree: Tree, *, epoch: str = "", window: int = 10_000,
                 queue_limit: int = 1_000, queue_bytes: int = 8 << 20, gated: bool = False):
        self.tree = tree
        self.epoch = epoch
        self.window: deque[Revision] = deque(maxlen=window)
        self.durable_rev = tree.rev
        self.floor = tree.rev
        """`since` at or after this replays: every revision after it is in the window (or
        was volatile only)."""
        self.started_rev = tree.rev
        """Revisions after this one were released here, whole; those before, read back."""
        self.queue_limit = queue_limit
        self.queue_bytes = queue_bytes
        self._gated = gated
        self._held: deque[Revision] = deque()
        self._groups: dict[Tokens, Group] = {}
        self._pacer = Pacer()
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

    def load_window(self, revisions: Iterable[tuple[int, list[dict[str, Any]]]],
                    floor: int) -> None:
        """Fill the replay window from the journal at start-up: every journalled revision
        after `floor`."""
        self.floor = floor
        for rev, ops in revisions:
            self._remember(Revision(rev, [_journalled(op) for op in ops]))
        self.durable_rev = self.started_rev = self.tree.rev

    def _remember(self, revision: Revision) -> None:
        if len(self.window) == self.window.maxlen:  # the oldest is forgotten
            self.floor = self.window[0].rev if self.window else revision.rev
        self.window.append(revision)

    def _release(self, revision: Revision) -> None:
        self._remember(revision)
        self.durable_rev = revision.rev
        for tokens, subs in self._groups.items():
            fragment = _fragment(revision, tokens)
            if fragment is None:
                # an op above this path whose effect is unknown: resync them
                subs.resync()
            elif fragment:
                subs.push(revision.rev, fragment)

    # -- subscribers -------------------------------------------------------------------------

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._groups.values())

    def subscribe(self, path: str, wake: Callable[[], None], since: int | None = None,
                  epoch: str | None = None, outlet: Outlet | None = None) -> Subscription:
        """Register a subscriber at once; it starts with a snapshot or with the missed revisions.

        Registration and the choice between replay and snapshot happen with no await in
        between, so nothing can fall into a gap. With an `outlet`, once it has caught up, its
        patches are written straight to it (see core/fanout.py).
        """
        tokens = pointer.parse(path)
        self._next_id += 1
        sub = Subscription(self._next_id, tokens, wake, self.queue_limit, self.queue_bytes,
                           outlet)
        if since is not None and (epoch is None or epoch == self.epoch):
            self._replay(sub, since)
        group = self._groups.get(tokens)
        if group is None:
            group = self._groups[tokens] = Group(self._pacer)
        group.add(sub)
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
        if since > self.durable_rev or since < self.floor:
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
        fragments.reverse()
        if since < self.started_rev and self.tree.volatile:
            now = self._volatile_now(sub.tokens)
            if now is None:
                return
            fragments.extend(now)
        sub.resync = False
        sub.floor = since
        sub.last_rev = self.durable_rev
        for fragment in fragments:
            sub.queue.append(fragment)
            sub.bytes += len(fragment)
        if len(sub.queue) > sub.limit or sub.bytes > sub.limit_bytes:
            sub.queue.clear()
            sub.bytes = 0
            sub.resync = True

    def _volatile_now(self, tokens: Tokens) -> list[bytes] | None:
        """An op setting each volatile path that `tokens` sees (or `tokens` itself, inside
        one) to its value now; None where that takes a snapshot (a value that is gone)."""
        ops = []
        for path in self.tree.volatile:
            if any(other != path and pointer.is_prefix(other, path)
                   for other in self.tree.volatile):
                continue  # said by the op of the path above it
            if pointer.is_prefix(path, tokens):
                target = tokens
            elif pointer.is_prefix(tokens, path):
                target = path
            else:
                continue
            value = pointer.lookup(self.tree.root, target)
            if value is MISSING:
                if target != tokens and pointer.lookup(self.tree.root, path[:-1]) is MISSING:
                    continue  # not there, nor its parent: nothing to say
                return None
            ops.append(orjson.dumps({"op": "add", "path": pointer.join(target),
                                     "value": value}))
        return ops

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
        return sub.head + sub.patch(), sub.last_rev


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
