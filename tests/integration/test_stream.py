"""The websocket stream against a running daemon: snapshot, patches, batching, protocol."""

import asyncio

import aiohttp
import orjson
import pytest

from rockd.core import pointer
from rockd.core.tree import apply
from tests.support.client import receive


async def subscribe(ws, path="", msg_id=1, **extra):
    await ws.send_str(orjson.dumps({"id": msg_id, "type": "subscribe", "path": path,
                                    **extra}).decode())
    subscribed = await receive(ws)
    assert subscribed["type"] == "subscribed" and subscribed["id"] == msg_id
    return subscribed["sub"]


async def test_snapshot_then_patches_in_order(rockd):
    box = await rockd()
    daemon, api = box.daemon, box.api
    ws = await api.stream()
    sub = await subscribe(ws, "/bench")
    snapshot = await receive(ws)
    assert snapshot["type"] == "snapshot" and snapshot["sub"] == sub
    assert snapshot["value"] is None and snapshot["epoch"] == daemon.store.epoch
    daemon.tree.set("/bench", {"a": 1})
    daemon.tree.set("/bench/a", 2)
    daemon.tree.set("/elsewhere", 1)
    daemon.tree.set("/bench/b", [1, 2])
    last = daemon.tree.rev  # taken at once: the metrics sampler cannot run in between
    mirror, rev = {}, snapshot["rev"]
    while rev < last - 1:  # the last revision (/bench/b) is the last one for us
        patch = await receive(ws)
        assert patch["type"] == "patch" and patch["sub"] == sub and patch["rev"] > rev
        for op in patch["ops"]:
            assert op["path"].startswith("/bench")
            if op["path"] == "/bench":
                mirror = op["value"]
            else:
                mirror[op["path"].split("/")[2]] = op["value"]
        rev = patch["rev"]
    assert mirror == {"a": 2, "b": [1, 2]}
    await ws.close()


async def test_many_queued_revisions_arrive_as_one_frame(rockd):
    box = await rockd()
    daemon, api = box.daemon, box.api
    ws = await api.stream()
    await subscribe(ws, "/n")
    await receive(ws)
    with daemon.tree.transaction():
        daemon.tree.set("/n", 0)
    for i in range(1, 50):  # all before the writer runs: one frame
        daemon.tree.set("/n", i)
    last = daemon.tree.rev
    patches = []
    while not patches or patches[-1]["rev"] < last:
        patches.append(await receive(ws))
    assert len(patches) < 50
    assert patches[-1]["ops"][-1] == {"op": "replace", "path": "/n", "value": 49}
    await ws.close()


async def test_ping_unsubscribe_and_errors(rockd):
    box = await rockd()
    daemon, api = box.daemon, box.api
    ws = await api.stream()
    sub = await subscribe(ws, "/after")  # a quiet path: nothing but the answers arrives
    await receive(ws)
    await ws.send_str('{"id": 7, "type": "ping"}')
    assert await receive(ws) == {"type": "pong", "id": 7}
    await ws.send_str('{"id": 8, "type": "subscribe", "path": "no-slash"}')
    error = await receive(ws)
    assert error["type"] == "error" and error["id"] == 8
    assert error["error"]["code"] == "invalid_path"
    await ws.send_str('{"id": 9, "type": "subscribe", "path": "/x", "since": "yesterday"}')
    assert (await receive(ws))["error"]["code"] == "invalid_field"
    await ws.send_str('{"id": 10, "type": "dance"}')
    assert (await receive(ws))["error"]["code"] == "unknown_type"
    await ws.send_str(orjson.dumps({"id": 11, "type": "unsubscribe", "sub": sub}).decode())
    assert await receive(ws) == {"type": "unsubscribed", "id": 11, "sub": sub}
    await ws.send_str('{"id": 12, "type": "unsubscribe", "sub": 999}')
    assert (await receive(ws))["error"]["code"] == "not_found"
    daemon.tree.set("/after", 1)  # no subscription left: nothing arrives
    await ws.send_str('{"id": 13, "type": "ping"}')
    assert await receive(ws) == {"type": "pong", "id": 13}
    await ws.close()


@pytest.mark.parametrize("frame", ["not json", "[1, 2]", '{"no": "type"}', b"binary"])
async def test_protocol_errors_close_with_4400(rockd, frame):
    api = (await rockd()).api
    ws = await api.stream()
    if isinstance(frame, bytes):
        await ws.send_bytes(frame)
    else:
        await ws.send_str(frame)
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4400


async def test_stream_needs_authentication(rockd):
    box = await rockd(login=False)
    client = box.client()
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await client.stream()
    assert info.value.status == 401


async def test_cookie_stream_from_another_origin_is_refused(rockd):
    api = (await rockd()).api
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await api.stream(origin="http://evil.example")
    assert info.value.status == 403
    ws = await api.stream(origin=api.base)
    await ws.close()


async def test_token_stream_and_trimmed_parent_ops(rockd):
    box = await rockd()
    daemon, api = box.daemon, box.api
    token = await api.make_token(["read"])
    reader = box.client(token=token)
    daemon.tree.set("/bench/p1", {"usage": {"used": 1}})
    ws = await reader.stream()
    await subscribe(ws, "/bench/p1/usage")
    assert (await receive(ws))["value"] == {"used": 1}
    daemon.tree.set("/bench", {"p1": {"usage": {"used": 9}}, "p2": {}})
    patch = await receive(ws)
    assert patch["ops"] == [{"op": "replace", "path": "/bench/p1/usage/used", "value": 9}]
    daemon.tree.delete("/bench/p1")
    assert (await receive(ws))["ops"] == [{"op": "remove", "path": "/bench/p1/usage"}]
    await ws.close()


async def test_state_endpoint_matches_the_stream(rockd):
    box = await rockd()
    daemon, api = box.daemon, box.api
    daemon.tree.set("/bench/p9", {"label": "tank"})
    rev = daemon.tree.rev
    body = await api.state("/bench/p9")
    # the revision read at, which only the sampled metrics may have moved on since
    assert body["value"] == {"label": "tank"} and rev <= body["rev"] <= daemon.tree.rev
    status, err = await api.call("GET", "/api/v1/state?path=/bench/none")
    assert status == 404 and err["error"]["code"] == "not_found"
    status, err = await api.call("GET", "/api/v1/state?path=bad")
    assert status == 400 and err["error"]["code"] == "invalid_path"


async def test_a_client_that_stops_reading_delays_no_one_and_is_resynced(rockd):
    box = await rockd()
    daemon, api = box.daemon, box.api
    slow = await api.stream(max_msg_size=0)
    await subscribe(slow, "/blob")
    await receive(slow)
    fast = await api.stream(max_msg_size=0)
    await subscribe(fast, "/blob")
    await receive(fast)
    # the slow client reads nothing while 64 MiB of changes go out: its socket fills up
    chunk = "x" * (256 << 10)
    for i in range(256):
        daemon.tree.set("/blob", {"i": i, "data": f"{i}{chunk}"})
        rev = daemon.tree.rev
        if i % 8 == 7:
            await asyncio.sleep(0)
        while True:  # the fast client keeps up the whole time
            message = await receive(fast)
            if message["rev"] >= rev:
                break
    # once it reads again, the slow client gets a fresh snapshot instead of its backlog
    kinds, mirror, last = [], None, None
    while last is None or last.get("rev", 0) < rev:
        last = await receive(slow, timeout=10)
        kinds.append(last["type"])
        if last["type"] == "snapshot":
            mirror = last["value"]
        else:
            for op in last["ops"]:
                if op["path"] == "/blob":
                    mirror = op["value"]
                else:
                    mirror[op["path"].split("/")[2]] = op["value"]
    assert kinds.count("snapshot") >= 1 and len(kinds) < 200
    assert mirror == daemon.tree.get("/blob") and mirror["i"] == 255
    await slow.close()
    await fast.close()


async def test_many_subscribers_of_a_path_each_see_every_revision_once_in_order(rockd):
    box = await rockd()
    daemon, api = box.daemon, box.api
    clients = [await api.stream() for _ in range(12)]
    mirrors = []
    for ws in clients:
        await subscribe(ws, "/bench")
        snapshot = await receive(ws)
        mirrors.append({"doc": {"root": snapshot["value"]}, "rev": snapshot["rev"], "frames": 0})
    pinger = clients[0]  # its pongs keep taking its subscription off the shared frames
    for i in range(300):
        daemon.tree.set(f"/bench/k{i % 7}", {"i": i})
        if i % 3 == 0:
            await pinger.send_str(orjson.dumps({"id": i, "type": "ping"}).decode())
        if i % 10 == 0:
            await asyncio.sleep(0.005)
    last = daemon.tree.rev
    for ws, mirror in zip(clients, mirrors, strict=True):
        pongs = 0
        while mirror["rev"] < last:
            message = await receive(ws)
            if message["type"] == "pong":
                pongs += 1
                continue
            assert message["type"] == "patch" and message["rev"] > mirror["rev"]
            for op in message["ops"]:
                tokens = ("root", *pointer.parse(op["path"])[1:])
                apply(mirror["doc"], op["op"], tokens, op.get("value"))
            mirror["rev"], mirror["frames"] = message["rev"], mirror["frames"] + 1
        assert mirror["doc"]["root"] == daemon.tree.get("/bench")
        assert mirror["frames"] < 300  # revisions that came together went out together
        if ws is pinger:
            while pongs < 100:
                assert (await receive(ws))["type"] == "pong"
                pongs += 1
        await ws.close()


async def test_a_subscriber_held_back_for_a_while_gets_every_change_after_all(rockd):
    box = await rockd()
    daemon, api = box.daemon, box.api
    ws = await api.stream(max_msg_size=0)
    sub = await subscribe(ws, "/held")
    assert (await receive(ws))["type"] == "snapshot"
    group = next(g for g in daemon.bus._groups.values() if any(s.id == sub for s in g))
    chunk = "x" * (128 << 10)
    detached_at = None
    for i in range(400):  # the client reads nothing: its socket fills, and it is taken off
        daemon.tree.set(f"/held/k{i}", f"{i}{chunk}")
        await asyncio.sleep(0.005)
        live = any(s.id == sub for s in group.live)
        if i > 0 and not live and detached_at is None:
            detached_at = i
        if detached_at is not None and i >= detached_at + 8:
            break
    assert detached_at is not None, "the socket never filled"
    last, kinds, keys, rev = daemon.tree.rev, [], set(), 0
    while rev < last:
        message = await receive(ws, timeout=10)
        kinds.append(message["type"])
        assert message["rev"] > rev
        rev = message["rev"]
        keys.update(op["path"] for op in message.get("ops", []))
    assert kinds.count("snapshot") == 0  # within its queue's budget: nothing skipped
    assert keys == {f"/held/k{n}" for n in range(1, i + 1)} | {"/held"}  # k0 came with /held
    await ws.close()


async def test_the_stream_over_https_carries_every_change(rockd):
    box = await rockd(tls="self-signed")
    daemon, api = box.daemon, box.api
    assert api.base.startswith("https:")
    ws = await api.stream()
    await subscribe(ws, "/bench")
    doc = {"root": (await receive(ws))["value"]}
    for i in range(60):  # paced: once caught up, written straight to the TLS transport
        daemon.tree.set(f"/bench/k{i % 4}", {"i": i, "pad": "x" * (i * 1200)})  # to 70 KiB
        if i % 3 == 0:
            await asyncio.sleep(0.01)
    last, rev = daemon.tree.rev, 0
    while rev < last:
        message = await receive(ws)
        assert message["type"] == "patch" and message["rev"] > rev
        for op in message["ops"]:
            apply(doc, op["op"], ("root", *pointer.parse(op["path"])[1:]), op.get("value"))
        rev = message["rev"]
    assert doc["root"] == daemon.tree.get("/bench")
    await ws.close()
