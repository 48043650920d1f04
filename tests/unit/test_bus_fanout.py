"""The bus's live subscribers: one encoding per flush for a path, and no revision lost,
repeated or reordered when a connection stops being idle, resyncs, or catches up again."""

import asyncio
import random

import orjson

from rockd.core import pointer
from rockd.core.bus import Bus
from rockd.core.tree import Tree, apply


class Wire:
    """A connection as the bus sees it: an outlet that can be made busy, and its writer,
    which sends what the bus queued for the subscription when asked to."""

    def __init__(self, bus: Bus, path: str = ""):
        self.bus = bus
        self.busy = False
        self.frames: list[dict] = []
        self.raw: list[bytes] = []
        self.sub = bus.subscribe(path, lambda: None, outlet=self)
        self.doc = None
        self.rev = None

    def idle(self) -> bool:
        return not self.busy

    def write(self, head: bytes, body: bytes) -> None:
        assert not self.busy
        self.raw.append(body)
        self._receive(head + body)

    def drain(self) -> "Wire":
        while self.sub.ready:
            frame, _ = self.bus.take(self.sub)
            if frame is None:
                break
            self._receive(frame)
        return self

    def _receive(self, frame: bytes) -> None:
        message = orjson.loads(frame)
        assert message["sub"] == self.sub.id
        self.frames.append(message)
        if message["type"] == "snapshot":
            self.doc = {"root": message["value"]}
        else:
            assert message["rev"] > self.rev, (message, self.rev)
            for op in message["ops"]:
                tokens = ("root", *pointer.parse(op["path"])[len(self.sub.tokens):])
                apply(self.doc, op["op"], tokens, op.get("value"))
        self.rev = message["rev"]


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0.03)  # longer than the pacer's longest interval


async def test_caught_up_subscribers_get_one_frame_per_flush_encoded_once():
    tree = Tree({"pools": {}})
    bus = Bus(tree)
    wires = [Wire(bus, "/pools").drain() for _ in range(5)]
    tree.set("/pools/p0", 0)  # the first change takes them in (their queues were empty)
    await settle()
    assert all(w.sub in bus._groups[w.sub.tokens].live for w in wires)
    for i in range(1, 20):
        tree.set(f"/pools/p{i % 3}", i)  # all in one turn of the loop: one flush
    await settle()
    for wire in wires:
        assert wire.doc["root"] == tree.get("/pools") and wire.rev == tree.rev
        assert len(wire.frames) <= 3  # snapshot, the first change, then the batch
    bodies = [w.raw[-1] for w in wires]
    assert all(body is bodies[0] for body in bodies)  # encoded once, behind each one's head


async def test_a_busy_connection_is_detached_then_taken_back_without_a_gap():
    tree = Tree({"n": 0})
    bus = Bus(tree)
    slow, fast = Wire(bus).drain(), Wire(bus).drain()
    tree.set("/n", 1)
    await settle()
    slow.busy = True
    for i in range(2, 30):
        tree.set("/n", i)
        if i % 5 == 0:
            await settle()
    await settle()
    assert fast.doc["root"] == {"n": 29} and slow.doc["root"] == {"n": 1}
    assert slow.sub.ready  # queued for its writer meanwhile
    slow.busy = False
    slow.drain()
    assert slow.doc["root"] == {"n": 29} and slow.rev == tree.rev
    tree.set("/n", 30)
    await settle()
    assert slow.doc["root"] == fast.doc["root"] == {"n": 30}
    assert [f["type"] for f in slow.frames].count("snapshot") == 1


async def test_a_detached_subscriber_that_overflows_gets_a_snapshot():
    tree = Tree({"n": 0})
    bus = Bus(tree, queue_limit=5)
    wire = Wire(bus).drain()
    tree.set("/n", 1)
    await settle()
    wire.busy = True
    for i in range(2, 40):
        tree.set("/n", i)
        await asyncio.sleep(0)
    await settle()
    wire.busy = False
    wire.drain()
    assert [f["type"] for f in wire.frames].count("snapshot") == 2
    assert wire.doc["root"] == {"n": 39}


async def test_random_interleavings_keep_every_mirror_exact():
    rng = random.Random(18)
    tree = Tree({"a": {}, "b": {}})
    bus = Bus(tree, queue_limit=40)
    wires = [Wire(bus, path) for path in ["", "", "/a", "/a", "/a/k1", "/b"]]
    for step in range(600):
        roll = rng.random()
        if roll < 0.55:
            key = f"k{rng.randrange(4)}"
            where = rng.choice(["a", "b"])
            if rng.random() < 0.1:
                tree.delete(f"/{where}/{key}") if tree.get(f"/{where}").get(key) is not None \
                    else tree.set(f"/{where}/{key}", {"v": step})
            elif rng.random() < 0.05:
                tree.set(f"/{where}", {key: {"v": step}})  # an op above some paths
            else:
                tree.set(f"/{where}/{key}", {"v": step})
        elif roll < 0.7:
            rng.choice(wires).busy = rng.random() < 0.5
        elif roll < 0.85:
            wire = rng.choice(wires)
            if not wire.busy:
                wire.drain()
        else:
            await asyncio.sleep(rng.choice([0, 0, 0.001, 0.03]))
    for wire in wires:
        wire.busy = False
        wire.drain()
    tree.set("/a/last", 1)
    tree.set("/b/last", 1)
    await settle()
    for wire in wires:
        wire.drain()
        assert wire.doc["root"] == tree.get(wire.sub.path), wire.sub.path
        assert wire.rev is not None
