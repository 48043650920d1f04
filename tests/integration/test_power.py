"""Reboot and shutdown: typed confirmation, refused while a job that cannot resume runs (a
device removal) unless forced, a balance paused first, /system/power and the event log say
so, and the final command (a stand-in script that records its call: the one stand-in) runs."""

import subprocess
from pathlib import Path

import pytest

from tests.integration.test_balance_progress import spread_pool
from tests.integration.test_jobs import FINAL, kernel_balancing
from tests.support.rig import wait_for

STAND_IN = """#!/bin/sh
echo "$@" >> {record}
"""


def stand_in(folder: Path) -> tuple[Path, Path]:
    record, script = folder / "power-calls", folder / "power-stand-in"
    script.write_text(STAND_IN.format(record=record))
    script.chmod(0o755)
    return script, record


@pytest.mark.timeout(360)  # a balance and a 1.5 GiB device removal, each bounded below
async def test_power_needs_the_hostname_pauses_a_balance_then_runs_the_command(rockd, tmp_path):
    script, record = stand_in(tmp_path)
    box, pool = await spread_pool(lambda **kw: rockd(
        reboot_command=[str(script), "reboot"], poweroff_command=[str(script), "poweroff"],
        **kw))
    api, tree = box.api, box.daemon.tree
    hostname = tree.get("/system/hostname")
    assert tree.get("/system/power") == {"pending": None}

    for body in ({"confirm": "not-" + hostname}, {"confirm": ""}, {}):
        status, answer = await api.call("POST", "/api/v1/system/reboot", body)
        assert status == 400, answer
    assert answer["error"]["code"] == "invalid_field"
    status, answer = await api.call("POST", "/api/v1/system/reboot", {"confirm": "x"})
    assert (status, answer["error"]["code"]) == (400, "not_confirmed")
    assert not record.exists()

    status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/balance", {})
    assert status == 202, answer
    job_id = answer["job"]["id"]
    await wait_for(lambda: tree.get(("jobs", job_id, "state")) == "running"
                   and (tree.get(("jobs", job_id, "progress")) or 0) > 0, timeout=120)

    status, answer = await api.call("POST", "/api/v1/system/reboot", {"confirm": hostname})
    assert status == 202, answer
    assert answer["pending"] == "reboot" and answer["reason"] == "reboot requested by admin"
    await wait_for(lambda: record.exists(), timeout=30)
    assert record.read_text() == "reboot\n"
    assert tree.get(("jobs", job_id, "state")) == "paused"  # before the command ran
    assert kernel_balancing(pool["mount_point"])  # held paused: resumed at the next mount
    assert tree.get("/system/power")["pending"] == "reboot"
    status, answer = await api.call("POST", "/api/v1/system/shutdown", {"confirm": hostname})
    assert (status, answer["error"]["code"]) == (409, "pending")
    status, events = await api.call("GET", "/api/v1/events?kind=system")
    assert any("going to reboot" in e["message"] for e in events["items"]), events

    # the machine did not go down (a stand-in): rockd starts again as after a reboot
    await box.restart()
    tree = box.daemon.tree
    assert tree.get("/system/power") == {"pending": None}
    status, _ = await api.call("POST", f"/api/v1/jobs/{job_id}/cancel")
    await wait_for(lambda: tree.get(("jobs", job_id, "state")) in FINAL, timeout=120)
    subprocess.run(["btrfs", "balance", "cancel", pool["mount_point"]], capture_output=True)

    # a device removal cannot resume: refused, unless forced
    status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/disks",
                                    {"remove": [box.disks[0]]})
    assert status == 202, answer
    remove_id = answer["job"]["id"]
    await wait_for(lambda: tree.get(("jobs", remove_id, "state")) == "running", timeout=60)
    status, answer = await api.call("POST", "/api/v1/system/shutdown", {"confirm": hostname})
    assert tree.get(("jobs", remove_id, "state")) == "running"  # 1.5 GiB to move off it
    assert (status, answer["error"]["code"]) == (409, "jobs_running"), answer
    assert answer["error"]["detail"]["jobs"] == [remove_id]
    assert record.read_text() == "reboot\n"  # nothing done
    status, answer = await api.call("POST", "/api/v1/system/shutdown",
                                    {"confirm": hostname, "force": True})
    assert status == 202, answer
    await wait_for(lambda: record.read_text() == "reboot\npoweroff\n", timeout=30)
    await wait_for(lambda: tree.get(("jobs", remove_id, "state")) in FINAL, timeout=300)


async def test_shutdown_for_the_ups_and_a_failing_command(rockd, tmp_path):
    script, record = stand_in(tmp_path)
    box = await rockd(poweroff_command=[str(script), "poweroff"],
                      reboot_command=[str(tmp_path / "missing")])
    power = box.daemon.host.power
    await power.shutdown("the UPS battery is low")
    assert record.read_text() == "poweroff\n"
    state = box.daemon.tree.get("/system/power")
    assert state["pending"] == "shutdown" and state["reason"] == "the UPS battery is low"

    await box.restart()
    hostname = box.daemon.tree.get("/system/hostname")
    status, answer = await box.api.call("POST", "/api/v1/system/reboot", {"confirm": hostname})
    assert status == 202, answer
    await wait_for(lambda: box.daemon.tree.get("/system/power")["pending"] is None)
    assert "reboot failed" in box.daemon.tree.get("/system/power")["error"]
