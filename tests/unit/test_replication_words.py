"""What replication tells a person: a peer that does not answer a request, in words (not
"did not answer held within 15 s"), and the addresses a peer can use to reach this box (never
the wildcard it listens on)."""

from __future__ import annotations

import socket

import psutil
import pytest
import zmq.asyncio

from rockd.transfer import keys
from rockd.transfer.protocol import PeerError
from rockd.transfer.sender import Link
from rockd.transfer.service import addresses
from tests.support.replication import fake_peer


async def test_a_request_nobody_answers_fails_in_words(tmp_path):
    public, secret = keys.load_or_create(tmp_path / "us")
    context = zmq.asyncio.Context()
    try:
        with fake_peer() as other:  # admits this box, answers nothing
            async with Link(context, {"name": "b", **other}, public, secret) as link:
                with pytest.raises(PeerError) as caught:
                    await link.call("held", timeout=1.0, pool="tank", name="home")
    finally:
        context.destroy(linger=0)
    assert str(caught.value) == (f"peer b ({other['address']}) did not answer when asked which "
                                 "snapshots it holds (waited 1 s)")
    assert caught.value.code == "timeout"


def test_a_wildcard_listen_address_is_shown_as_the_hosts_names_and_addresses():
    shown = addresses("0.0.0.0:8471")
    assert shown[0] == f"{socket.gethostname()}:8471"
    assert not any(a.startswith(("0.0.0.0", "*", "[::]")) for a in shown), shown
    real = {nic.address for nics in psutil.net_if_addrs().values() for nic in nics
            if nic.family == socket.AF_INET and not nic.address.startswith("127.")}
    assert {a.rsplit(":", 1)[0] for a in shown[1:]} == (real or {"127.0.0.1"}), shown
    assert addresses("192.0.2.7:9000") == ["192.0.2.7:9000"]
    assert not any(a.lower().startswith("[fe80") for a in addresses("[::]:8471"))  # link-local
