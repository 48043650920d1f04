"""The journal on a real SQLite file: group commit, snapshots, pruning, reload, epoch, and the
volatile revisions it does not keep."""

import sqlite3

import orjson

from rockd.core.store import open_state
from tests.unit.test_bus import Client


async def test_revisions_survive_reopen_with_same_epoch(tmp_path):
    db = tmp_path / "j.sqlite3"
    store, tree, _ = await open_state(db)
    epoch = store.epoch
    for i in range(500):
        tree.set(f"/k/{i % 7}", {"i": i})
    await store.close()
    store2, tree2, bus2 = await open_state(db)
    assert tree2.rev == 500 and tree2.root == tree.root
    assert store2.epoch == epoch and len(epoch) == 32
    assert bus2.window[-1].rev == 500
    await store2.close()


async def test_group_commit_uses_fewer_transactions_than_revisions(tmp_path):
    store, tree, bus = await open_state(tmp_path / "j.sqlite3")
    commits = []
    original = store.db.commit

    async def counting_commit():
        commits.append(store.committed_rev)
        await original()

    store.db.commit = counting_commit
    for i in range(2000):
        tree.set("/n", i)
    await store.flush()
    assert store.committed_rev == 2000 and bus.durable_rev == 2000
    assert len(commits) < 20, len(commits)
    await store.close()


async def test_snapshot_then_short_tail_and_pruned_journal(tmp_path):
    db = tmp_path / "j.sqlite3"
    store, tree, _ = await open_state(db, snapshot_every=100, window=50)
    for i in range(1000):
        tree.set(f"/k{i % 5}", i)
        if i % 37 == 0:
            await store.flush()  # several batches, so that snapshots happen along the way
    await store.close()
    with sqlite3.connect(db) as conn:
        (snap_rev,) = conn.execute("SELECT MAX(rev) FROM snapshots").fetchone()
        (count,) = conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()
        (oldest,) = conn.execute("SELECT MIN(rev) FROM journal").fetchone()
    assert count == 1 and snap_rev >= 900
    assert oldest > snap_rev - 50 - 1
    store2, tree2, bus2 = await open_state(db, snapshot_every=100, window=50)
    assert tree2.rev == 1000 and tree2.root == tree.root
    assert bus2.window[0].rev <= 951
    await store2.close()


async def test_lost_history_changes_epoch(tmp_path):
    db = tmp_path / "j.sqlite3"
    store, tree, _ = await open_state(db)
    epoch = store.epoch
    for i in range(10):
        tree.set("/n", i)
    await store.close()
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM journal WHERE rev = 5")
    store2, tree2, _ = await open_state(db)
    assert store2.epoch != epoch and tree2.rev == 4
    tree2.set("/n", "after")  # the journal goes on from there
    await store2.flush()
    await store2.close()
    store3, tree3, _ = await open_state(db)
    assert tree3.rev == 5 and tree3.get("/n") == "after" and store3.epoch == store2.epoch
    await store3.close()


def journal(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT rev, ops, prev FROM journal ORDER BY rev").fetchall()


def counting_commits(store) -> list[int]:
    commits: list[int] = []
    original = store.db.commit

    async def commit():
        commits.append(store.committed_rev)
        await original()

    store.db.commit = commit
    return commits


async def test_volatile_revisions_are_released_in_order_and_written_rarely(tmp_path):
    db = tmp_path / "j.sqlite3"
    store, tree, bus = await open_state(db, reserve=3)
    sampled = tree.own("/metrics", "metrics", volatile=True)
    commits = counting_commits(store)
    client = Client(bus).drain()
    for i in range(7):
        sampled.set("/metrics", {"i": i})
        await store.flush()
        client.drain()  # each released at once, though nothing was journalled
        assert client.rev == tree.rev == i + 1 and client.doc["root"] == {"metrics": {"i": i}}
    assert journal(db) == [] and len(commits) == 2  # numbers reserved at 1 (to 4), at 5
    with tree.transaction():  # mixed: journalled without the volatile op
        sampled.set("/metrics", {"i": 7})
        tree.set("/n", 1)
    tree.set("/n", 2)
    sampled.set("/metrics", {"i": 8})
    await store.flush()
    client.drain()
    assert client.rev == 10 and client.doc["root"] == tree.root
    assert [(rev, orjson.loads(ops), prev) for rev, ops, prev in journal(db)] == [
        (8, [{"op": "add", "path": "/n", "value": 1}], 0),
        (9, [{"op": "replace", "path": "/n", "value": 2}], 8)]

    # killed here (never closed): the journal's state, and no revision number used again
    store2, tree2, _ = await open_state(db, reserve=3)
    assert store2.epoch == store.epoch and tree2.get("/n") == 2
    assert tree2.rev >= 10 and tree2.rev == store2.reserved
    await store2.close()
    await store.close()


async def test_a_clean_close_goes_on_from_the_last_revision(tmp_path):
    db = tmp_path / "j.sqlite3"
    store, tree, _ = await open_state(db)
    sampled = tree.own("/metrics", "metrics", volatile=True)
    for i in range(30):
        if i % 3:
            sampled.set("/metrics", i)
        else:
            tree.set("/n", i)
    await store.close()
    for _ in range(2):  # the journal's gaps are no lost history
        store2, tree2, _ = await open_state(db)
        assert tree2.rev == 30 and tree2.get("/n") == 27 and store2.epoch == store.epoch
        await store2.close()


async def test_a_lost_row_between_volatile_gaps_is_found(tmp_path):
    db = tmp_path / "j.sqlite3"
    store, tree, _ = await open_state(db)
    sampled = tree.own("/metrics", "metrics", volatile=True)
    for i in range(12):  # journalled: revisions 1, 4, 7 and 10
        if i % 3:
            sampled.set("/metrics", i)
        else:
            tree.set("/n", i)
    await store.close()
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM journal WHERE rev = 7")
    store2, tree2, _ = await open_state(db)
    assert store2.epoch != store.epoch and tree2.rev == 4 and tree2.get("/n") == 3
    await store2.close()


async def test_a_journal_without_prev_opens_and_goes_on(tmp_path):
    db = tmp_path / "j.sqlite3"
    with sqlite3.connect(db) as conn:  # as rockd made it before volatile paths
        conn.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE journal (rev INTEGER PRIMARY KEY, ops BLOB NOT NULL);
            INSERT INTO meta VALUES ('epoch', 'e1');
            INSERT INTO journal VALUES (1, '[{"op":"add","path":"/n","value":1}]');
            INSERT INTO journal VALUES (2, '[{"op":"replace","path":"/n","value":2}]');
        """)
    store, tree, bus = await open_state(db)
    assert (store.epoch, tree.rev, tree.get("/n"), bus.window[-1].rev) == ("e1", 2, 2, 2)
    tree.set("/n", 3)
    await store.close()
    store2, tree2, _ = await open_state(db)
    assert (store2.epoch, tree2.rev, tree2.get("/n")) == ("e1", 3, 3)
    assert journal(db)[-1][2] == 2
    await store2.close()
