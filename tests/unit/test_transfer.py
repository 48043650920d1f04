"""Replication's pure parts: the credit window, names, endpoints, keys, source retention."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
import zmq
import zmq.asyncio

from rockd.transfer import keep, keys, protocol
from rockd.transfer.gate import REFUSALS_REMEMBERED, Gate
from rockd.transfer.protocol import PeerError
from rockd.transfer.sender import Link
from tests.support.client import free_port


def test_credit_never_lets_more_than_the_window_be_outstanding():
    credit = protocol.Credit(window=4, every=2)
    sender_credit = 4
    in_flight = []
    written = 0
    for step in range(1000):
        # the sender sends whenever it has credit; the receiver writes one chunk in three
        while sender_credit:
            assert credit.received()
            in_flight.append(step)
            sender_credit -= 1
        assert credit.queued + credit.freed <= 4
        if step % 3 == 0 and credit.queued:
            sender_credit += credit.written()
            written += 1
    assert written > 300
    assert not credit.received() or credit.queued <= 4


def test_a_chunk_sent_without_credit_is_noticed():
    credit = protocol.Credit(window=2, every=1)
    assert credit.received() and credit.received()
    assert not credit.received()
    assert credit.written() == 1
    assert credit.received()


def _channels() -> tuple[protocol.Channel, protocol.Channel]:
    key = protocol.Channel.new_key()
    return protocol.Channel(key, sender=True), protocol.Channel(key, sender=False)


def test_sealed_messages_open_on_the_other_side_only_in_order():
    sender, receiver = _channels()
    tid = b"0123456789abcdef"
    chunks = [os.urandom(n) for n in (protocol.CHUNK, protocol.CHUNK, 1000)]
    out, into = bytearray(protocol.CHUNK + protocol.TAG), bytearray(protocol.CHUNK)
    assert receiver.open(*sender.seal(protocol.OPEN, tid, b"")) == b""
    for chunk in chunks:
        frames = sender.seal(protocol.DATA, tid, chunk, out)
        assert bytes(frames[3][:64]) != chunk[:64]  # not the chunk in clear
        assert len(frames[3]) == len(chunk) + protocol.TAG
        assert receiver.open(*frames, into=into) == chunk
    # and back: credit from the receiver opens at the sender
    assert sender.open(*receiver.seal(protocol.CREDIT, tid, protocol.u64(4))) == protocol.u64(4)


@pytest.mark.parametrize("tamper", ["bit", "replay", "skip", "kind", "transfer", "reflect",
                                    "key", "short"])
def test_a_tampered_message_does_not_open(tamper):
    sender, receiver = _channels()
    tid = b"0123456789abcdef"
    first = sender.seal(protocol.DATA, tid, b"x" * 100)
    assert receiver.open(*first) == b"x" * 100
    kind, t, number, sealed = sender.seal(protocol.DATA, tid, b"y" * 100)
    if tamper == "bit":
        sealed = bytes([sealed[0] ^ 1]) + sealed[1:]
    elif tamper == "replay":
        kind, t, number, sealed = first
    elif tamper == "skip":
        kind, t, number, sealed = sender.seal(protocol.DATA, tid, b"z" * 100)
    elif tamper == "kind":
        kind = protocol.END
    elif tamper == "transfer":
        t = b"fedcba9876543210"
    elif tamper == "reflect":  # the sender's own message sent back to it
        receiver = sender
        receiver.expected = 1
    elif tamper == "key":
        kind, t, number, sealed = protocol.Channel(protocol.Channel.new_key(), sender=True
                                                   ).seal(protocol.DATA, tid, b"y" * 100)
        number = protocol.u64(1)
    elif tamper == "short":
        sealed = sealed[:protocol.TAG - 1]
    with pytest.raises(protocol.Tampered):
        receiver.open(kind, t, number, sealed, into=bytearray(protocol.CHUNK))
    assert receiver.expected == 1  # nothing was taken


def test_data_listens_on_the_next_port():
    assert protocol.data_address("10.0.0.2:8471") == "10.0.0.2:8472"
    assert protocol.data_address("[::1]:8471") == "[::1]:8472"
    with pytest.raises(ValueError):
        protocol.endpoint(protocol.data_address("host:65535"))


def test_snapshot_names_carry_their_time_and_never_collide():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    name = protocol.snapshot_name("0123abcd", when)
    assert name == "repl-0123abcd-20260102T030405Z"
    assert protocol.snapshot_name("0123abcd", when, {name}) == name + "-2"
    assert protocol.snapshot_name("0123abcd", when, {name, name + "-2"}) == name + "-3"
    assert protocol.snapshot_time(name + "-2") == when
    assert protocol.snapshot_time("manual") is None


def test_endpoints():
    assert protocol.endpoint("10.0.0.2:8471") == "tcp://10.0.0.2:8471"
    assert protocol.endpoint("0.0.0.0:8471") == "tcp://*:8471"
    assert protocol.endpoint("[::1]:8471") == "tcp://[::1]:8471"
    assert protocol.is_ipv6("[::1]:8471") and not protocol.is_ipv6("nas.lan:8471")
    for bad in ("8471", "host:", ":8471", "host:0", "host:70000", "host:x"):
        with pytest.raises(ValueError):
            protocol.endpoint(bad)


def test_keys_are_made_once_secret_0600(tmp_path):
    public, secret = keys.load_or_create(tmp_path / "r")
    path = tmp_path / "r" / keys.SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.load_or_create(tmp_path / "r") == (public, secret)
    assert zmq.curve_public(secret) == public
    path.chmod(0o644)
    keys.load_or_create(tmp_path / "r")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.check_public_key(public.decode()) == public.decode()
    for bad in ("", "x" * 39, "x" * 41, "~" * 40, None):
        with pytest.raises(ValueError):
            keys.check_public_key(bad)


async def test_a_data_send_that_finds_no_room_gives_up_after_idle(tmp_path):
    """A peer that takes nothing (here: none listening) fills the DEALER's queue; a send then
    waits at most `idle`, where it once waited for the network to come back."""
    public, secret = keys.load_or_create(tmp_path / "us")
    theirs, _ = keys.load_or_create(tmp_path / "them")
    context = zmq.asyncio.Context()
    peer = {"name": "b", "address": f"127.0.0.1:{free_port()}", "public_key": theirs.decode()}
    try:
        async with Link(context, peer, public, secret, idle=0.2) as link:
            link.dealer = link._socket(zmq.DEALER, "t", "ticket")
            with pytest.raises(PeerError, match=r"peer b \(127.0.0.1:\d+\) took no more data"):
                for seq in range(10 * protocol.WINDOW):
                    await link._put([protocol.DATA, b"t", protocol.u64(seq), b"x" * 1024])
            assert protocol.WINDOW <= seq < 2 * protocol.WINDOW
    finally:
        context.destroy(linger=0)


def _snap(ident: str, name: str, created: datetime) -> dict:
    return {"id": ident, "name": name,
            "created": created.isoformat().replace("+00:00", "Z")}


def test_source_retention_keeps_the_last_common_snapshot_whatever_the_policy():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    snaps = [_snap(f"s{h}", protocol.snapshot_name("aaaaaaaa", now - timedelta(hours=h)),
                   now - timedelta(hours=h)) for h in range(6)]
    snaps.append(_snap("hand", "manual", now - timedelta(days=3)))
    snaps.append(_snap("other", protocol.snapshot_name("bbbbbbbb", now - timedelta(days=2)),
                       now - timedelta(days=2)))
    # a target that has been down for five hours still holds s5 as its newest
    task = {"id": "aaaaaaaa", "retention": {"source": {"hourly": 2}}, "keep_last": 1}
    decisions = {d.id: d for d in keep.plan(snaps, task, {"s5": "c/tank", "s0": "b/tank"},
                                            now)}
    kept = sorted(i for i, d in decisions.items() if d.keep)
    assert kept == ["hand", "other", "s0", "s1", "s5"]
    assert "last snapshot common with c/tank" in decisions["s5"].reason
    assert "replication task bbbbbbbb" in decisions["other"].reason
    assert not decisions["s3"].keep
    # no policy: the last keep_last (3 unless named) that reached a target, and the bases
    decisions = {d.id: d for d in keep.plan(snaps, {"id": "aaaaaaaa"}, {"s5": "c/tank"}, now,
                                            reached={"s1", "s2", "s3", "s4", "s5"})}
    kept = sorted(i for i, d in decisions.items() if d.keep)
    assert kept == ["hand", "other", "s1", "s2", "s3", "s5"]
    assert "reached no target" in decisions["s0"].reason


async def test_a_flood_of_unpaired_keys_leaves_the_gate_bounded_and_the_log_quiet(caplog):
    """2,000 strangers, each with a key of its own, knock on the metadata port: each is refused
    in the CurveZMQ handshake, the gate remembers a bounded number of them, and the log has a
    few lines about them all."""
    context = zmq.asyncio.Context()
    asked: set[str] = set()
    gate = Gate(context, lambda key: asked.add(key) or False)
    gate.start()
    gate.configure_curve_callback(protocol.DOMAIN.decode(), gate)
    public, secret = zmq.curve_keypair()
    server = context.socket(zmq.ROUTER)
    server.curve_server, server.curve_secretkey, server.curve_publickey = True, secret, public
    server.zap_domain, server.linger = protocol.DOMAIN, 0
    port = server.bind_to_random_port("tcp://127.0.0.1")
    caplog.set_level(logging.INFO, logger="rockd.transfer")
    try:
        for batch in range(1, 21):
            strangers = []
            for _ in range(100):
                theirs, their_secret = zmq.curve_keypair()
                sock = context.socket(zmq.DEALER)
                sock.curve_serverkey, sock.curve_publickey = public, theirs
                sock.curve_secretkey, sock.linger = their_secret, 0
                sock.connect(f"tcp://127.0.0.1:{port}")
                strangers.append(sock)
            async with asyncio.timeout(30):
                while len(asked) < 100 * batch:
                    await asyncio.sleep(0.01)
            for sock in strangers:
                sock.close(0)
        assert len(asked) == 2000 and gate.refusals >= 2000
        assert len(gate.refused) <= REFUSALS_REMEMBERED
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("rockd.transfer")]
        assert 1 <= len(lines) <= 4, lines[:10]
    finally:
        gate.stop()
        server.close(0)
        context.destroy(linger=0)
