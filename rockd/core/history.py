"""The last hour of a sampled value in the tree (the system's metrics), for charts.

The history follows the tree: each revision that changes the value at its path appends that
value, as one row of its `fields` (the first is "time", unix seconds). Rows are kept in memory
for `keep` seconds and written to SQLite's `metrics` table in one batch every `flush_every`
seconds (five minutes) and on stop, when rows older than `keep` are deleted too: a crash loses
at most one batch, and an idle daemon writes some 25 KiB a minute for it, not a commit a second
(bench/idle_writes.py). Start-up loads the last `keep` seconds back.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from typing import Any

import orjson

from rockd.core import pointer
from rockd.core.store import Store
from rockd.core.tasks import cancel_and_wait
from rockd.core.tree import Revision, Tree

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics (time REAL PRIMARY KEY, sample BLOB NOT NULL);
"""

Row = tuple[Any, ...]


class History:
    """Rows of the value at `path`, ascending by time, in memory and in the `metrics` table."""

    def __init__(self, store: Store, tree: Tree, path: str, fields: tuple[str, ...], *,
                 keep: float = 3600.0, flush_every: float = 300.0):
        assert fields[0] == "time"
        self.store, self.tree = store, tree
        self.tokens = pointer.parse(path)
        self.fields = fields
        self.keep = keep
        self.flush_every = flush_every
        self._rows: deque[Row] = deque()
        self._pending: list[Row] = []
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """Read back the rows of the last `keep` seconds."""
        async with self.store.db.execute(
            "SELECT sample FROM metrics WHERE time >= ? ORDER BY time",
            (time.time() - self.keep,),
        ) as cur:
            self._rows.extend(self._row(orjson.loads(blob)) for (blob,) in await cur.fetchall())

    def start(self) -> None:
        """Follow the tree, and write what is new every `flush_every` seconds."""
        self.tree.listen(self._on_revision)
        self._task = asyncio.create_task(self._flush_loop(), name="metrics-history")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self.flush()

    def columns(self, seconds: float) -> dict[str, list[Any]]:
        """The rows of the last `seconds`, as one list per field."""
        cutoff = time.time() - seconds
        rows = list(itertools.dropwhile(lambda row: row[0] < cutoff, self._rows))
        return {field: [row[i] for row in rows] for i, field in enumerate(self.fields)}

    async def flush(self) -> None:
        """Write the rows taken since the last flush, and delete those older than `keep`."""
        cutoff = time.time() - self.keep
        batch = [row for row in self._pending if row[0] >= cutoff]
        self._pending = []
        if not batch:
            return
        values = [(row[0], orjson.dumps(dict(zip(self.fields, row, strict=True))))
                  for row in batch]
        db = self.store.db
        try:
            async with self.store.lock:
                await db.executemany("INSERT OR REPLACE INTO metrics VALUES (?, ?)", values)
                await db.execute("DELETE FROM metrics WHERE time < ?", (cutoff,))
                await db.commit()
        except Exception:
            self._pending[:0] = batch  # tried again with the next batch
            raise

    def _row(self, sample: dict[str, Any]) -> Row:
        return tuple(sample.get(field) for field in self.fields)

    def _on_revision(self, revision: Revision) -> None:
        depth = len(self.tokens)
        if not any(op.tokens[:depth] == self.tokens[:len(op.tokens)] for op in revision.ops):
            return  # nothing at, under or above the path
        sample = self.tree.get(self.tokens)
        if not isinstance(sample, dict) or not isinstance(sample.get("time"), int | float):
            return
        if self._rows and self._rows[-1][0] == sample["time"]:
            return
        row = self._row(sample)
        self._rows.append(row)
        self._pending.append(row)
        while self._rows[0][0] < row[0] - self.keep:
            self._rows.popleft()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every)
            try:
                await self.flush()
            except Exception:
                log.exception("writing the metrics history failed")
