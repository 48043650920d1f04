"""Cockpit's safeguard, for real: a `rockd serve` inside NetworkManager's namespace, reached by
the test over the "ctl" veth only (tests/support/networkmanager.py). Changing the connection of
the interface the request came in on is applied under a rollback timer without being asked;
confirmed from the new address, it stays; left unconfirmed, NetworkManager puts the old
address back at the deadline and rockd answers there again."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.client import Api
from tests.support.networkmanager import running
from tests.support.process import free_port
from tests.support.rig import wait_for

CONNECTIONS = "/api/v1/network/connections"
SECONDS = 6  # longer than a call to an address that went away takes to give up (3 s)


@pytest.fixture
def nmctl():
    yield from running(control=True)


async def _call(api: Api, *args, timeout: float = 3.0):
    """A call that gives up (None) where the address no longer answers."""
    try:
        async with asyncio.timeout(timeout):
            return await api.call(*args)
    except (TimeoutError, OSError):
        return None


async def test_own_interface_rolls_back_unless_confirmed_from_the_new_address(rockd, nmctl):
    net, port = nmctl.control_net, free_port()
    box = await rockd(process=True, listen=f"{net}.2:{port}", args=["--listen", f"0.0.0.0:{port}"],
                      network_bus=nmctl.address, network_confirm=SECONDS,
                      prefix=nmctl.command([]))
    token = await box.api.make_token(["read", "write"])
    apis: dict[str, Api] = {}

    def at(host: int) -> Api:  # a fresh client per address: no kept-alive connection reused
        if host not in apis:
            apis[host] = Api(f"http://{net}.{host}:{port}", token=token)
        return apis[host]

    async def network() -> dict | None:
        answer = await _call(at(current), "GET", "/api/v1/state?path=/network", timeout=2)
        return answer[1]["value"] if answer and answer[0] == 200 else None

    try:
        current = 2
        await wait_for(lambda: network(), timeout=15)
        await wait_for(lambda: _has(network(), "ctl"), timeout=15)
        status, conn = await at(2).call("POST", CONNECTIONS, {
            "interface": "ctl", "method": "static", "addresses": [f"{net}.2/24"]})
        assert status == 201, conn
        assert conn["rollback"]["seconds"] == SECONDS  # asked for nothing: it came in on ctl
        status, body = await at(2).call("POST", "/api/v1/network/confirm",
                                        {"id": conn["rollback"]["id"]})
        assert status == 204, body

        # a new address, confirmed from there: it stays
        answer = await _call(at(2), "PATCH", f"{CONNECTIONS}/{conn['id']}",
                             {"addresses": [f"{net}.3/24"]})
        assert answer is None or (answer[0] == 200 and answer[1]["rollback"]), answer
        current = 3
        shown = await wait_for(lambda: network(), timeout=10)
        pending = shown["pending"]
        assert pending and pending["interface"] == "ctl", shown
        status, body = await at(3).call("POST", "/api/v1/network/confirm",
                                        {"id": pending["id"]})
        assert status == 204, body
        await asyncio.sleep(SECONDS + 2)
        shown = await network()
        assert shown["pending"] is None and shown["last_change"]["outcome"] == "confirmed"
        assert shown["connections"][conn["id"]]["addresses"] == [f"{net}.3/24"]
        assert await _call(at(2), "GET", "/api/v1/health", timeout=2) is None

        # another, not confirmed: back to .3 at the deadline
        started = time.monotonic()
        answer = await _call(at(3), "PATCH", f"{CONNECTIONS}/{conn['id']}",
                             {"addresses": [f"{net}.4/24"]})
        assert answer is None or answer[0] == 200, answer
        current = 4
        await wait_for(lambda: network(), timeout=10)
        current = 3
        await apis.pop(3).close()
        shown = await wait_for(lambda: _rolled_back(network()), timeout=SECONDS + 10)
        assert SECONDS - 1 <= time.monotonic() - started <= SECONDS + 6
        assert shown["connections"][conn["id"]]["addresses"] == [f"{net}.3/24"]
        assert f"{net}.3/24" in shown["interfaces"]["ctl"]["addresses"]

        # deleting the connection it came in on: undone at the deadline, the profile back
        last = shown["last_change"]["id"]
        answer = await _call(at(3), "DELETE", f"{CONNECTIONS}/{conn['id']}")
        assert answer is None or (answer[0] == 200 and answer[1]["rollback"]), answer
        await apis.pop(3).close()
        await wait_for(lambda: f"{net}.3/" not in nmctl.addresses("ctl"), timeout=5)

        async def back():
            found = await network()
            return found if found and found["last_change"]["id"] != last \
                and found["pending"] is None else None
        shown = await wait_for(back, timeout=SECONDS + 10)
        assert shown["last_change"]["outcome"] == "rolled_back"
        assert shown["connections"][conn["id"]]["addresses"] == [f"{net}.3/24"]
    finally:
        for api in apis.values():
            await api.close()


async def _has(shown, name: str) -> bool:
    found = await shown
    return bool(found and name in found["interfaces"])


async def _rolled_back(shown):
    found = await shown
    if found and found["pending"] is None and found["last_change"]["outcome"] == "rolled_back":
        return found
    return None
