"""The journal on a real SQLite file: group commit, snapshots, pruning, reload, epoch."""

import sqlite3

from rockd.core.store import open_state


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
