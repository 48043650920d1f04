"""System metrics: a sample a second on the stream, an hour of history that survives a restart."""

import asyncio
import contextlib
import itertools
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from rockd.core import pointer
from rockd.core.tree import apply
from rockd.system_metrics import FIELDS, whole_disks
from tests.support.client import Api, receive
from tests.support.rig import wait_for

RATES = ("net_rx", "net_tx", "disk_read", "disk_write")


@contextlib.asynccontextmanager
async def following(api: Api):
    """The samples of /system/metrics as the stream delivers them, a list that grows."""
    ws = await api.stream()
    await ws.send_str('{"id": 1, "type": "subscribe", "path": "/system/metrics"}')
    assert (await receive(ws))["type"] == "subscribed"
    doc = {"system": {"metrics": (await receive(ws))["value"]}}
    seen: list[dict] = []

    async def read() -> None:
        while True:
            message = await receive(ws, timeout=30)
            assert message["type"] == "patch", message
            for op in message["ops"]:
                apply(doc, op["op"], pointer.parse(op["path"]), op.get("value"))
            seen.append(dict(doc["system"]["metrics"]))

    task = asyncio.create_task(read())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await ws.close()


def counted_disk(path: str) -> str | None:
    """The whole disk holding `path`, if it is one whose I/O the metrics count."""
    dev = os.stat(path).st_dev
    node = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not node.exists():
        return None
    node = node.resolve()
    if (node / "partition").exists():
        node = node.parent
    return node.name if whole_disks([node.name], os.listdir("/sys/block")) else None


async def history(api: Api, seconds: int | None = None) -> dict:
    query = "" if seconds is None else f"?seconds={seconds}"
    status, body = await api.call("GET", f"/api/v1/system/metrics/history{query}")
    assert status == 200, body
    return body


async def samples_in_history(api: Api, count: int) -> None:
    async def enough() -> bool:
        return len((await history(api))["time"]) >= count
    await wait_for(enough, timeout=10)


async def test_the_stream_carries_a_sample_about_once_a_second(rockd):
    api = (await rockd()).api
    async with following(api) as seen:
        await asyncio.sleep(3.6)
        samples = list(seen)
    assert 3 <= len(samples) <= 5, samples
    times = [s["time"] for s in samples]
    assert all(0.7 < b - a < 1.3 for a, b in itertools.pairwise(times)), times
    assert abs(times[-1] - time.time()) < 2
    total = psutil.virtual_memory().total
    for sample in samples:
        assert tuple(sample) == FIELDS
        assert 0 <= sample["cpu"] <= 1
        assert sample["memory_total"] == total and 0 < sample["memory_used"] < total
        assert all(isinstance(sample[k], int) and sample[k] >= 0 for k in RATES)
    system = (await api.state("/system"))["value"]
    assert system["hostname"] and system["versions"]["rockd"]
    assert abs(system["uptime"] - time.clock_gettime(time.CLOCK_BOOTTIME)) < 3


async def test_writing_to_a_disk_shows_in_disk_write(rockd):
    api = (await rockd()).api
    folder = "/var/tmp"
    if counted_disk(folder) is None:
        pytest.skip(f"{folder} is not on a whole disk that the metrics count")
    size = 20 << 20

    def write(path: Path) -> None:
        with path.open("wb") as f:
            f.write(os.urandom(size))
            f.flush()
            os.fsync(f.fileno())

    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        async with following(api) as seen:
            await wait_for(lambda: seen, timeout=10)
            started = time.time()
            await asyncio.to_thread(write, Path(scratch) / "data")
            ended = time.time()
            await wait_for(lambda: seen[-1]["time"] > ended + 1, timeout=10)
    during = [s for s in seen if s["time"] > started]
    # each rate covers the second before its sample: together they hold the whole write
    assert sum(s["disk_write"] for s in during) > 0.9 * size, during


async def test_history_is_columns_ascending_and_bounded(rockd):
    box = await rockd()
    daemon, api = box.daemon, box.api
    await samples_in_history(api, 4)
    body = await history(api)
    assert tuple(body) == FIELDS
    assert len({len(column) for column in body.values()}) == 1
    assert body["time"] == sorted(body["time"]) and len(set(body["time"])) == len(body["time"])
    assert time.time() - body["time"][-1] < 1.5
    # all of it still in memory: the first batch is written after five minutes
    with sqlite3.connect(daemon.settings.database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM metrics").fetchone() == (0,)
    recent = await history(api, 2)
    assert 1 <= len(recent["time"]) <= 3 and recent["time"][0] >= time.time() - 2.5
    for i, at in enumerate(recent["time"]):  # the same samples, or newer ones
        if at in body["time"]:
            assert recent["cpu"][i] == body["cpu"][body["time"].index(at)]
        else:
            assert at > body["time"][-1]


async def test_history_survives_a_restart(rockd):
    box = await rockd(process=True)
    await samples_in_history(box.api, 3)
    before = await history(box.api)
    box.proc.signal(15)
    assert box.proc.wait(timeout=5) == 0

    await box.start()  # the same state, and the same session
    after = await history(box.api)
    # everything the first process answered (and what it sampled until it stopped)
    assert after["time"][:len(before["time"])] == before["time"]
    assert after["cpu"][:len(before["cpu"])] == before["cpu"]
    assert len(after["time"]) > len(before["time"])
    assert after["time"] == sorted(after["time"])


@pytest.mark.parametrize("seconds", ["0", "abc", "3601", "-5", "1.5"])
async def test_bad_seconds_are_400(rockd, seconds):
    api = (await rockd()).api
    status, body = await api.call("GET", f"/api/v1/system/metrics/history?seconds={seconds}")
    assert status == 400 and body["error"]["code"] == "invalid_field", body


async def test_system_endpoints_need_authentication(rockd):
    box = await rockd(login=False)
    anonymous = box.client()
    for path in ("/api/v1/system", "/api/v1/system/metrics/history"):
        status, body = await anonymous.call("GET", path)
        assert status == 401 and body["error"]["code"] == "unauthorized", path


async def test_system_is_the_subtree(rockd):
    api = (await rockd()).api
    status, body = await api.call("GET", "/api/v1/system")
    assert status == 200
    assert body.keys() >= {"hostname", "kernel", "versions", "uptime", "metrics"}
    assert tuple(body["metrics"]) == FIELDS
    _, document = await api.call("GET", "/api/v1/openapi.json")
    schema = document["components"]["schemas"]["MetricsHistory"]
    assert tuple(schema["properties"]) == FIELDS  # the document names every column
