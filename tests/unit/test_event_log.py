"""The event log's table on a real SQLite file: retention by age, entries that cannot be
changed, and a reopened log that goes on from where it was."""

from __future__ import annotations

import asyncio

import aiosqlite
import pytest

from rockd.events.log import EventLog, Filter


async def test_entries_older_than_the_retention_are_dropped(tmp_path):
    log = EventLog(tmp_path / "events.sqlite3", keep_days=0)
    await log.open()
    try:
        first = await log.append("audit", "an old one")
        await asyncio.sleep(1.1)  # times are whole seconds: the first is now in the past
        await log.append("disk_gone", "a new one")
        items, _ = await log.query(Filter())
        assert [e["message"] for e in items] == ["a new one"]
        assert items[0]["id"] > first["id"]
    finally:
        await log.close()


async def test_an_entry_is_never_changed_and_ids_go_on_after_a_reopen(tmp_path):
    path = tmp_path / "events.sqlite3"
    log = EventLog(path)
    await log.open()
    kept = await log.append("audit", "kept", principal="admin", result={"status": 204})
    await log.close()
    async with aiosqlite.connect(path) as db:
        with pytest.raises(aiosqlite.IntegrityError, match="append-only"):
            await db.execute("UPDATE events SET principal = 'someone else'")
    log = EventLog(path)
    await log.open()
    try:
        assert await log.latest() == kept
        assert (await log.append("audit", "next"))["id"] == kept["id"] + 1
    finally:
        await log.close()
