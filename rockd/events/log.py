"""The event log in SQLite: its own database file in the state dir, append-only.

An entry is acknowledged only once committed: `append` waits for the commit (synchronous=FULL
in WAL mode, so a kill -9 or a power cut after it loses nothing), `record` does not wait but is
committed in the same way. One writer task commits whatever has queued up in one transaction
(group commit), and in that transaction drops what the retention no longer keeps (older than
`keep_days`, or beyond the newest `keep` entries). Triggers refuse any UPDATE, so an entry is
never changed after it is written. After each commit the newest entry is handed to
`published` (the tree's /events/latest, which the stream carries to the UI).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from rockd.core.batches import GroupCommit
from rockd.core.resources.events import Event
from rockd.core.times import iso, now, utcnow

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, kind TEXT NOT NULL,
    message TEXT NOT NULL, principal TEXT, address TEXT, action TEXT, resource TEXT,
    status INTEGER, error TEXT);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, id);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE TRIGGER IF NOT EXISTS events_append_only BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"""
COLUMNS = ("id", "time", "kind", "message", "principal", "address", "action", "resource",
           "status", "error")
FIELDS = ("principal", "address", "action", "resource")  # optional text fields of an entry
MAX_PAGE = 1000
INSERT = ("INSERT INTO events (time, kind, message, principal, address, action, resource, "
          "status, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
SELECT = ("SELECT id, time, kind, message, principal, address, action, resource, status, error "
          "FROM events WHERE ")
Queued = tuple[tuple[Any, ...], "asyncio.Future[Event] | None"]  # a row, and who waits for it


@dataclass(frozen=True)
class Filter:
    """Which entries a query answers: after `since`, before `before` (when given), of `kind`,
    naming `resource` or `principal` exactly, or containing `text` in any of their words."""

    since: int = 0
    before: int | None = None
    kind: str | None = None
    resource: str | None = None
    principal: str | None = None
    text: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = ["id > ?"]
        args: list[Any] = [self.since]
        if self.before is not None:
            clauses.append("id < ?")
            args.append(self.before)
        for column in ("kind", "resource", "principal"):
            value = getattr(self, column)
            if value:
                clauses.append(f"{column} = ?")
                args.append(value)
        if self.text:
            escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like = f"%{escaped}%"
            clauses.append("(" + " OR ".join(
                f"{c} LIKE ? ESCAPE '\\'" for c in ("message", *FIELDS, "error")) + ")")
            args += [like] * (len(FIELDS) + 2)
        return " AND ".join(clauses), args


def entry(row: tuple[Any, ...]) -> Event:
    """A row as the API shows it: the fields it has, the result as {status, error}."""
    values = dict(zip(COLUMNS, row, strict=True))
    event: dict[str, Any] = {k: values[k] for k in ("id", "time", "kind", "message")}
    event.update({k: values[k] for k in FIELDS if values[k] is not None})
    if values["status"] is not None:
        event["result"] = {"status": values["status"]}
        if values["error"]:
            event["result"]["error"] = values["error"]
    return event  # type: ignore[return-value]


class EventLog:
    """The log: append, query, export; retention by age and count."""

    def __init__(self, path: Path, *, keep_days: int = 90, keep: int = 100_000,
                 published: Callable[[Event], None] | None = None):
        self.path, self.keep_days, self.keep = path, keep_days, keep
        self.published = published
        self._db: aiosqlite.Connection | None = None
        self._writer: GroupCommit[Queued] = GroupCommit(self._write, name="event-log-writer")

    @property
    def db(self) -> aiosqlite.Connection:
        assert self._db is not None, "the event log is not open"
        return self._db

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=FULL")
        await self._db.executescript(SCHEMA)
        await self._retain()
        await self._db.commit()
        self._writer.start()

    def record(self, kind: str, message: str, **fields: Any) -> None:
        """Queue an entry; it is committed with the next batch (no waiting). Once the log is
        closed (rockd stopping) the entry is only written to the daemon's log."""
        if not self._writer.running:
            log.warning("not in the event log (closed): %s: %s", kind, message)
            return
        self._queue(kind, message, fields, None)

    async def append(self, kind: str, message: str, **fields: Any) -> Event:
        """Add an entry and answer it once it is committed."""
        done: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._queue(kind, message, fields, done)
        return await asyncio.shield(done)

    def _queue(self, kind: str, message: str, fields: dict[str, Any],
               done: asyncio.Future[Event] | None) -> None:
        if not self._writer.running:
            raise RuntimeError("the event log is not open")
        result = fields.get("result") or {}
        row = (now(), kind, message, *(fields.get(k) for k in FIELDS),
               result.get("status"), result.get("error"))
        self._writer.add((row, done))

    async def _write(self, batch: list[Queued]) -> None:
        try:
            events = await self._commit([row for row, _ in batch])
        except Exception as exc:
            log.exception("the event log could not commit %d entries", len(batch))
            for _, done in batch:
                if done is not None and not done.done():
                    done.set_exception(exc)
            return
        for event, (_, done) in zip(events, batch, strict=True):
            if done is not None and not done.done():
                done.set_result(event)
        if self.published is not None:
            try:
                self.published(events[-1])
            except Exception:
                log.exception("publishing the newest event failed")

    async def _commit(self, rows: list[tuple[Any, ...]]) -> list[Event]:
        db = self.db
        events = []
        try:
            for row in rows:
                cursor = await db.execute(INSERT, row)
                events.append(entry((cursor.lastrowid, *row)))
            await self._retain()
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        return events

    async def _retain(self) -> None:
        """Drop what the retention no longer keeps (inside the caller's transaction)."""
        db = self.db
        cutoff = iso(utcnow() - timedelta(days=self.keep_days))
        await db.execute("DELETE FROM events WHERE time < ?", (cutoff,))
        await db.execute("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?",
                         (self.keep,))

    async def query(self, where: Filter, limit: int = 100) -> tuple[list[Event], int]:
        """A page of entries, oldest first, and the `since` of the next page. With `before`,
        the newest `limit` entries below it."""
        clause, args = where.where()
        newest = where.before is not None
        # the clause is made of fixed column names and placeholders only
        sql = SELECT + clause + (" ORDER BY id DESC LIMIT ?" if newest else " ORDER BY id LIMIT ?")
        async with self.db.execute(sql, (*args, max(1, min(limit, MAX_PAGE)))) as cursor:
            rows = list(await cursor.fetchall())
        if newest:
            rows.reverse()
        items = [entry(tuple(row)) for row in rows]
        return items, items[-1]["id"] if items else where.since

    async def export(self, where: Filter) -> AsyncIterator[Event]:
        """Every entry `where` selects, oldest first, a page at a time."""
        since = where.since
        while True:
            page, since = await self.query(Filter(**{**where.__dict__, "since": since}),
                                           MAX_PAGE)
            for event in page:
                yield event
            if len(page) < MAX_PAGE:
                return

    async def latest(self) -> Event | None:
        items, _ = await self.query(Filter(before=1 << 62), 1)
        return items[0] if items else None

    async def close(self) -> None:
        """Commit what is queued, then close the database."""
        await self._writer.stop()
        if self._db is not None:
            await self._db.close()
            self._db = None
