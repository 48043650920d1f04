"""SMART self-tests, readings and alerts on a real rockd. No disk here has SMART, so smartctl is
stood in for (tests/support/smartctl_standin.py): it answers for the test's loop devices with
real drives' captured reports (ATA, NVMe, SCSI) and runs self-tests as a drive does (90 %, 60 %,
30 % remaining, then a log entry); rockd's parsing, jobs, history and alerts are its own."""

from __future__ import annotations

import subprocess

from pydantic import TypeAdapter

from rockd.core.resources import Disk, Job, SmartHistory
from tests.support.rig import wait_for

WDC = "WDC_WD20EFRX-68EUZN0_18.json"
NVME = "SAMSUNG_MZVL21T0HCLR-00B00_24.json"
SCSI = "SEAGATE_ST373453LC_27.json"
SEAGATE = "ST3500418AS_12.json"


async def smart_box(rockd, loops, standin, drives, **settings):
    """A rockd with one loop device per (report, options) in `drives`, each answered for by
    the stand-in; answers the box and its disks' ids in that order."""
    devices = [loops(64 << 20) for _ in drives]
    for device, (report, options) in zip(devices, drives, strict=True):
        standin.assign(device, report, **options)
    box = await rockd(devices=devices, smart_loops=True, smart_poll=0.1,
                      **{"smart_interval": 3600.0, **settings})
    return box, box.disks


def job_of(box, job_id):
    return box.daemon.tree.get(f"/jobs/{job_id}")


def alerts(box, kind, disk_id):
    return [a for a in (box.daemon.tree.get("/alerts") or {}).values()
            if a["kind"] == kind and a["subject"] == f"/disks/{disk_id}"]


async def ended(box, job_id, timeout=15.0):
    return await wait_for(lambda: job_of(box, job_id)["state"] not in
                          ("queued", "running") and job_of(box, job_id), timeout)


async def test_ata_short_test_shows_progress_and_passes(rockd, loops, standin):
    box, (disk,) = await smart_box(rockd, loops, standin, [(WDC, {"step": 1.2})])
    smart = box.daemon.tree.get(f"/disks/{disk}/smart")
    assert smart["protocol"] == "ATA" and smart["tests"] == ["short", "long", "conveyance"]
    assert (smart["health"], smart["temperature"], smart["power_on_hours"]) == \
        ("passed", 33, 71605)
    assert smart["self_test"] is None and smart["last_test"] is None
    status, answer = await box.api.call("POST", f"/api/v1/disks/{disk}/smart/tests",
                                        {"type": "short"})
    assert status == 202, answer
    job = answer["job"]
    assert (job["kind"], job["target"], job["params"]) == ("smart_test", disk,
                                                           {"type": "short"})
    seen = set()

    def progressed():
        value = job_of(box, job["id"])
        seen.add((value["progress"], value["detail"]))
        running = box.daemon.tree.get(f"/disks/{disk}/smart/self_test")
        if running:
            seen.add(("disk", running["remaining_percent"]))
        return value["state"] not in ("queued", "running")

    await wait_for(progressed, 15.0)
    assert {(0.1, "short self-test: 90% remaining"), (0.4, "short self-test: 60% remaining"),
            (0.7, "short self-test: 30% remaining")} & seen, seen
    assert {("disk", 90), ("disk", 60), ("disk", 30)} <= seen
    done = job_of(box, job["id"])
    assert done["state"] == "succeeded", done
    assert done["result"]["passed"] is True and done["result"]["type"] == "short"
    assert done["result"]["entry"]["status"] == "Completed without error"
    assert done["detail"] == "short self-test passed: Completed without error"
    last = box.daemon.tree.get(f"/disks/{disk}/smart/last_test")
    assert (last["kind"], last["passed"], last["lifetime_hours"]) == ("short", True, 71605)
    assert standin.started(box.devices[0]) == ["short"]
    status, history = await box.api.call("GET", f"/api/v1/disks/{disk}/smart/history")
    assert status == 200, history
    assert history["self_tests"][0]["type"] == "Short offline" and history["self_tests_read"]
    assert len(history["readings"]) >= 2  # at start, and after the test
    status, refused = await box.api.call("GET", f"/api/v1/disks/{disk}/smart/history?days=0")
    assert (status, refused["error"]["code"]) == (400, "invalid_field"), refused
    assert history["readings"][-1]["reallocated_sectors"] == 0
    assert history["readings"][-1]["temperature"] == 33
    # what the tree and the API answer is what the OpenAPI document declares
    TypeAdapter(SmartHistory).validate_python(history)
    TypeAdapter(dict[str, Disk]).validate_python(box.daemon.tree.get("/disks"))
    TypeAdapter(Job).validate_python(done)


async def test_nvme_refusals_and_a_failed_test_alerted_until_one_passes(rockd, loops,
                                                                          standin):
    box, (disk,) = await smart_box(rockd, loops, standin, [(NVME, {"step": 0.3,
                                                                   "result": "failed"})])
    device = box.devices[0]
    path = f"/api/v1/disks/{disk}/smart/tests"
    assert box.daemon.tree.get(f"/disks/{disk}/smart/tests") == ["short", "long"]
    status, answer = await box.api.call("POST", path, {"type": "conveyance"})
    assert (status, answer["error"]["code"]) == (422, "test_unsupported"), answer
    assert answer["error"]["detail"]["offered"] == ["short", "long"]
    status, answer = await box.api.call("POST", path, {"type": "offline"})
    assert (status, answer["error"]["code"]) == (400, "invalid_field"), answer
    status, answer = await box.api.call("POST", "/api/v1/disks/nope/smart/tests",
                                        {"type": "short"})
    assert status == 404, answer
    assert standin.started(device) == []  # nothing was started
    status, answer = await box.api.call("POST", path, {"type": "short"})
    assert status == 202, answer
    job_id = answer["job"]["id"]
    status, again = await box.api.call("POST", path, {"type": "long"})
    assert (status, again["error"]["code"]) == (409, "test_running"), again
    done = await ended(box, job_id)
    assert done["state"] == "succeeded" and done["result"]["passed"] is False, done
    entry = done["result"]["entry"]
    assert (entry["status"], entry["lba"]) == ("Completed: failed segments", 1234567)
    assert done["detail"] == ("short self-test FAILED: Completed: failed segments at LBA "
                              "1234567")
    raised = await wait_for(lambda: alerts(box, "smart_test_failed", disk))
    assert raised[0]["severity"] == "critical" and raised[0]["cleared"] is None
    assert "failed segments" in raised[0]["message"]
    standin.edit(device, result="passed")
    status, answer = await box.api.call("POST", path, {"type": "long"})
    assert status == 202, answer
    done = await ended(box, answer["job"]["id"])
    assert done["result"]["passed"] is True, done
    await wait_for(lambda: alerts(box, "smart_test_failed", disk)[0]["cleared"])
    assert standin.started(device) == ["short", "long"]


async def test_scsi_long_test_cancelled_with_abort(rockd, loops, standin):
    box, (disk,) = await smart_box(rockd, loops, standin, [(SCSI, {"step": 5.0})])
    assert box.daemon.tree.get(f"/disks/{disk}/smart/protocol") == "SCSI"
    status, answer = await box.api.call("POST", f"/api/v1/disks/{disk}/smart/tests",
                                        {"type": "long"})
    assert status == 202, answer
    job_id = answer["job"]["id"]
    await wait_for(lambda: job_of(box, job_id)["detail"] == "long self-test: in progress")
    assert job_of(box, job_id)["progress"] is None  # SCSI gives no percentage
    running = box.daemon.tree.get(f"/disks/{disk}/smart/self_test")
    assert running["type"] == "long" and running["remaining_percent"] is None
    status, answer = await box.api.call("POST", f"/api/v1/jobs/{job_id}/cancel")
    assert status in (200, 202), answer
    done = await ended(box, job_id)
    assert done["state"] == "cancelled", done
    assert any("-X" in argv for argv in standin.calls())
    last = box.daemon.tree.get(f"/disks/{disk}/smart/last_test")
    assert last["status"] == "Aborted (by user command)"


async def test_health_changes_raise_alerts_that_clear(rockd, loops, standin):
    box, (disk,) = await smart_box(rockd, loops, standin, [(SEAGATE, {"conveyance": False})],
                                   smart_interval=0.3)
    device = box.devices[0]
    assert box.daemon.tree.get(f"/disks/{disk}/smart/tests") == ["short", "long"]
    status, answer = await box.api.call("POST", f"/api/v1/disks/{disk}/smart/tests",
                                        {"type": "conveyance"})
    assert (status, answer["error"]["code"]) == (422, "test_unsupported"), answer
    # the real drive's report holds 304 reallocated sectors: alerted from the first reading
    failing = await wait_for(lambda: alerts(box, "smart_failing", disk))
    assert failing[0]["severity"] == "warning"
    assert "has reallocated sectors 304." in failing[0]["message"]
    standin.edit(device, attributes={5: 310, 197: 2, 198: 1}, temperature=70)
    await wait_for(lambda: "reallocated sectors 310, pending sectors 2, offline "
                   "uncorrectable 1" in alerts(box, "smart_failing", disk)[0]["message"])
    hot = await wait_for(lambda: alerts(box, "disk_temperature", disk))
    assert hot[0]["severity"] == "critical" and "70 °C" in hot[0]["message"]
    standin.edit(device, health=False)
    await wait_for(lambda: alerts(box, "smart_failing", disk)[0]["severity"] == "critical")
    standin.edit(device, attributes={5: 0, 197: 0, 198: 0}, temperature=30, health=True)
    await wait_for(lambda: all(a["cleared"] for kind in ("smart_failing", "disk_temperature")
                               for a in alerts(box, kind, disk)))
    assert len(alerts(box, "smart_failing", disk)) == 1  # one alert, grown, then cleared
    status, history = await box.api.call("GET", f"/api/v1/disks/{disk}/smart/history?days=1")
    assert status == 200, history
    counts = [r["reallocated_sectors"] for r in history["readings"]]
    assert counts[0] == 304 and 310 in counts and counts[-1] == 0, counts
    assert {r["temperature"] for r in history["readings"]} >= {70, 30}


async def test_a_running_test_is_followed_again_after_a_restart(rockd, loops, standin):
    box, (disk,) = await smart_box(rockd, loops, standin, [(WDC, {"step": 1.5})])
    status, answer = await box.api.call("POST", f"/api/v1/disks/{disk}/smart/tests",
                                        {"type": "long"})
    assert status == 202, answer
    job_id = answer["job"]["id"]
    await wait_for(lambda: "remaining" in job_of(box, job_id)["detail"])
    await box.restart()
    done = await ended(box, job_id)
    assert done["state"] == "succeeded", done
    assert done["detail"] == ("long self-test passed: Completed without error (followed "
                              "again after a restart)")
    assert standin.started(box.devices[0]) == ["long"]


async def test_a_disk_spun_down_is_left_asleep_by_the_readings(rockd, loops, standin):
    box, (disk,) = await smart_box(rockd, loops, standin, [(WDC, {})], smart_interval=0.2)
    device = box.devices[0]
    standin.edit(device, asleep=True, temperature=45)
    calls = len(standin.calls())

    def readings():
        return [argv for argv in standin.calls()[calls:] if argv[-1] == device]

    await wait_for(lambda: len(readings()) >= 3)
    # a udev event of the disk (its probe reads SMART too) leaves it asleep as well
    before = len(readings())
    subprocess.run(["udevadm", "trigger", "--action=change", device], check=True)
    await wait_for(lambda: len(readings()) >= before + 3)
    assert all(argv[-3:] == ["-n", "standby", device] for argv in readings()), readings()
    assert box.daemon.tree.get(f"/disks/{disk}/smart/temperature") == 33  # as last read
    status, history = await box.api.call("GET", f"/api/v1/disks/{disk}/smart/history")
    assert status == 200 and {r["temperature"] for r in history["readings"]} == {33}
    standin.edit(device, asleep=False)
    await wait_for(lambda: box.daemon.tree.get(f"/disks/{disk}/smart/temperature") == 45)
