"""The UPS on a real NUT: rockd runs NUT's `dummy-ups` driver, upsd and upsmon itself (the
USB mode, with dummy-ups in the place of usbhid-ups), and the test replays a power failure by
changing the driver's .dev file: the alert is raised at once, power back within the grace
cancels the shutdown, and past the grace (or at a low battery) the shutdown runs the final
poweroff command (a stand-in that records the call)."""

from __future__ import annotations

import asyncio
import json
import time

from pydantic import TypeAdapter

from rockd.core.resources import Ups
from rockd.ups.monitor import TICK
from tests.support.client import free_port
from tests.support.nut import DevFile, PoweroffStandIn, nut_processes
from tests.support.rig import wait_for

GRACE = 4


def ups_of(box) -> dict:
    return box.daemon.tree.get("/ups")


def alert_of(box, kind: str = "ups_on_battery") -> dict | None:
    found = [a for a in (box.daemon.tree.get("/alerts") or {}).values()
             if a["kind"] == kind and a["cleared"] is None]
    return found[0] if found else None


async def usb_rockd(rockd, tmp_path, grace: int = GRACE, low_battery_shutdown: bool = True):
    poweroff = PoweroffStandIn(tmp_path)
    dev = DevFile(tmp_path / "ups.dev")
    box = await rockd(nut_listen=f"127.0.0.1:{free_port()}", poweroff_command=poweroff.argv)
    status, shown = await box.api.call("PUT", "/api/v1/ups", {
        "source": "usb", "name": "rack", "grace": grace,
        "low_battery_shutdown": low_battery_shutdown,
        "usb": {"driver": "dummy-ups", "port": str(dev.path)}})
    assert status == 200, shown
    assert shown["configured"] and shown["source"] == "usb" and shown["driver"] == "dummy-ups"
    await wait_for(lambda: ups_of(box)["status"] == ["OL"], timeout=15)
    return box, dev, poweroff


async def test_power_fails_alerts_at_once_and_power_back_cancels_then_grace_shuts_down(
        rockd, tmp_path):
    box, dev, poweroff = await usb_rockd(rockd, tmp_path)
    ups = ups_of(box)
    assert (ups["status_text"], ups["charge"], ups["runtime"], ups["model"]) == (
        "online", 100.0, 1800, "Dummy Rack 1500")
    assert ups["host"] == "127.0.0.1" and ups["on_battery_since"] is None
    status, got = await box.api.call("GET", "/api/v1/ups")
    assert (status, got) == (200, ups)
    TypeAdapter(Ups).validate_python(ups)  # as declared (no other keys)

    # charge and runtime live while someone watches /ups
    ws = await box.api.stream()
    await ws.send_str(json.dumps({"id": 1, "type": "subscribe", "path": "/ups"}))
    dev.write(**{"battery.charge": "97", "battery.runtime": "1700"})
    await wait_for(lambda: ups_of(box)["charge"] == 97.0 and ups_of(box)["runtime"] == 1700,
                   timeout=8)
    await ws.close()
    await wait_for(lambda: not box.daemon.bus.watching("/ups"))
    await asyncio.sleep(TICK + 0.5)  # the last read while watched: only upsmon's hook now

    # the power fails: the alert at once (upsmon's ONBATT through the hook)
    failed = dev.write(**{"ups.status": "OB DISCHRG"})
    alert = await wait_for(lambda: alert_of(box), timeout=10)
    delay, seen = time.monotonic() - failed, time.time()
    print(f"\nalert {delay:.2f} s after the .dev file changed to OB")
    assert delay < 5.0
    ups = ups_of(box)
    assert ups["on_battery"] and ups["status_text"] == "on battery, discharging"
    assert ups["shutdown_at"] is not None and ups["last_event"] == "ONBATT"
    events = (box.settings.state_dir / "nut" / "events").read_text().splitlines()
    hooked = next(json.loads(line)["at"] for line in events if '"ONBATT"' in line)
    print(f"alert {seen - hooked:.3f} s after upsmon ran the hook for ONBATT")
    assert alert["severity"] == "warning" and "on battery" in alert["message"]
    # on battery: read every few seconds with no one watching
    dev.write(**{"battery.charge": "80"})
    await wait_for(lambda: ups_of(box)["charge"] == 80.0, timeout=8)

    # power back within the grace: the shutdown is off, the alert cleared
    dev.write(**{"ups.status": "OL CHRG"})
    await wait_for(lambda: alert_of(box) is None, timeout=10)
    ups = ups_of(box)
    assert ups["on_battery_since"] is None and ups["shutdown_at"] is None
    assert ups["last_event"] == "ONLINE"
    await asyncio.sleep(GRACE + 1)
    assert poweroff.calls == [] and ups_of(box)["shutting_down"] is None

    # it fails again, and stays off past the grace: a clean shutdown through the host's power
    failed = dev.write(**{"ups.status": "OB DISCHRG"})
    await wait_for(lambda: poweroff.calls, timeout=GRACE + 10)
    took = time.monotonic() - failed
    print(f"poweroff called {took:.2f} s after the power failed (grace {GRACE} s)")
    assert GRACE <= took < GRACE + 6
    ups = ups_of(box)
    assert "on battery for 4 s" in ups["shutting_down"]
    power = box.daemon.tree.get("/system/power")
    assert power["pending"] == "shutdown" and "on battery" in power["reason"]
    assert alert_of(box)["severity"] == "critical"
    TypeAdapter(Ups).validate_python(ups)
    assert len(poweroff.calls) == 1


async def test_low_battery_shuts_down_at_once_and_delete_stops_nut(rockd, tmp_path):
    box, dev, poweroff = await usb_rockd(rockd, tmp_path, grace=600)
    folder = box.settings.state_dir / "nut"
    await wait_for(lambda: len(nut_processes(folder)) >= 4)  # driver, upsd, upsmon's two
    assert oct((folder / "upsmon.conf").stat().st_mode & 0o777) == "0o600"
    dev.write(**{"ups.status": "OB DISCHRG"})
    await wait_for(lambda: alert_of(box), timeout=10)
    failed = dev.write(**{"ups.status": "OB DISCHRG LB", "battery.charge": "9"})
    await wait_for(lambda: poweroff.calls, timeout=10)
    print(f"\npoweroff called {time.monotonic() - failed:.2f} s after the battery got low")
    ups = ups_of(box)
    assert ups["low_battery"] and "low battery" in ups["shutting_down"]
    assert alert_of(box)["severity"] == "critical"

    status, _ = await box.api.call("DELETE", "/api/v1/ups")
    assert status == 204
    assert ups_of(box)["configured"] is False and ups_of(box)["status"] == []
    await wait_for(lambda: not nut_processes(folder), timeout=10)
    assert not (folder / "upsmon.conf").exists()
    await wait_for(lambda: alert_of(box) is None)


async def test_a_restarted_rockd_runs_nut_again_and_stops_it_with_itself(rockd, tmp_path):
    box, dev, _ = await usb_rockd(rockd, tmp_path, grace=600)
    folder = box.settings.state_dir / "nut"
    await box.stop()
    await wait_for(lambda: not nut_processes(folder), timeout=10)
    await box.start()
    await wait_for(lambda: ups_of(box)["status"] == ["OL"] and ups_of(box)["last_error"] is None,
                   timeout=15)
    dev.write(**{"ups.status": "OB DISCHRG"})
    await wait_for(lambda: alert_of(box), timeout=10)
