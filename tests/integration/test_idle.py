"""Nothing polls: a daemon with nothing to do uses next to no CPU and changes nothing but the
system metrics it samples once a second."""

import asyncio
import time

from tests.support.changes import SAMPLED


async def test_an_idle_daemon_burns_no_cpu(rockd):
    box = await rockd(devices=1)
    daemon, api = box.daemon, box.api
    status, _ = await api.call("POST", "/api/v1/pools",
                               {"name": "idle", "disks": box.disks, "data": "single"})
    assert status == 201
    ws = await api.stream()
    await ws.send_str('{"id": 1, "type": "subscribe", "path": ""}')
    await ws.receive()
    await ws.receive()
    await asyncio.sleep(0.5)  # let start-up's rescans settle
    revisions = []
    daemon.tree.listen(revisions.append)
    cpu = time.process_time()
    await asyncio.sleep(2.0)
    used = time.process_time() - cpu
    assert used < 0.1, f"{used:.2f} s of CPU in 2 s of idling"
    # one revision a second holds a sample, with the metrics and the uptime together
    samples = [r for r in revisions if {op.tokens[:2] for op in r.ops} & SAMPLED]
    assert 1 <= len(samples) <= 3, len(samples)
    assert all(("system", "metrics", "time") in {op.tokens for op in r.ops} for r in samples)
    # nothing else changes but, at most, what btrfs itself committed to the pool's usage and
    # to its devices' allocation
    paths = {op.tokens[:1] + op.tokens[2:3] for r in revisions for op in r.ops
             if op.tokens[:2] not in SAMPLED}
    assert paths <= {("pools", "usage"), ("pools", "devices")}, paths
    await ws.close()
