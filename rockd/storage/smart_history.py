"""Each disk's SMART history in SQLite: its key attributes at each reading, and the newest
self-test log read from the drive.

`smart_readings` holds one row per disk per reading (health, temperature, power-on hours,
reallocated, pending and offline-uncorrectable sectors; NVMe media errors and percentage
used), at most `keep` rows per disk and none older than `keep_days`; `smart_self_tests` holds
each disk's newest self-test log. Rows are written as they are taken (a reading is at most
hourly, or after a self-test), several disks in one commit.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from rockd.core.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS smart_readings (
    disk TEXT NOT NULL, time REAL NOT NULL, reading BLOB NOT NULL, PRIMARY KEY (disk, time));
CREATE TABLE IF NOT EXISTS smart_self_tests (
    disk TEXT PRIMARY KEY, time REAL NOT NULL, log BLOB NOT NULL);
"""
FIELDS = ("health", "temperature", "power_on_hours", "reallocated_sectors", "pending_sectors",
          "offline_uncorrectable", "media_errors", "percentage_used")
"""What a reading keeps of a disk's SMART summary."""
KEEP = 5000
"""Readings kept per disk: hourly, some seven months."""
KEEP_DAYS = 400


def reading(summary: dict[str, Any], when: float) -> dict[str, Any]:
    """The row kept of one SMART summary taken at `when` (unix seconds)."""
    return {"time": when, **{name: summary.get(name) for name in FIELDS}}


class SmartHistory:
    """The two tables: `record` readings, read them back with `readings` and `self_tests`."""

    def __init__(self, store: Store, keep: int = KEEP, keep_days: float = KEEP_DAYS):
        self.store, self.keep, self.keep_days = store, keep, keep_days

    async def open(self) -> None:
        async with self.store.lock:
            await self.store.db.executescript(SCHEMA)
            await self.store.db.commit()

    async def record(self, readings: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]],
                     when: float | None = None) -> None:
        """For each disk id, its SMART summary and self-test log (newest first; an empty one
        leaves the kept log as it is), in one commit; older rows past the limits go."""
        if not readings:
            return
        when = time.time() if when is None else when
        db = self.store.db
        async with self.store.lock:
            await db.executemany(
                "INSERT OR REPLACE INTO smart_readings VALUES (?, ?, ?)",
                [(disk, when, orjson.dumps(reading(summary, when)))
                 for disk, (summary, _log) in readings.items()])
            await db.executemany(
                "INSERT OR REPLACE INTO smart_self_tests VALUES (?, ?, ?)",
                [(disk, when, orjson.dumps(log)) for disk, (_summary, log) in readings.items()
                 if log])
            await db.execute("DELETE FROM smart_readings WHERE time < ?",
                             (when - self.keep_days * 86400,))
            for disk in readings:
                await db.execute(
                    "DELETE FROM smart_readings WHERE disk = ? AND time <= (SELECT time FROM "
                    "smart_readings WHERE disk = ? ORDER BY time DESC LIMIT 1 OFFSET ?)",
                    (disk, disk, self.keep))
            await db.commit()

    async def readings(self, disk: str, since: float = 0.0) -> list[dict[str, Any]]:
        """The disk's readings since `since` (unix seconds), oldest first."""
        async with self.store.db.execute(
                "SELECT reading FROM smart_readings WHERE disk = ? AND time >= ? ORDER BY time",
                (disk, since)) as cur:
            return [orjson.loads(blob) for (blob,) in await cur.fetchall()]

    async def self_tests(self, disk: str) -> tuple[list[dict[str, Any]], float | None]:
        """The disk's newest self-test log (newest entry first) and when it was read."""
        async with self.store.db.execute(
                "SELECT log, time FROM smart_self_tests WHERE disk = ?", (disk,)) as cur:
            row = await cur.fetchone()
        return (orjson.loads(row[0]), row[1]) if row else ([], None)
