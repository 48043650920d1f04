"""The bus: fan-out by path, trimming, order, overflow resync, replay (across a restart, with
volatile paths), durability gating."""

import copy

import orjson

from rockd.core import pointer
from rockd.core.bus import Bus
from rockd.core.store import open_state
from rockd.core.tree import Tree, apply


class Client:
    """A subscriber that mirrors the tree from the frames the bus gives it."""

    def __init__(self, bus: Bus, path: str = "", **kwargs):
        self.bus = bus
        self.woken = 0
        self.sub = bus.subscribe(path, self.wake, **kwargs)
        self.doc = None
        self.rev = None
        self.frames = []

    def wake(self):
        self.woken += 1

    def drain(self):
        while self.sub.ready:
            frame, _ = self.bus.take(self.sub)
            if frame is None:
                break
            message = orjson.loads(frame)
            self.frames.append(message)
            if message["type"] == "snapshot":
                self.doc = {"root": message["value"]}
            else:
                assert message["rev"] > self.rev
                for op in message["ops"]:
                    tokens = ("root", *pointer.parse(op["path"])[len(self.sub.tokens):])
                    apply(self.doc, op["op"], tokens, op.get("value"))
            self.rev = message["rev"]
        return self


def test_subscriber_ends_exact_at_its_path():
    tree = Tree({"pools": {}, "disks": {}})
    bus = Bus(tree)
    pools, everything = Client(bus, "/pools").drain(), Client(bus).drain()
    assert pools.doc == {"root": {}} and pools.rev == 0
    tree.set("/pools/p1", {"label": "a", "usage": {"used": 1}})
    tree.set("/disks/d1", {"size": 10})
    tree.set("/pools/p1/usage/used", 2)
    pools.drain()
    everything.drain()
    assert pools.doc["root"] == tree.get("/pools") and pools.rev == 3
    assert everything.doc["root"] == tree.root
    # the disk change was not sent to /pools: its one frame batched revisions 1 and 3
    assert [f["type"] for f in pools.frames] == ["snapshot", "patch"]
    assert all(op["path"].startswith("/pools") for op in pools.frames[1]["ops"])


def test_op_above_the_path_is_trimmed_to_it():
    tree = Tree({"pools": {"p1": {"usage": {"used": 1}, "label": "x"}}})
    bus = Bus(tree)
    usage = Client(bus, "/pools/p1/usage").drain()
    tree.set("/pools", {"p1": {"usage": {"used": 5}, "label": "y"}, "p2": {}})
    usage.drain()
    assert usage.frames[-1]["ops"] == [
        {"op": "replace", "path": "/pools/p1/usage/used", "value": 5}]
    tree.set("/pools", {"p2": {}})  # p1 removed: an op above /pools/p1/usage
    usage.drain()
    assert usage.frames[-1]["ops"] == [{"op": "remove", "path": "/pools/p1/usage"}]
    tree.set("/pools/p1", {"usage": {"used": 7}})  # added again, from above
    usage.drain()
    assert usage.frames[-1]["ops"] == [
        {"op": "add", "path": "/pools/p1/usage", "value": {"used": 7}}]
    tree.set("/pools/p3", {"usage": 1})  # unrelated sibling: nothing
    assert not usage.sub.ready


def test_overflow_gives_one_snapshot_instead_of_backlog():
    tree = Tree({"n": 0})
    bus = Bus(tree, queue_limit=10)
    slow, fast = Client(bus), Client(bus)
    slow.drain()
    fast.drain()
    for i in range(1, 26):
        tree.set("/n", i)
        fast.drain()
    slow.drain()
    assert [f["type"] for f in slow.frames] == ["snapshot", "snapshot"]
    assert slow.doc["root"] == {"n": 25} and slow.rev == 25
    assert len(fast.frames) == 26 and fast.doc["root"] == {"n": 25}


def test_revision_ops_are_serialised_once_for_all_subscribers():
    tree = Tree()
    bus = Bus(tree)
    clients = [Client(bus).drain() for _ in range(3)]
    tree.set("/x", {"big": list(range(100))})
    queued = [c.sub.queue[0] for c in clients]
    assert queued[0] is queued[1] is queued[2]  # the very same bytes object


def test_since_replays_exactly_the_missed_revisions():
    tree = Tree()
    bus = Bus(tree, epoch="e1")
    for i in range(20):
        tree.set(f"/k{i % 3}", i)
    old = copy.deepcopy(tree.root)
    rev = tree.rev
    for i in range(20, 30):
        tree.set(f"/k{i % 3}", i)
    late = Client(bus, since=rev, epoch="e1")
    late.doc, late.rev = {"root": old}, rev
    late.drain()
    assert [f["type"] for f in late.frames] == ["patch"]
    assert late.doc["root"] == tree.root and late.rev == tree.rev
    # another epoch, a revision from the future, or one older than the window: a snapshot
    for kwargs in ({"since": rev, "epoch": "other"}, {"since": 10**6}):
        assert Client(bus, **kwargs).drain().frames[0]["type"] == "snapshot"
    small = Bus(tree, window=5)
    tree.set("/after", 1)
    tree.set("/after", 2)
    assert Client(small, since=1).drain().frames[0]["type"] == "snapshot"


def test_gated_bus_delivers_only_durable_revisions():
    tree = Tree()
    bus = Bus(tree, gated=True)
    client = Client(bus).drain()
    tree.set("/a", 1)
    tree.set("/a", 2)
    assert not client.sub.ready
    bus.set_durable(1)
    client.drain()
    assert client.rev == 1 and client.doc["root"] == {"a": 1}
    bus.set_durable(2)
    client.drain()
    assert client.rev == 2


def test_unsubscribed_gets_nothing():
    tree = Tree()
    bus = Bus(tree)
    client = Client(bus).drain()
    bus.unsubscribe(client.sub)
    tree.set("/a", 1)
    assert not client.sub.ready and bus.subscriber_count == 0


async def test_a_resume_from_before_a_restart_ends_with_the_volatile_values_now(tmp_path):
    db = tmp_path / "j.sqlite3"
    store, tree, bus = await open_state(db)
    try:
        await resumes_across_a_restart(db, store, tree, bus)
    finally:
        await store.close()


def had(path: str) -> dict:
    """What a client of `path` had at the second revision of the test below."""
    doc = {"root": {"n": 1, "system": {"metrics": {"cpu": 1, "memory": 5}}}}
    for token in pointer.parse(path):
        doc = {"root": doc["root"][token]}
    return doc


async def resumes_across_a_restart(db, store, tree, bus) -> None:
    sampled = tree.own(["/system/metrics", "/system/uptime"], "metrics", volatile=True)
    tree.set("/n", 1)
    sampled.set("/system/metrics", {"cpu": 1, "memory": 5})
    sampled.set("/system/uptime", 10)
    await store.flush()
    before = {path: Client(bus, path).drain() for path in ("", "/system/metrics/cpu", "/n")}
    journalled = 2  # (the first sample made /system: journalled whole)
    tree.set("/n", 2)
    sampled.set("/system/metrics", {"cpu": 2, "memory": 5})  # the last revision seen: volatile
    await store.flush()
    seen = {path: (client.drain().rev, copy.deepcopy(client.doc))
            for path, client in before.items()}
    assert seen[""][0] == tree.rev == 5
    # live, the window has every revision whole: replay is exact
    live = Client(bus, since=journalled, epoch=store.epoch)
    live.doc, live.rev = had(""), journalled
    assert live.drain().frames[0]["type"] == "patch" and live.doc["root"] == tree.root

    # killed and started again: the metrics are sampled anew, the rest goes on
    store2, tree2, bus2 = await open_state(db)
    try:
        sampled2 = tree2.own(["/system/metrics", "/system/uptime"], "metrics", volatile=True)
        assert tree2.rev >= 5  # the journal kept only the first sample (it made /system)
        assert tree2.get("/system") == {"metrics": {"cpu": 1, "memory": 5}}
        sampled2.set("/system/metrics", {"cpu": 1, "memory": 6})  # cpu: as the stale one
        sampled2.set("/system/uptime", 11)
        tree2.set("/n", 3)
        await store2.flush()
        for path, (rev, doc) in seen.items():
            for since, mirror in ((rev, doc), (journalled, had(path))):
                resumed = Client(bus2, path, since=since, epoch=store.epoch)
                resumed.doc, resumed.rev = copy.deepcopy(mirror), since
                resumed.drain()
                assert [f["type"] for f in resumed.frames] == ["patch"], (path, since)
                assert resumed.doc["root"] == tree2.get(path) and resumed.rev == tree2.rev
        # a volatile value that is gone now cannot be said as a patch: a snapshot
        sampled2.delete("/system/uptime")
        await store2.flush()
        gone = Client(bus2, since=seen[""][0], epoch=store.epoch).drain()
        assert [f["type"] for f in gone.frames] == ["snapshot"]
        assert gone.doc["root"] == tree2.root
    finally:
        await store2.close()
