"""Pairing makes a test connection and refuses, saving nothing, a peer it cannot reach or whose
key does not answer; each peer's state (online, last_seen, last_error) is in the tree and
follows the connection live, a peer killed and started again included; a task is made once
per share and target."""

from __future__ import annotations

import time

import zmq

from tests.integration.test_replication import boxes, identity, pair, share_with_files
from tests.support.rig import Rockd, wait_for


def peer_state(box: Rockd, name: str) -> dict | None:
    return box.daemon.tree.get(("replication", "peers", name))


async def test_pairing_refuses_a_peer_that_does_not_answer_with_its_key(rockd):
    a, b = await boxes(rockd, "a", "b")
    ident = await identity(b)
    assert ident["addresses"] == [b.daemon.settings.zmq_listen], ident
    assert a.daemon.tree.get("/replication/identity/addresses") == [a.daemon.settings.zmq_listen]

    # nothing listens there
    began = time.monotonic()
    status, body = await a.api.call("POST", "/api/v1/replication/peers", {
        "name": "b", "address": "127.0.0.1:9", "public_key": ident["public_key"]})
    assert status == 422 and body["error"]["code"] == "unreachable", body
    assert "nothing answered at 127.0.0.1:9" in body["error"]["message"], body
    assert "Nothing was saved" in body["error"]["message"], body
    assert body["error"]["detail"]["field"] == "address", body
    assert time.monotonic() - began < 10
    # b's address, another key
    status, body = await a.api.call("POST", "/api/v1/replication/peers", {
        "name": "b", "address": ident["address"],
        "public_key": zmq.curve_keypair()[0].decode()})
    assert status == 422 and body["error"]["code"] == "wrong_key", body
    assert "not with that public key" in body["error"]["message"], body
    assert body["error"]["detail"]["field"] == "public_key", body
    assert a.daemon.tree.get("/replication/peers") == {}
    assert (await a.api.call("GET", "/api/v1/replication/peers"))[1] == []

    # the right key: paired, though b does not know a yet, which the state says
    status, peer = await a.api.call("POST", "/api/v1/replication/peers", {
        "name": "b", "address": ident["address"], "public_key": ident["public_key"]})
    assert status == 201, peer
    assert peer["online"] is False and "does not know this box's key" in peer["last_error"]
    assert peer["last_seen"], peer
    # b pairs a: both show the other online, live
    status, _ = await b.api.call("POST", "/api/v1/replication/peers", {
        "name": "a", **{k: (await identity(a))[k] for k in ("address", "public_key")}})
    assert status == 201
    await wait_for(lambda: (peer_state(a, "b") or {}).get("online"), timeout=10)
    await wait_for(lambda: (peer_state(b, "a") or {}).get("online"), timeout=10)
    assert peer_state(a, "b")["last_error"] is None


async def test_the_same_share_and_target_make_one_task(rockd):
    a, b = await boxes(rockd, "a", "b")
    await pair(a, b)
    share = await share_with_files(a, count=1, size=1 << 20)
    body = {"share": share["id"], "targets": [{"peer": "b", "pool": "tank"}]}
    status, task = await a.api.call("POST", "/api/v1/replication/tasks", body)
    assert status == 201, task
    status, again = await a.api.call("POST", "/api/v1/replication/tasks", body)
    assert status == 409 and again["error"]["code"] == "exists", again
    assert again["error"]["detail"]["task"] == task["id"], again
    assert len(a.daemon.tree.get("/replication/tasks")) == 1
    # another target of the same share is another task
    status, other = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "other"}]})
    assert status == 201, other
    status, clash = await a.api.call("PATCH", f"/api/v1/replication/tasks/{other['id']}",
                                     {"targets": [{"peer": "b", "pool": "tank"}]})
    assert status == 409 and clash["error"]["code"] == "exists", clash


async def test_a_peer_killed_goes_offline_and_comes_back_online_live(rockd):
    a = await rockd(name="a", devices=1, pool="single")
    b = await rockd(name="b", devices=1, pool="single", process=True)
    for one, other in ((a, b), (b, a)):
        _, ident = await other.api.call("GET", "/api/v1/replication/identity")
        status, peer = await one.api.call("POST", "/api/v1/replication/peers", {
            "name": other.name, "address": ident["address"],
            "public_key": ident["public_key"]})
        assert status == 201, peer
    online = await wait_for(lambda: peer_state(a, "b")["online"] and peer_state(a, "b"),
                            timeout=10)
    assert online["last_error"] is None

    b.kill()
    killed = time.monotonic()
    offline = await wait_for(lambda: not peer_state(a, "b")["online"] and peer_state(a, "b"),
                             timeout=10)
    assert time.monotonic() - killed < 3, "the connection's end is an event, not a poll"
    assert offline["last_error"] in (
        "the connection to b was lost",
        f"nothing answers at {b.settings.zmq_listen} (is rockd running there?)"), offline
    assert offline["last_seen"] >= online["last_seen"], (online, offline)

    await b.start()
    back = await wait_for(lambda: peer_state(a, "b")["online"] and peer_state(a, "b"),
                          timeout=15)
    assert back["last_error"] is None and back["last_seen"] >= offline["last_seen"], back

    async def b_sees_a() -> bool:
        _, listed = await b.api.call("GET", "/api/v1/replication/peers")
        return listed[0]["name"] == "a" and listed[0]["online"]
    await wait_for(b_sees_a, timeout=15, interval=0.5)
