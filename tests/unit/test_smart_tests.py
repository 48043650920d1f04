"""Self-test parsing (storage/smart_tests.py) on the real captured reports as the smartctl
stand-in edits them (only the self-test status and log), the job's reading of its log entry,
and the disk alert rules."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime

import pytest

from rockd.alerts.rules import Facts, evaluate
from rockd.jobs.smart_test import describe, new_entry
from rockd.storage import smart, smart_tests
from tests.support.smartctl_standin import Smartctl

DRIVES = {"ATA": "WDC_WD20EFRX-68EUZN0_18.json", "NVMe": "nvme-null-CT250P2SSD8-nvme0.json",
          "SCSI": "SEAGATE_ST373453LC_27.json"}


def report(standin: Smartctl, *argv: str) -> tuple[int, dict]:
    done = subprocess.run([str(standin.path / "smartctl"), *argv], capture_output=True,
                          text=True, check=False)
    return done.returncode, json.loads(done.stdout)


@pytest.mark.parametrize("protocol", DRIVES)
def test_a_test_runs_and_ends_in_the_log(tmp_path, protocol):
    standin = Smartctl(tmp_path)
    device = f"/dev/stand-in-{protocol}"
    standin.assign(device, DRIVES[protocol], step=0.25, result="failed")
    status, before = report(standin, "--json", "-x", device)
    parsed = smart.parse(before)
    assert status == 0 and smart.supported(before)
    assert parsed["summary"]["protocol"] == protocol
    assert parsed["summary"]["tests"] == (["short", "long", "conveyance"] if protocol == "ATA"
                                          else ["short", "long"])
    assert parsed["summary"]["self_test"] is None and parsed["summary"]["last_test"] is None
    assert report(standin, "-t", "long", "--json", device)[0] == 0
    status, busy = report(standin, "-t", "short", "--json", device)
    assert status == 4 and "aborting current test" in busy["smartctl"]["messages"][0]["string"]
    running = smart_tests.running(report(standin, "--json", "-x", device)[1])
    assert running is not None
    if protocol == "SCSI":
        assert running == {"type": "long", "remaining_percent": None,
                           "status": "Self test in progress ..."}
    else:
        assert running["remaining_percent"] == 90
        assert running["type"] == (None if protocol == "ATA" else "long")
    time.sleep(0.8)
    after = smart.parse(report(standin, "--json", "-x", device)[1])
    assert after["summary"]["self_test"] is None
    entry = new_entry(parsed["self_tests"], after["self_tests"])
    assert entry is not None and entry["passed"] is False and entry["lba"] == 1234567
    assert after["summary"]["last_test"] == {**entry, "kind": "long"}
    assert describe("long", entry).startswith("long self-test FAILED: ")
    assert new_entry(after["self_tests"], after["self_tests"]) is None


def test_conveyance_is_refused_where_not_offered(tmp_path):
    standin = Smartctl(tmp_path)
    standin.assign("/dev/a", DRIVES["ATA"], conveyance=False)
    standin.assign("/dev/n", DRIVES["NVMe"])
    parsed = smart.parse(report(standin, "--json", "-x", "/dev/a")[1])
    assert parsed["summary"]["tests"] == ["short", "long"]
    for device in ("/dev/a", "/dev/n"):
        assert report(standin, "-t", "conveyance", "--json", device)[0] == 4


def test_new_entry_in_a_full_ring_of_equal_entries():
    same = {"type": "Short offline", "status": "Completed without error", "passed": True,
            "lifetime_hours": 5, "lba": None, "in_progress": False}
    assert new_entry([same] * 21, [same] * 21) is None
    assert new_entry([same] * 3, [same] * 4) == same
    other = {**same, "lifetime_hours": 6}
    assert new_entry([same] * 21, [other] + [same] * 20) == other
    assert new_entry([], [{**same, "in_progress": True}]) is None


def disk(smart_summary: dict) -> dict:
    return {"disks": {"d1": {"path": "/dev/sda", "model": "M", "smart": smart_summary}}}


def kinds(root: dict) -> dict[str, str]:
    facts = Facts(datetime.now(UTC))
    return {c.kind: c.severity for c in evaluate("disks", root, facts)}


def test_disk_rules():
    base = {"health": "passed", "temperature": 40, "reallocated_sectors": 0,
            "pending_sectors": 0, "offline_uncorrectable": 0, "protocol": "ATA",
            "last_test": None}
    assert kinds(disk(base)) == {}
    assert kinds(disk({**base, "offline_uncorrectable": 2})) == {"smart_failing": "warning"}
    assert kinds(disk({**base, "health": "failed"})) == {"smart_failing": "critical"}
    assert kinds(disk({**base, "temperature": 56})) == {"disk_temperature": "warning"}
    assert kinds(disk({**base, "temperature": 65})) == {"disk_temperature": "critical"}
    assert kinds(disk({**base, "temperature": 65, "protocol": "NVMe"})) == {}
    failed = {"kind": "short", "type": "Short offline", "status": "Completed: read failure",
              "passed": False, "lba": 7, "lifetime_hours": 1, "in_progress": False}
    assert kinds(disk({**base, "last_test": failed})) == {"smart_test_failed": "critical"}
    assert kinds(disk({**base, "last_test": {**failed, "passed": True}})) == {}
    assert kinds(disk(None)) == {}
