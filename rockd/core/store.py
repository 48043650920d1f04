"""SQLite: the journal of tree revisions with group commit, snapshots of the tree, and intent.

Every revision is appended to `journal`; a writer task commits whatever has queued up in one
transaction (group commit) and then tells the bus those revisions are durable. Every
`snapshot_every` revisions the whole tree is stored too and the journal is pruned to the replay
window, so start-up loads one snapshot and replays a short tail. The `epoch` is made with the
database and changes only when history is lost (the database is new or its journal broken).

Volatile ops (rockd.core.tree: the sampled metrics) are not journalled: a revision of nothing
else writes nothing and is released at once, in order behind what is still being committed; a
mixed one is journalled with its other ops only. The journal's revision numbers so have gaps,
so each row names the journalled revision before it (`prev`) and a lost row is still found.
No revision number is ever handed out twice: volatile revisions use numbers `reserved` ahead
(`meta.reserved`, written once every `reserve` of them), and start-up goes on from there. A
clean close brings `reserved` back to the last revision, so a restart goes on from it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from rockd.core.batches import GroupCommit
from rockd.core.bus import Bus
from rockd.core.tree import Revision, Tree

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (rev INTEGER PRIMARY KEY, ops BLOB NOT NULL, prev INTEGER);
CREATE TABLE IF NOT EXISTS snapshots (rev INTEGER PRIMARY KEY, tree BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS intent (
    kind TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (kind, key));
"""


class Store:
    """The database, the journal writer, and what start-up reads back."""

    def __init__(self, path: Path | str, *, snapshot_every: int = 10_000, window: int = 10_000,
                 reserve: int = 1_000):
        self.path = Path(path)
        self.snapshot_every = snapshot_every
        self.window = window
        self.reserve = reserve
        self.epoch = ""
        self.committed_rev = 0
        self.journal_rev = 0
        """The last revision with a row in the journal."""
        self.reserved = 0
        """Revisions up to this one may be released without a row (meta.reserved)."""
        self.floor = 0
        """The tail `load` answers holds every journalled revision after this one."""
        self.lock = asyncio.Lock()
        self._db: aiosqlite.Connection | None = None
        self._tree: Tree | None = None
        self._bus: Bus | None = None
        self._journal: GroupCommit[Revision] = GroupCommit(self._commit,
                                                           name="journal-writer")
        self._snapshot_rev = 0

    @property
    def db(self) -> aiosqlite.Connection:
        assert self._db is not None, "store is not open"
        return self._db

    async def open(self, extra_schema: str = "") -> None:
        """Open (or create) the database and its tables."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=FULL")
        await self._db.executescript(SCHEMA + extra_schema)
        async with self._db.execute("PRAGMA table_info(journal)") as cur:
            if "prev" not in [row[1] async for row in cur]:  # made before volatile paths
                await self._db.execute("ALTER TABLE journal ADD COLUMN prev INTEGER")
        await self._db.commit()

    async def load(self, tree: Tree) -> list[tuple[int, list[dict[str, Any]]]]:
        """Bring `tree` to the last committed revision (or past it, to the last revision
        number reserved); return the tail kept for replay, every row after `floor`."""
        db = self.db
        async with db.execute("SELECT key, value FROM meta") as cur:
            meta = {key: value async for key, value in cur}
        lost = "epoch" not in meta
        self.reserved = int(meta.get("reserved", 0))
        async with db.execute("SELECT rev, tree FROM snapshots ORDER BY rev DESC LIMIT 1") as cur:
            snap = await cur.fetchone()
        base_rev, root = (snap[0], orjson.loads(snap[1])) if snap else (0, {})
        start = max(0, base_rev - self.window)
        async with db.execute(
            "SELECT rev, ops, prev FROM journal WHERE rev > ? ORDER BY rev", (start,)
        ) as cur:
            rows = [(rev, orjson.loads(ops), rev - 1 if prev is None else prev)
                    for rev, ops, prev in await cur.fetchall()]
        tree.load(root, base_rev)
        last = base_rev  # the revision the next row must follow (or one of the snapshot's)
        for rev, ops, prev in rows:
            if rev <= base_rev:
                continue
            if prev > last or (prev != last and last != base_rev):
                log.error("journal has a gap after revision %d: history from there is lost",
                          last)
                lost = True
                break
            tree.replay(rev, ops)
            last = rev
        if lost:  # a new epoch: revision numbers from here on are new to every client
            self.epoch = uuid.uuid4().hex
            self.reserved = tree.rev
            await db.execute("INSERT OR REPLACE INTO meta VALUES ('epoch', ?)", (self.epoch,))
            await db.execute("INSERT OR REPLACE INTO meta VALUES ('reserved', ?)",
                             (str(self.reserved),))
            await db.execute("DELETE FROM journal WHERE rev > ?", (tree.rev,))
            await db.commit()
        else:
            self.epoch = meta["epoch"]
        kept = [(rev, ops) for rev, ops, _ in rows if rev <= tree.rev]
        self.journal_rev = max([base_rev, *(rev for rev, _ in kept)])
        self.floor = max(start, tree.rev - self.window)
        tree.load(tree.root, max(tree.rev, self.reserved))  # never a number handed out before
        self._snapshot_rev = base_rev
        self.committed_rev = tree.rev
        return [(rev, ops) for rev, ops in kept if rev > self.floor]

    def attach(self, tree: Tree, bus: Bus) -> None:
        """Journal every revision of `tree` and release it on `bus` once committed."""
        self._tree, self._bus = tree, bus
        tree.listen(self._journal.add)
        self._journal.start()

    async def _commit(self, batch: list[Revision]) -> None:
        rows, prev = [], self.journal_rev
        for revision in batch:
            ops = revision.journal_ops()
            if ops is not None:
                rows.append((revision.rev, ops, prev))
                prev = revision.rev
        last = batch[-1].rev
        reserve = last + self.reserve if last > max(prev, self.reserved) else None
        if rows or reserve is not None:
            await self._write(rows, reserve, batch[0].rev, last)
        self.journal_rev = prev
        self.reserved = reserve or self.reserved
        self.committed_rev = last
        assert self._bus is not None
        self._bus.set_durable(last)

    async def _write(self, rows: list[tuple[int, bytes, int]], reserve: int | None,
                     first: int, last: int) -> None:
        """Journal `rows` and reserve revision numbers up to `reserve`, in one transaction
        (with a snapshot of the tree at `last`, the batch's last revision, when one is due)."""
        snapshot = self._maybe_snapshot(last) if rows else None
        try:
            async with self.lock:
                await self.db.executemany("INSERT INTO journal VALUES (?, ?, ?)", rows)
                if reserve is not None:
                    await self.db.execute("INSERT OR REPLACE INTO meta VALUES ('reserved', ?)",
                                          (str(reserve),))
                if snapshot is not None:
                    await self._save_snapshot(*snapshot)
                await self.db.commit()
        except Exception:
            log.exception("journal commit failed; revisions from %d are not durable", first)
            raise

    def _maybe_snapshot(self, rev: int) -> tuple[int, bytes] | None:
        tree = self._tree
        assert tree is not None
        if rev - self._snapshot_rev < self.snapshot_every or tree.in_transaction:
            return None
        # the pending batch ends at tree.rev: the tree as it is now is exactly revision `rev`
        assert tree.rev == rev
        return rev, orjson.dumps(tree.root)

    async def _save_snapshot(self, rev: int, blob: bytes) -> None:
        db = self.db
        await db.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?)", (rev, blob))
        await db.execute("DELETE FROM snapshots WHERE rev < ?", (rev,))
        await db.execute("DELETE FROM journal WHERE rev <= ?", (rev - self.window,))
        self._snapshot_rev = rev

    # -- intent: what the user asked for (a pool's mount options, a share's quota) -----------

    async def intents(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every intent record of one kind, by key."""
        async with self.db.execute("SELECT key, value FROM intent WHERE kind = ?",
                                   (kind,)) as cur:
            return {key: orjson.loads(value) async for key, value in cur}

    async def intent_kinds(self) -> list[str]:
        """Every kind of intent kept, sorted."""
        async with self.db.execute("SELECT DISTINCT kind FROM intent ORDER BY kind") as cur:
            return [kind async for (kind,) in cur]

    async def set_intent(self, kind: str, key: str, value: dict[str, Any]) -> None:
        async with self.lock:
            await self.db.execute("INSERT OR REPLACE INTO intent VALUES (?, ?, ?)",
                                  (kind, key, orjson.dumps(value)))
            await self.db.commit()

    async def delete_intent(self, kind: str, key: str) -> None:
        async with self.lock:
            await self.db.execute("DELETE FROM intent WHERE kind = ? AND key = ?", (kind, key))
            await self.db.commit()

    async def flush(self) -> None:
        """Wait until every revision so far is committed."""
        if self._journal.failed is not None:
            raise RuntimeError("the journal writer has failed") from self._journal.failed
        await self._journal.drained()

    async def close(self) -> None:
        """Commit what is pending, then close the database."""
        await self._journal.stop()
        if self._db is not None and self._journal.failed is None \
                and self.reserved > self.committed_rev:
            async with self.lock:  # no number past the last was handed out: go on from it
                await self._db.execute("INSERT OR REPLACE INTO meta VALUES ('reserved', ?)",
                                       (str(self.committed_rev),))
                await self._db.commit()
        if self._db is not None:
            await self._db.close()
            self._db = None


async def open_state(path: Path | str, extra_schema: str = "", **options: int
                     ) -> tuple[Store, Tree, Bus]:
    """Open the database, bring a tree back to its last committed revision, and journal it.

    The bus answers `since` from the journal's tail and releases each new revision once the
    journal has committed it.
    """
    store = Store(path, **options)
    await store.open(extra_schema)
    tree = Tree()
    window = await store.load(tree)
    bus = Bus(tree, epoch=store.epoch, window=store.window, gated=True)
    bus.load_window(window, store.floor)
    store.attach(tree, bus)
    return store, tree, bus
