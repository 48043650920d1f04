"""A real daemon process killed, terminated and restarted: nothing committed is lost, and the
metrics it samples each second reach the stream without being journalled."""

import asyncio
import itertools
import socket
import sqlite3
import time

import orjson
import pytest

from rockd.core import pointer
from rockd.core.store import open_state
from rockd.core.tree import apply
from tests.integration.test_system_metrics import following
from tests.support.changes import without_samples
from tests.support.client import receive


class Mirror:
    """A stream client's copy of the whole tree."""

    def __init__(self):
        self.doc, self.rev, self.epoch, self.frames = {}, 0, None, []

    def take(self, message: dict) -> None:
        self.frames.append(message["type"])
        if message["type"] == "snapshot":
            self.doc, self.epoch = message["value"], message["epoch"]
        elif message["type"] == "patch":
            assert message["rev"] > self.rev
            for op in message["ops"]:
                apply(self.doc, op["op"], pointer.parse(op["path"]), op.get("value"))
        else:
            return
        self.rev = message["rev"]


async def follow(ws, mirror: Mirror, until: float) -> None:
    """Apply what arrives until the deadline or until the connection ends."""
    while time.monotonic() < until:
        try:
            msg = await ws.receive(timeout=until - time.monotonic())
        except TimeoutError:
            return
        if msg.type != 1:  # TEXT
            return
        mirror.take(orjson.loads(msg.data))


async def test_kill9_keeps_tree_revision_and_epoch_and_since_catches_up(rockd):
    loaded = await rockd(process="loaded")
    client = loaded.api
    ws = await client.stream()
    await ws.send_str('{"id": 1, "type": "subscribe", "path": ""}')
    mirror = Mirror()
    assert (await receive(ws))["type"] == "subscribed"
    loaded.proc.command("rate 3000")
    await follow(ws, mirror, time.monotonic() + 1.5)
    loaded.kill()  # SIGKILL in the middle of the load
    await follow(ws, mirror, time.monotonic() + 5)
    assert mirror.frames.count("patch") > 10 and mirror.rev > 1000
    seen_rev, epoch = mirror.rev, mirror.epoch

    restarted = await rockd(process=True, state_dir=loaded.settings.state_dir)
    client = restarted.api
    now = await client.state()
    assert now["rev"] >= seen_rev  # everything a client saw was committed
    # reconnect with since: exactly the missed revisions arrive, as patches
    ws = await client.stream()
    await ws.send_str(orjson.dumps({"id": 1, "type": "subscribe", "path": "",
                                    "since": seen_rev, "epoch": epoch}).decode())
    subscribed = await receive(ws)
    assert subscribed["type"] == "subscribed"
    mirror.frames.clear()
    while mirror.rev < now["rev"]:
        mirror.take(await receive(ws))
    assert "snapshot" not in mirror.frames
    # the metrics sampled each second may have moved on since `now`, and nothing else
    assert without_samples(mirror.doc) == without_samples(now["value"])
    # a fresh subscriber sees the same epoch: no history was lost
    await ws.send_str('{"id": 2, "type": "subscribe", "path": "/bench"}')
    answers = []
    while len(answers) < 2:
        message = await receive(ws)
        if message.get("sub") != subscribed["sub"]:  # the first one's patches go on coming
            answers.append(message)
    assert answers[0]["type"] == "subscribed"
    snapshot = answers[1]
    assert snapshot["epoch"] == epoch and snapshot["value"] == now["value"]["bench"]


async def test_sigterm_under_load_flushes_everything_and_exits_0_within_5s(rockd):
    loaded = await rockd(process="loaded", login=False)
    state = loaded.settings.state_dir
    loaded.proc.command("rate 5000")
    await asyncio.sleep(1.0)
    started = time.monotonic()
    loaded.proc.signal(15)
    final = loaded.proc.readline()
    assert loaded.proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 5
    rev, changes = int(final.split()[1]), int(final.split()[2])
    assert rev > 2000
    store, tree, _ = await open_state(state / "rockd.sqlite3")  # as the next start reads it
    await store.close()
    assert tree.rev == rev
    restarted = await rockd(process=True, state_dir=state)
    body = await restarted.api.state("/bench")
    assert max(v["seq"] for v in body["value"].values()) == changes


@pytest.fixture
def notify(tmp_path):
    """A socket standing in for systemd's NOTIFY_SOCKET: (its path, the socket)."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(20)
    try:
        yield str(path), sock
    finally:
        sock.close()


async def test_serve_tells_systemd_ready_and_stops_on_sigterm(rockd, notify):
    path, sock = notify
    proc = (await rockd(process=True, login=False, env={"NOTIFY_SOCKET": path})).proc
    assert sock.recv(64) == b"READY=1"
    started = time.monotonic()
    proc.signal(15)
    assert proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 5
    assert sock.recv(64) == b"STOPPING=1"
    assert "rockd stopped at revision" in proc.output()


def _pings(sock: socket.socket, seconds: float) -> list[float]:
    """When each WATCHDOG=1 arrived on `sock` during the next `seconds`."""
    arrived, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            message = sock.recv(64)
        except TimeoutError:
            break
        if message == b"WATCHDOG=1":
            arrived.append(time.monotonic())
    return arrived


async def test_serve_feeds_systemds_watchdog_only_when_asked(rockd, notify):
    path, sock = notify
    # WatchdogSec=1: a ping every half second
    await rockd(process=True, login=False,
                env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    assert sock.recv(64) == b"READY=1"
    pings = _pings(sock, 2.2)
    assert len(pings) >= 3, pings
    assert max(b - a for a, b in itertools.pairwise(pings)) < 1.0, pings


async def test_no_watchdog_pings_for_another_pid(rockd, notify):
    path, sock = notify
    await rockd(process=True, login=False,
                env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000",
                     "WATCHDOG_PID": "1"})  # systemd asks it of another process
    assert sock.recv(64) == b"READY=1"
    assert _pings(sock, 1.5) == []


def journal_rows(database) -> list[tuple[int, bytes]]:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT rev, ops FROM journal ORDER BY rev").fetchall()


async def test_an_idle_daemon_journals_nothing_while_its_metrics_stream(rockd):
    box = await rockd()
    await asyncio.sleep(1.0)  # start-up's own revisions committed
    before = journal_rows(box.daemon.settings.database)
    async with following(box.api) as seen:
        await asyncio.sleep(3.5)
        samples = len(seen)
    assert samples >= 3  # a sample a second reached the stream, each its own revision
    assert journal_rows(box.daemon.settings.database) == before


async def test_kill9_of_an_idle_daemon_goes_on_past_every_revision_it_streamed(rockd):
    box = await rockd(process=True)
    ws = await box.api.stream()
    await ws.send_str('{"id": 1, "type": "subscribe", "path": ""}')
    assert (await receive(ws))["type"] == "subscribed"
    mirror = Mirror()
    await follow(ws, mirror, time.monotonic() + 2.5)
    seen_rev, epoch = mirror.rev, mirror.epoch
    (journalled,) = journal_rows(box.settings.database)[-1:]
    assert seen_rev > journalled[0]  # the samples it streamed last were never journalled
    box.kill()
    killed = time.time()

    await box.start()  # the same state and session
    now = await box.api.state()
    assert now["rev"] > seen_rev  # no revision number is used twice
    ws = await box.api.stream()
    await ws.send_str(orjson.dumps({"id": 1, "type": "subscribe", "path": "",
                                    "since": seen_rev, "epoch": epoch}).decode())
    assert (await receive(ws))["type"] == "subscribed"
    mirror.frames.clear()
    while mirror.rev < now["rev"]:
        mirror.take(await receive(ws))
    assert "snapshot" not in mirror.frames
    assert without_samples(mirror.doc) == without_samples(now["value"])
    # the samples are the new process's, not those seen before the kill
    assert mirror.doc["system"]["metrics"]["time"] > killed
    await ws.close()
