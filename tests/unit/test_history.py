"""The metrics history on a real SQLite file: follows the tree, batches, trims, reloads."""

import asyncio
import sqlite3
import time

import orjson

from rockd.core.history import SCHEMA, History
from rockd.core.store import open_state

FIELDS = ("time", "v")


async def open_history(path, **options):
    store, tree, _ = await open_state(path, SCHEMA)
    history = History(store, tree, "/system/metrics", FIELDS, keep=60, flush_every=3600,
                      **options)
    await history.load()
    history.start()
    return store, tree, history


def rows(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT time, sample FROM metrics ORDER BY time").fetchall()


async def test_history_follows_the_value_and_survives_reopen(tmp_path):
    db = tmp_path / "h.sqlite3"
    store, tree, history = await open_history(db)
    now = round(time.time(), 3)
    tree.set("/system", {"hostname": "box"})  # no sample there yet
    for age in (90, 30, 20):
        tree.set("/system/metrics", {"time": now - age, "v": age})
    tree.set("/system/uptime", 5)  # beside the path: nothing
    tree.set("/elsewhere", 1)
    tree.set("/system", {"hostname": "box", "metrics": {"time": now - 10, "v": 10}})  # above
    tree.set("/system/metrics/v", 11)  # the same sample again (same time): nothing
    # the row of 90 s ago was already older than `keep` behind the newest
    assert history.columns(60) == {"time": [now - 30, now - 20, now - 10], "v": [30, 20, 10]}
    assert history.columns(15) == {"time": [now - 10], "v": [10]}
    assert rows(db) == []  # nothing is written before the batch is due
    await history.stop()
    assert [t for t, _ in rows(db)] == [now - 30, now - 20, now - 10]
    await store.close()

    store, tree, history = await open_history(db)
    assert history.columns(60) == {"time": [now - 30, now - 20, now - 10], "v": [30, 20, 10]}
    tree.set("/system/metrics", {"time": now, "v": 0})
    assert history.columns(60)["v"] == [30, 20, 10, 0]
    await history.stop()
    await store.close()


async def test_each_batch_deletes_rows_older_than_keep(tmp_path):
    db = tmp_path / "h.sqlite3"
    store, tree, history = await open_history(db)
    now = time.time()
    tree.set("/system/metrics", {"time": now - 59.5, "v": 1})
    await history.flush()
    assert len(rows(db)) == 1
    await asyncio.sleep(0.6)  # that row is now older than an hour (of 60 s, here)
    tree.set("/system/metrics", {"time": time.time(), "v": 2})
    await history.flush()
    assert [orjson.loads(sample)["v"] for _, sample in rows(db)] == [2]
    assert history.columns(60)["v"] == [2]
    await history.stop()
    await store.close()


async def test_an_empty_history_still_has_every_column(tmp_path):
    store, _, history = await open_history(tmp_path / "h.sqlite3")
    assert history.columns(3600) == {"time": [], "v": []}
    await history.stop()
    await store.close()
