"""The network through a real NetworkManager on a private bus in a network namespace, with
veths to a peer namespace (tests/support/networkmanager.py): an address set through the API
answers pings from the other end; a change under a rollback timer is rolled back by
NetworkManager unless confirmed; DHCP, disabled, bonds, VLANs and bridges; bad input refused
with nothing changed."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from pydantic import TypeAdapter

from rockd.core.resources.network import ConnectionAnswer, Network
from tests.support.networkmanager import running
from tests.support.rig import wait_for

CONNECTIONS = "/api/v1/network/connections"
SHAPE, ANSWER = TypeAdapter(Network), TypeAdapter(ConnectionAnswer)


@pytest.fixture
def nmbox():
    yield from running()


@pytest.fixture
async def net(rockd, nmbox):
    """A rockd watching that NetworkManager, once it has read it."""
    box = await rockd(network_bus=nmbox.address, network_confirm=15)
    tree = box.daemon.tree
    await wait_for(lambda: tree.get("/network/running")
                   and "eth4" in (tree.get("/network/interfaces") or {}), timeout=15)
    return box


def _tree(box, path: str = ""):
    return box.daemon.tree.get(f"/network{path}")


async def _create(box, body: dict) -> dict:
    status, answer = await box.api.call("POST", CONNECTIONS, body)
    assert status == 201, answer
    return answer


async def test_static_address_answers_pings_from_the_other_end(net, nmbox):
    conn = await _create(net, {"interface": "eth1", "method": "static",
                               "addresses": ["192.0.2.2/24", "2001:db8::2/64"],
                               "gateway": "192.0.2.1", "dns": ["192.0.2.53", "2001:db8::53"],
                               "mtu": 1400})
    assert conn["method"] == "static" and conn["gateway"] == "192.0.2.1"
    assert conn["addresses"] == ["192.0.2.2/24", "2001:db8::2/64"]
    assert conn["dns"] == ["192.0.2.53", "2001:db8::53"]
    assert "rollback" not in conn  # not the interface this request came in on
    nmbox.ip(nmbox.peer, "addr", "add", "192.0.2.1/24", "dev", "p1")
    await wait_for(lambda: nmbox.ping("192.0.2.2"), timeout=15)
    await wait_for(lambda: "192.0.2.2/24" in _tree(net, "/interfaces/eth1/addresses")
                   and _tree(net, f"/connections/{conn['id']}/active"), timeout=10)
    eth1 = _tree(net, "/interfaces/eth1")
    assert eth1["link"] == "up" and eth1["mtu"] == 1400 and eth1["speed"] == 10000
    assert eth1["connection"] == conn["id"] and eth1["gateway"] == "192.0.2.1"
    assert eth1["dns"] == ["192.0.2.53", "2001:db8::53"]
    await wait_for(lambda: "2001:db8::2/64" in _tree(net, "/interfaces/eth1/addresses"),
                   timeout=10)
    assert "ipv4.addresses:" in nmbox.nmcli("-f", "ipv4.addresses", "connection", "show",
                                            conn["id"])
    status, shown = await net.api.call("GET", CONNECTIONS)
    assert status == 200 and shown[conn["id"]]["interface"] == "eth1"
    SHAPE.validate_python(_tree(net))  # every field declared, none more
    ANSWER.validate_python(conn)
    status, _ = await net.api.call("DELETE", f"{CONNECTIONS}/{conn['id']}")
    assert status == 204
    await wait_for(lambda: conn["id"] not in _tree(net, "/connections"), timeout=10)
    await wait_for(lambda: not nmbox.ping("192.0.2.2"), timeout=10)


async def test_a_change_not_confirmed_is_rolled_back_and_a_confirmed_one_stays(net, nmbox):
    nmbox.ip(nmbox.peer, "addr", "add", "192.0.2.1/24", "dev", "p1")
    conn = await _create(net, {"interface": "eth1", "method": "static",
                               "addresses": ["192.0.2.2/24"]})
    await wait_for(lambda: nmbox.ping("192.0.2.2"), timeout=15)
    path = f"{CONNECTIONS}/{conn['id']}"

    status, changed = await net.api.call("PATCH", path, {"addresses": ["192.0.2.3/24"],
                                                         "confirm_within": 10})
    started = time.monotonic()
    assert status == 200, changed
    rollback = changed["rollback"]
    assert rollback["seconds"] == 10 and changed["addresses"] == ["192.0.2.3/24"]
    assert _tree(net, "/pending")["id"] == rollback["id"]
    await wait_for(lambda: nmbox.ping("192.0.2.3"), timeout=10)
    status, refused = await net.api.call("PATCH", path, {"mtu": 1400})
    assert status == 409 and refused["error"]["code"] == "change_pending"
    # not confirmed: NetworkManager rolls it back at the deadline, and the old address answers
    await wait_for(lambda: _tree(net, "/pending") is None, timeout=20)
    rolled = time.monotonic() - started
    assert _tree(net, "/last_change")["outcome"] == "rolled_back"
    assert 9 <= rolled <= 14, rolled
    await wait_for(lambda: _tree(net, f"/connections/{conn['id']}/addresses")
                   == ["192.0.2.2/24"], timeout=10)
    await wait_for(lambda: nmbox.ping("192.0.2.2"), timeout=15)
    assert not nmbox.ping("192.0.2.3")

    status, changed = await net.api.call("PATCH", path, {"addresses": ["192.0.2.4/24"],
                                                         "confirm_within": 10})
    assert status == 200, changed
    await wait_for(lambda: nmbox.ping("192.0.2.4"), timeout=10)
    status, body = await net.api.call("POST", "/api/v1/network/confirm", {"id": "999"})
    assert status == 404, body
    status, body = await net.api.call("POST", "/api/v1/network/confirm",
                                      {"id": changed["rollback"]["id"]})
    assert status == 204, body
    assert _tree(net, "/pending") is None
    assert _tree(net, "/last_change")["outcome"] == "confirmed"
    # confirmed: its checkpoint is gone, so nothing is left to roll it back (that it stays
    # past its deadline is test_network_rollback.py's, on a shorter timer)
    assert nmbox.checkpoints() == []
    assert _tree(net, f"/connections/{conn['id']}/addresses") == ["192.0.2.4/24"]
    assert nmbox.ping("192.0.2.4") and not nmbox.ping("192.0.2.2")


async def test_dhcp_then_disabled(net, nmbox):
    nmbox.serve_dhcp("p2", "198.51.100")
    conn = await _create(net, {"interface": "eth2", "method": "dhcp"})
    assert conn["method"] == "dhcp" and conn["addresses"] == []

    def leased():
        return [a for a in _tree(net, "/interfaces/eth2/addresses")
                if a.startswith("198.51.100.")]
    found = await wait_for(leased, timeout=30)
    assert nmbox.ping(found[0].split("/")[0])
    status, changed = await net.api.call("PATCH", f"{CONNECTIONS}/{conn['id']}",
                                         {"method": "disabled"})
    assert status == 200 and changed["method"] == "disabled", changed
    await wait_for(lambda: not leased(), timeout=15)
    assert "198.51.100." not in nmbox.addresses("eth2")


async def test_a_bridge_is_made_with_its_ports_and_shown(net, nmbox):
    bridge = await _create(net, {"interface": "br0", "kind": "bridge", "method": "static",
                                 "addresses": ["203.0.113.2/24"],
                                 "bridge": {"ports": ["eth3", "eth4"]}})
    assert bridge["kind"] == "bridge" and bridge["bridge"] == {"ports": ["eth3", "eth4"]}
    await wait_for(lambda: "203.0.113.2/24" in (_tree(net, "/interfaces/br0") or {}).get(
        "addresses", []), timeout=15)
    assert _tree(net, "/interfaces/br0/type") == "bridge"
    ports = {c["interface"]: c["port_of"] for c in _tree(net, "/connections").values()
             if c["port_of"]}
    assert ports == {"eth3": "br0", "eth4": "br0"}
    await wait_for(lambda: "master br0" in nmbox.ip(nmbox.ns, "-o", "link", "show",
                                                    "eth4").stdout, timeout=10)
    nmbox.ip(nmbox.peer, "addr", "add", "203.0.113.1/24", "dev", "p4")
    await wait_for(lambda: nmbox.ping("203.0.113.2"), timeout=15)  # through a port

    status, changed = await net.api.call("PATCH", f"{CONNECTIONS}/{bridge['id']}",
                                         {"bridge": {"ports": ["eth4"]}})
    assert status == 200 and changed["bridge"] == {"ports": ["eth4"]}, changed
    await wait_for(lambda: "master br0" not in nmbox.ip(nmbox.ns, "-o", "link", "show",
                                                        "eth3").stdout, timeout=10)
    status, _ = await net.api.call("DELETE", f"{CONNECTIONS}/{bridge['id']}")
    assert status == 204
    try:
        await wait_for(lambda: not _tree(net, "/connections"), timeout=10)
    except AssertionError:
        raise AssertionError(_tree(net, "/connections")) from None


async def test_bond_and_vlan(net, nmbox):
    """Made and shown where the kernel has bonding and 802.1Q; refused with NetworkManager's
    reason, nothing left, where it has not (and profiles made by hand still shown)."""
    before = nmbox.nmcli("-t", "-f", "UUID", "connection")
    bond_body = {"interface": "bond0", "kind": "bond", "method": "static",
                 "addresses": ["203.0.113.2/24"],
                 "bond": {"mode": "active-backup", "slaves": ["eth2", "eth3"]}}
    vlan_body = {"interface": "eth1.100", "kind": "vlan", "method": "static",
                 "addresses": ["192.0.2.130/25"], "vlan": {"parent": "eth1", "id": 100}}
    for kind, body in (("bond", bond_body), ("vlan", vlan_body)):
        status, answer = await net.api.call("POST", CONNECTIONS, body)
        if nmbox.kernel_has(kind):
            assert status == 201, answer
            assert answer[kind] == {**body[kind], **({"slaves": ["eth2", "eth3"]}
                                                     if kind == "bond" else {})}
            path = f"/interfaces/{body['interface']}/type"
            await wait_for(lambda p=path, k=kind: _tree(net, p) == k, timeout=15)
            status, _ = await net.api.call("DELETE", f"{CONNECTIONS}/{answer['id']}")
            assert status == 204
        else:
            assert status == 409 and "not supported" in answer["error"]["message"], answer
        await wait_for(lambda: nmbox.nmcli("-t", "-f", "UUID", "connection") == before,
                       timeout=10)
    # profiles made with nmcli, not activated: rockd shows them as they are
    nmbox.nmcli("connection", "add", "type", "bond", "ifname", "bond0", "con-name", "b",
                "autoconnect", "no", "bond.options", "mode=802.3ad", "ipv4.method",
                "disabled", "ipv6.method", "disabled")
    nmbox.nmcli("connection", "add", "type", "ethernet", "ifname", "eth2", "con-name", "s",
                "autoconnect", "no", "master", "bond0", "slave-type", "bond")
    nmbox.nmcli("connection", "add", "type", "vlan", "ifname", "eth1.100", "con-name", "v",
                "autoconnect", "no", "dev", "eth1", "id", "100", "ipv4.method", "manual",
                "ipv4.addresses", "192.0.2.130/25", "ipv6.method", "disabled")

    def shown():
        return {c["name"]: c for c in _tree(net, "/connections").values()}
    await wait_for(lambda: {"b", "s", "v"} <= set(shown()), timeout=10)
    found = shown()
    assert (found["b"]["kind"], found["b"]["bond"], found["b"]["method"]) == (
        "bond", {"mode": "802.3ad", "slaves": ["eth2"]}, "disabled")
    assert found["s"]["port_of"] == "bond0"
    assert (found["v"]["kind"], found["v"]["vlan"], found["v"]["addresses"]) == (
        "vlan", {"parent": "eth1", "id": 100}, ["192.0.2.130/25"])


BAD = [
    ({"interface": "bad name!", "method": "dhcp"}, "interface"),
    ({"interface": "eth1", "method": "static", "addresses": ["300.1.1.1/24"]}, "addresses.0"),
    ({"interface": "eth1", "method": "static", "addresses": ["192.0.2.2"]}, "addresses.0"),
    ({"interface": "eth1", "method": "static"}, "addresses"),
    ({"interface": "eth1", "method": "static", "addresses": ["192.0.2.2/24"],
      "gateway": "198.51.100.1"}, "gateway"),
    ({"interface": "eth1", "method": "dhcp", "mtu": 100}, "mtu"),
    ({"interface": "eth1", "method": "dhcp", "dns": ["not-an-ip"]}, "dns.0"),
    ({"interface": "eth1", "method": "magic"}, "method"),
    ({"interface": "nope0", "method": "dhcp"}, "interface"),
    ({"interface": "bond1", "kind": "bond", "method": "dhcp",
      "bond": {"mode": "balance-xor", "slaves": ["eth2"]}}, "bond.mode"),
    ({"interface": "bond1", "kind": "bond", "method": "dhcp",
      "bond": {"mode": "802.3ad", "slaves": ["nope0"]}}, "bond"),
    ({"interface": "eth1.5000", "kind": "vlan", "method": "dhcp",
      "vlan": {"parent": "eth1", "id": 5000}}, "vlan.id"),
    ({"interface": "eth1.7", "kind": "vlan", "method": "dhcp",
      "vlan": {"parent": "eth9", "id": 7}}, "vlan.parent"),
    ({"interface": "eth1", "method": "dhcp", "confirm_within": 5}, "confirm_within"),
]


async def test_bad_input_is_refused_with_nothing_changed(net, nmbox):
    before = nmbox.nmcli("-t", "-f", "UUID", "connection")
    for body, field in BAD:
        status, answer = await net.api.call("POST", CONNECTIONS, body)
        assert status == 400, (body, answer)
        assert answer["error"]["detail"]["field"] == field, (body, answer)
    conn = await _create(net, {"interface": "eth1", "method": "dhcp"})
    path = f"{CONNECTIONS}/{conn['id']}"
    for body in ({"addresses": ["192.0.2.2/24"]}, {"mtu": 70000}, {"method": "static"},
                 {"vlan": {"parent": "eth2", "id": 3}}):
        status, answer = await net.api.call("PATCH", path, body)
        assert status == 400, (body, answer)
    for body in ({"interface": "eth1", "method": "disabled"},
                 {"interface": "br1", "kind": "bridge", "method": "disabled",
                  "bridge": {"ports": ["eth1"]}}):
        status, answer = await net.api.call("POST", CONNECTIONS, body)
        assert status == 409 and answer["error"]["code"] == "interface_taken", answer
    status, _ = await net.api.call("PATCH", f"{CONNECTIONS}/nope", {"method": "dhcp"})
    assert status == 404
    assert _tree(net, f"/connections/{conn['id']}/method") == "dhcp"
    status, _ = await net.api.call("DELETE", path)
    assert status == 204
    await wait_for(lambda: nmbox.nmcli("-t", "-f", "UUID", "connection") == before, timeout=10)


async def test_networkmanager_going_and_coming_back(net, nmbox):
    conn = await _create(net, {"interface": "eth1", "method": "static",
                               "addresses": ["192.0.2.2/24"]})
    nmbox.stop_networkmanager()
    await wait_for(lambda: not _tree(net, "/running"), timeout=10)
    assert _tree(net, "/connections") == {} and _tree(net, "/version") is None
    status, answer = await net.api.call("POST", CONNECTIONS, {"interface": "eth2",
                                                              "method": "dhcp"})
    assert status == 409 and answer["error"]["code"] == "network_unavailable", answer
    nmbox.start_networkmanager()
    await wait_for(lambda: _tree(net, "/running")
                   and conn["id"] in _tree(net, "/connections"), timeout=20)
    await wait_for(lambda: _tree(net, f"/connections/{conn['id']}/active"), timeout=15)
    assert "192.0.2.2/24" in _tree(net, "/interfaces/eth1/addresses")


async def test_a_pending_change_outlives_a_restart_of_rockd(net, nmbox):
    """The rollback timer is NetworkManager's: rockd restarted meanwhile shows the change as
    pending again, with its deadline, and sees it rolled back."""
    conn = await _create(net, {"interface": "eth1", "method": "static",
                               "addresses": ["192.0.2.2/24"]})
    status, changed = await net.api.call("PATCH", f"{CONNECTIONS}/{conn['id']}",
                                         {"addresses": ["192.0.2.3/24"], "confirm_within": 10})
    assert status == 200, changed
    await net.restart()
    await wait_for(lambda: _tree(net, "/running") and _tree(net, "/pending"), timeout=10)
    pending = _tree(net, "/pending")
    assert pending["id"] == changed["rollback"]["id"]
    assert abs(_seconds(pending["deadline"]) - _seconds(changed["rollback"]["deadline"])) <= 2
    assert "eth1" in _tree(net, "/interfaces")  # read again, not from the journal
    await wait_for(lambda: _tree(net, "/pending") is None, timeout=15)
    assert _tree(net, "/last_change")["outcome"] == "rolled_back"
    await wait_for(lambda: _tree(net, f"/connections/{conn['id']}/addresses")
                   == ["192.0.2.2/24"], timeout=10)


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
