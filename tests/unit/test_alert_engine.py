"""The alerts engine on a real tree and SQLite store: raised, escalated and cleared as the tree
changes (told to a real webhook receiver), and a replication that goes stale with no change
to the tree at all (the engine's one timer)."""

from __future__ import annotations

from datetime import timedelta

from rockd.alerts.engine import Alerts
from rockd.core.store import Store
from rockd.core.times import iso, utcnow
from rockd.core.tree import Tree
from tests.support.alerting import Receiver
from tests.support.rig import wait_for


async def engine(tmp_path) -> tuple[Tree, Alerts, Store]:
    tree, store = Tree(), Store(tmp_path / "state.sqlite3")
    await store.open()
    alerts = Alerts(tree.own("/alerts", "alerts"), store, window=0.0)
    await alerts.load()
    alerts.start()
    return tree, alerts, store


def pool(stored: int) -> dict:
    return {"p": {"name": "tank", "missing_devices": 0, "devices": [],
                  "usage": {"stored": stored, "capacity": 100}}}


def active(tree: Tree) -> list[dict]:
    return [a for a in (tree.get("/alerts") or {}).values() if not a["cleared"]]


async def test_raised_escalated_and_cleared_as_the_tree_changes(tmp_path):
    tree, alerts, store = await engine(tmp_path)
    async with Receiver() as hook:
        await alerts.configure({"webhooks": [{"url": hook.url}]})
        tree.set("/pools", pool(85))
        await wait_for(lambda: active(tree))
        (first,) = active(tree)
        tree.set("/pools", pool(97))
        await wait_for(lambda: active(tree)[0]["severity"] == "critical")
        assert active(tree)[0]["id"] == first["id"]  # the same alert, worse
        tree.set("/pools", pool(10))
        await wait_for(lambda: not active(tree))
        await wait_for(lambda: len(hook.posts) == 3)
        assert [p[3]["event"] for p in hook.posts] == ["raised", "escalated", "cleared"]
        kept = await store.intents("alert")
        assert kept[first["id"]]["cleared"] is not None
    await alerts.stop()
    await store.close()


async def test_a_replication_goes_stale_on_its_timer(tmp_path):
    tree, alerts, store = await engine(tmp_path)
    created = utcnow() - timedelta(hours=24) + timedelta(seconds=1)
    tree.set("/replication", {"tasks": {"t": {
        "enabled": True, "share_name": "photos", "created": iso(created),
        "targets": {"peer/pool": {"last": None}}}}})
    await wait_for(lambda: alerts.timer is not None)
    assert not active(tree)
    await wait_for(lambda: active(tree), timeout=5)  # no change to the tree: the timer
    assert active(tree)[0]["kind"] == "replication_stale"
    await alerts.stop()
    await store.close()


def errors(count: int) -> dict:
    return {"p": {"name": "tank", "missing_devices": 0, "usage": None, "devices": [
        {"devid": 1, "path": "/dev/sda", "missing": False,
         "errors": {"read_io_errs": count}}]}}


async def test_rising_error_counters_are_told_again_and_want_a_new_look(tmp_path):
    tree, alerts, store = await engine(tmp_path)
    async with Receiver() as hook:
        await alerts.configure({"webhooks": [{"url": hook.url}]})
        tree.set("/pools", errors(2))
        await wait_for(lambda: active(tree))
        (alert,) = active(tree)
        await alerts.acknowledge(alert["id"])
        tree.set("/pools", errors(9))
        await wait_for(lambda: "read_io_errs 9" in active(tree)[0]["message"])
        assert active(tree)[0]["acknowledged"] is False
        await wait_for(lambda: len(hook.posts) == 2)
        assert [p[3]["event"] for p in hook.posts] == ["raised", "rising"]
    await alerts.stop()
    await store.close()
