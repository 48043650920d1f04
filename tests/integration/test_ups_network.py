"""The UPS from a network NUT server (a real upsd with NUT's dummy-ups, run by the test):
rockd's upsmon logs in as a secondary, /ups is live, the password is never shown or logged, a
wrong password or UPS name is 400 with nothing changed, and so is every bad body. The USB list
is read from this machine (which has no USB bus)."""

from __future__ import annotations

import logging

from tests.support.nut import NutServer, PoweroffStandIn
from tests.support.rig import wait_for


def ups_of(box) -> dict:
    return box.daemon.tree.get("/ups")


async def test_a_network_nut_server_is_followed_and_its_password_kept_secret(
        rockd, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    poweroff = PoweroffStandIn(tmp_path)
    with NutServer(tmp_path / "server") as server:
        box = await rockd(poweroff_command=poweroff.argv)
        api = box.api
        body = {"source": "network", "name": server.name, "grace": 2,
                "server": {"host": "127.0.0.1", "port": server.port, "user": server.user,
                           "password": "wrong"}}
        status, answer = await api.call("PUT", "/api/v1/ups", body)
        assert status == 400 and answer["error"]["detail"]["field"] == "server.password", answer
        status, answer = await api.call("PUT", "/api/v1/ups", {**body, "name": "nosuch"})
        assert status == 400 and answer["error"]["detail"]["field"] == "name", answer
        assert ups_of(box)["configured"] is False

        body["server"]["password"] = server.password
        status, shown = await api.call("PUT", "/api/v1/ups", body)
        assert status == 200, shown
        assert (shown["source"], shown["host"], shown["port"], shown["user"]) == (
            "network", "127.0.0.1", server.port, server.user)
        await wait_for(lambda: ups_of(box)["status"] == ["OL"], timeout=15)
        assert ups_of(box)["charge"] == 100.0 and ups_of(box)["runtime"] == 1800

        # saved again without the password (as the form does): the one kept is used
        body["server"].pop("password")
        status, again = await api.call("PUT", "/api/v1/ups", {**body, "grace": 3})
        assert status == 200 and again["grace"] == 3, again
        await wait_for(lambda: ups_of(box)["status"] == ["OL"], timeout=15)

        server.dev.write(**{"ups.status": "OB DISCHRG"})
        await wait_for(lambda: ups_of(box)["on_battery"], timeout=10)
        await wait_for(lambda: ups_of(box)["last_event"] == "ONBATT", timeout=10)
        server.dev.write(**{"ups.status": "OL"})
        await wait_for(lambda: not ups_of(box)["on_battery"], timeout=10)
        assert poweroff.calls == []

        tree = str(box.daemon.tree.get())
        status, got = await api.call("GET", "/api/v1/ups")
        assert status == 200
        assert server.password not in tree and server.password not in str(got)
        assert server.password not in caplog.text
        nut_log = box.settings.state_dir / "nut" / "state" / "upsmon.log"
        assert server.password not in nut_log.read_text()

        # the server goes away: /ups says so, and the alert rule raises ups_unreachable
        server.stop()
        await wait_for(lambda: ups_of(box)["last_error"], timeout=20)
        status, _ = await api.call("DELETE", "/api/v1/ups")
        assert status == 204


async def test_bad_bodies_are_400_with_nothing_changed(rockd, tmp_path):
    box = await rockd()
    before = ups_of(box)
    dev = tmp_path / "ups.dev"
    dev.write_text("ups.status: OL\n")
    for body in (
            {"source": "usb"},
            {"source": "usb", "usb": {"driver": "no-such-driver"}},
            {"source": "usb", "usb": {"driver": "dummy-ups", "port": "/no/such/file"}},
            {"source": "usb", "usb": {"driver": "dummy-ups", "port": "a;rm -rf /"}},
            {"source": "usb", "usb": {"driver": "dummy-ups", "port": "/etc/shadow"}},
            {"source": "usb", "usb": {"driver": "dummy-ups",
                                      "port": f"{tmp_path}/../../etc/x.dev"}},
            {"source": "usb", "usb": {"driver": "usbhid-ups", "port": "/dev/../etc/shadow"}},
            {"source": "usb", "usb": {"driver": "usbhid-ups", "port": str(dev)}},
            {"source": "usb", "usb": {"driver": "../../bin/sh"}},
            {"source": "usb", "usb": {"driver": "dummy-ups", "port": str(dev)}, "grace": -1},
            {"source": "usb", "name": "bad name!", "usb": {"driver": "dummy-ups"}},
            {"source": "network", "server": {"host": "a b", "user": "x", "password": "p"}},
            {"source": "network", "server": {"host": "h", "user": "x", "password": "p\nq"}},
            {"source": "network", "server": {"host": "h", "user": "x"}},
            {"source": "network", "server": {"host": "h", "port": 0, "user": "x",
                                             "password": "p"}},
            {"source": "serial"}, {"source": "usb", "usb": {"driver": "dummy-ups"},
                                   "extra": 1}):
        status, answer = await box.api.call("PUT", "/api/v1/ups", body)
        assert status == 400, (body, answer)
        assert answer["error"]["code"] in ("invalid_field", "invalid_name"), answer
    assert ups_of(box) == before and before["configured"] is False
    assert not (box.settings.state_dir / "nut" / "upsmon.conf").exists()
    assert await box.daemon.store.intents("ups") == {}


async def test_the_usb_list_is_read_from_this_machine(rockd):
    box = await rockd()
    status, found = await box.api.call("GET", "/api/v1/ups/devices")
    assert status == 200, found
    # this VM has no USB bus: nut-scanner finds nothing, and sysfs has no usb devices
    assert found["devices"] == []
    assert any("nut-scanner" in e for e in found["errors"])
    assert any("no USB bus" in e for e in found["errors"])
