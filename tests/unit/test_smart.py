"""SMART parsing on real smartctl reports (tests/data/smartctl/README.md), and read() on a loop."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rockd.core.errors import Unprocessable
from rockd.storage import smart

DATA = Path(__file__).resolve().parents[1] / "data" / "smartctl"
DRIVES = ["WDC_WD20EFRX-68EUZN0_18.json", "ST3500418AS_12.json",
          "SAMSUNG_MZ7WD240HAFV-00003_22.json", "SAMSUNG_MZVL21T0HCLR-00B00_24.json",
          "nvme-null-CT250P2SSD8-nvme0.json", "SEAGATE_ST373453LC_27.json"]
SHAPE = {"health", "temperature", "power_on_hours", "power_cycles", "model", "serial",
         "firmware", "rotation_rate", "attributes", "self_tests", "summary"}
SUMMARY = {"health", "temperature", "power_on_hours", "reallocated_sectors", "pending_sectors",
           "offline_uncorrectable", "media_errors", "percentage_used", "protocol", "tests",
           "self_test", "last_test"}
NO_TESTS = {"self_test": None, "last_test": None}
"""Captured without -c or -l selftest: neither the running test nor a log is in the reports
(tests/unit/test_smart_tests.py reads the stand-in's, which add them)."""


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def attribute(parsed: dict, key) -> dict:
    """The ATA attribute with this id, or the NVMe/SCSI item with this name."""
    field = "id" if isinstance(key, int) else "name"
    found = [a for a in parsed["attributes"] if a.get(field) == key]
    assert len(found) == 1, (key, parsed["attributes"])
    return found[0]


def test_wd_red_sata_hdd():
    p = smart.parse(load("WDC_WD20EFRX-68EUZN0_18.json"))
    assert set(p) == SHAPE and set(p["summary"]) == SUMMARY
    assert (p["health"], p["temperature"], p["power_on_hours"], p["power_cycles"]) == \
        ("passed", 33, 71605, 7)
    assert (p["model"], p["serial"], p["firmware"], p["rotation_rate"]) == \
        ("WDC WD20EFRX-68EUZN0", "REDACTED", "REDACTED", 5400)
    assert len(p["attributes"]) == 17
    assert attribute(p, 5) == {"id": 5, "name": "Reallocated_Sector_Ct", "value": 200,
                               "worst": 200, "threshold": 140, "raw": 0, "raw_string": "0",
                               "failing_now": False}
    assert attribute(p, 193)["raw"] == 3657
    assert attribute(p, 3) == {"id": 3, "name": "Spin_Up_Time", "value": 177,
                                    "worst": 177, "threshold": 21, "raw": 4150,
                                    "raw_string": "4150", "failing_now": False}
    assert not any(a["failing_now"] for a in p["attributes"])
    assert p["self_tests"] == []  # captured without -x: no self-test log in the report
    assert p["summary"] == {"health": "passed", "temperature": 33, "power_on_hours": 71605,
                            "reallocated_sectors": 0, "pending_sectors": 0,
                            "offline_uncorrectable": 0, "media_errors": None,
                            "percentage_used": None, "protocol": "ATA", "tests": [],
                            **NO_TESTS}


def test_seagate_barracuda_with_reallocated_sectors_and_packed_raw_values():
    p = smart.parse(load("ST3500418AS_12.json"))
    assert (p["health"], p["temperature"], p["power_on_hours"], p["power_cycles"]) == \
        ("passed", 33, 44668, 26)
    assert (p["model"], p["rotation_rate"]) == ("ST3500418AS", 7200)
    assert len(p["attributes"]) == 22
    realloc = attribute(p, 5)
    assert (realloc["value"], realloc["worst"], realloc["threshold"], realloc["raw"]) == \
        (93, 93, 36, 304)
    # Vendor-packed raw values: the number is smartctl's 48-bit raw, the string its decoding.
    temp = attribute(p, 194)
    assert (temp["raw"], temp["raw_string"]) == (81604378657, "33 (0 19 0 0 0)")
    flying = attribute(p, 240)
    assert (flying["name"], flying["raw"], flying["raw_string"]) == \
        ("Head_Flying_Hours", 119898307157947, "122811 (109 12 0)")
    assert attribute(p, 189) == {"id": 189, "name": "High_Fly_Writes", "value": 98,
                                      "worst": 98, "threshold": 0, "raw": 2,
                                      "raw_string": "2", "failing_now": False}
    assert p["self_tests"] == []
    assert p["summary"] == {"health": "passed", "temperature": 33, "power_on_hours": 44668,
                            "reallocated_sectors": 304, "pending_sectors": 0,
                            "offline_uncorrectable": 0, "media_errors": None,
                            "percentage_used": None, "protocol": "ATA", "tests": [],
                            **NO_TESTS}


def test_samsung_sata_ssd():
    p = smart.parse(load("SAMSUNG_MZ7WD240HAFV-00003_22.json"))
    assert (p["health"], p["temperature"], p["power_on_hours"], p["power_cycles"]) == \
        ("passed", 27, 84620, 6)
    assert (p["model"], p["rotation_rate"]) == ("SAMSUNG MZ7WD240HAFV-00003", 0)
    assert len(p["attributes"]) == 17
    wear = attribute(p, 177)
    assert (wear["name"], wear["value"], wear["worst"], wear["threshold"], wear["raw"]) == \
        ("Wear_Leveling_Count", 90, 90, 5, 1773)
    assert attribute(p, 241)["raw"] == 218759569150
    assert attribute(p, 190)["raw"] == 27
    assert p["self_tests"] == []
    # No attribute 197 on this SSD: pending sectors are unknown, not zero.
    assert p["summary"] == {"health": "passed", "temperature": 27, "power_on_hours": 84620,
                            "reallocated_sectors": 0, "pending_sectors": None,
                            "offline_uncorrectable": None, "media_errors": None,
                            "percentage_used": None, "protocol": "ATA", "tests": [],
                            **NO_TESTS}


def test_samsung_nvme():
    p = smart.parse(load("SAMSUNG_MZVL21T0HCLR-00B00_24.json"))
    assert (p["health"], p["temperature"], p["power_on_hours"], p["power_cycles"]) == \
        ("passed", 30, 10407, 6)
    assert (p["model"], p["rotation_rate"]) == ("SAMSUNG MZVL21T0HCLR-00B00", None)
    assert len(p["attributes"]) == 18
    assert all(set(a) == {"name", "value"} for a in p["attributes"])
    assert attribute(p, "percentage_used")["value"] == 16
    assert attribute(p, "data_units_written")["value"] == 118137665
    assert attribute(p, "host_writes")["value"] == 2247575122
    assert attribute(p, "unsafe_shutdowns")["value"] == 1
    assert attribute(p, "temperature_sensors")["value"] == [30, 31]
    assert p["self_tests"] == []
    assert p["summary"] == {"health": "passed", "temperature": 30, "power_on_hours": 10407,
                            "reallocated_sectors": None, "pending_sectors": None,
                            "offline_uncorrectable": None, "media_errors": 0,
                            "percentage_used": 16, "protocol": "NVMe", "tests": [],
                            **NO_TESTS}


def test_crucial_nvme():
    p = smart.parse(load("nvme-null-CT250P2SSD8-nvme0.json"))
    assert (p["health"], p["temperature"], p["power_on_hours"], p["power_cycles"]) == \
        ("passed", 26, 10147, 8)
    assert p["model"] == "CT250P2SSD8"
    assert attribute(p, "num_err_log_entries")["value"] == 1
    assert attribute(p, "unsafe_shutdowns")["value"] == 5
    assert attribute(p, "available_spare_threshold")["value"] == 5
    # The drive's own sensor reads 40 while its composite temperature is 26: kept as reported.
    assert attribute(p, "temperature_sensors")["value"] == [40]
    assert p["summary"]["percentage_used"] == 0 and p["summary"]["media_errors"] == 0
    assert p["summary"]["reallocated_sectors"] is None


def test_seagate_cheetah_scsi():
    report = load("SEAGATE_ST373453LC_27.json")
    p = smart.parse(report)
    assert (p["health"], p["temperature"], p["power_on_hours"], p["power_cycles"]) == \
        ("passed", 34, 91691, None)
    assert (p["model"], p["firmware"], p["rotation_rate"]) == \
        ("SEAGATE ST373453LC", "DX10", 15015)
    assert len(p["attributes"]) == 22  # 3 directions x 7 counters + the grown defect list
    assert attribute(p, "grown_defect_list")["value"] == 0
    assert attribute(p, "read.total_errors_corrected")["value"] == 128691425
    assert attribute(p, "read.correction_algorithm_invocations")["value"] == 128691559
    assert attribute(p, "read.total_uncorrected_errors")["value"] == 0
    assert attribute(p, "verify.errors_corrected_by_eccfast")["value"] == 342052
    assert attribute(p, "write.gigabytes_processed")["value"] == "13782.768"
    assert p["self_tests"] == []
    assert p["summary"] == {"health": "passed", "temperature": 34, "power_on_hours": 91691,
                            "reallocated_sectors": 0, "pending_sectors": None,
                            "offline_uncorrectable": None, "media_errors": None,
                            "percentage_used": None, "protocol": "SCSI",
                            "tests": ["short", "long"], **NO_TESTS}
    # SMART present though smartctl says it is not enabled: still a device with SMART.
    assert report["smart_support"] == {"available": True, "enabled": False}
    assert smart.supported(report)


@pytest.mark.parametrize("name", DRIVES)
def test_every_real_drive_is_supported(name):
    assert smart.supported(load(name))


def test_loop_device_report_is_unsupported():
    report = load("loop-device.json")
    assert smart.exit_status(report) == 1
    assert not smart.supported(report)
    p = smart.parse(report)
    assert p["health"] is None and p["attributes"] == [] and p["self_tests"] == []
    assert p["summary"] == {**dict.fromkeys(SUMMARY), "tests": []}


def test_exit_status_bits():
    report = load("WDC_WD20EFRX-68EUZN0_18.json")
    for status, expected in ((0, True), (1, False), (2, False), (3, False),
                             (4, True), (8, True), (0x18, True), (0xC0, True)):
        changed = copy.deepcopy(report)
        changed["smartctl"]["exit_status"] = status
        assert smart.supported(changed) is expected, status


def test_smart_support_unavailable_is_unsupported():
    report = load("SAMSUNG_MZ7WD240HAFV-00003_22.json")
    report["smart_support"]["available"] = False
    assert not smart.supported(report)


@pytest.mark.parametrize("name", [*DRIVES, "loop-device.json"])
def test_any_key_may_be_missing(name):
    report = load(name)
    for key in report:
        parsed = smart.parse({k: v for k, v in report.items() if k != key})
        assert set(parsed) == SHAPE and set(parsed["summary"]) == SUMMARY
        smart.supported({k: v for k, v in report.items() if k != key})
    empty = smart.parse({})
    assert empty["attributes"] == [] and empty["self_tests"] == []
    assert {k: v for k, v in empty.items() if k not in ("attributes", "self_tests", "summary")} \
        == dict.fromkeys(SHAPE - {"attributes", "self_tests", "summary"})
    assert not smart.supported({})


def test_attribute_rows_with_missing_fields():
    report = load("ST3500418AS_12.json")
    for row in report["ata_smart_attributes"]["table"]:
        del row["raw"], row["thresh"]
    report["ata_smart_attributes"]["table"].append("not a row")
    p = smart.parse(report)
    assert len(p["attributes"]) == 22
    assert attribute(p, 5)["raw"] is None and attribute(p, 5)["threshold"] is None
    assert p["summary"]["reallocated_sectors"] is None


def fake_smartctl(directory: Path, stdout_file: Path | None, status: int, monkeypatch) -> None:
    """A `smartctl` first on PATH that prints a file (or no JSON) and exits with `status`."""
    script = directory / "smartctl"
    body = f"cat '{stdout_file}'" if stdout_file else "echo 'smartctl: not JSON'"
    script.write_text(f"#!/bin/sh\n{body}\nexit {status}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}/usr/bin{os.pathsep}/bin")


async def test_read_parses_a_report_even_when_the_disk_is_failing(tmp_path, monkeypatch):
    # Exit bits 2+ are about the disk's health: the report must still come back.
    fake_smartctl(tmp_path, DATA / "ST3500418AS_12.json", 4 | 32, monkeypatch)
    p = await smart.read("/dev/sda")
    assert p == smart.parse(load("ST3500418AS_12.json"))
    assert p["summary"]["reallocated_sectors"] == 304


async def test_read_refuses_what_smartctl_could_not_open(tmp_path, monkeypatch):
    fake_smartctl(tmp_path, DATA / "WDC_WD20EFRX-68EUZN0_18.json", 2, monkeypatch)
    with pytest.raises(Unprocessable) as caught:
        await smart.read("/dev/sda")
    assert caught.value.code == "smart_unsupported" and caught.value.status == 422


async def test_read_refuses_output_that_is_not_json(tmp_path, monkeypatch):
    fake_smartctl(tmp_path, None, 0, monkeypatch)
    with pytest.raises(Unprocessable) as caught:
        await smart.read("/dev/sda")
    assert caught.value.code == "smart_unsupported"


async def test_read_without_smartctl_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Unprocessable) as caught:
        await smart.read("/dev/sda")
    assert caught.value.code == "smart_unsupported"
    assert "not installed" in caught.value.message


@pytest.fixture
def loop_device(tmp_path):
    """A loop device on a 64 MiB sparse file of this test's own; detached at the end."""
    if os.geteuid() != 0:
        pytest.skip("needs root for loop devices")
    image = tmp_path / "smart.img"
    with image.open("wb") as f:
        f.truncate(64 << 20)
    device = subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                            capture_output=True, text=True).stdout.strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "--detach", device], check=False)


@pytest.mark.root
async def test_read_on_a_real_loop_device(loop_device):
    if shutil.which("smartctl") is None:
        pytest.skip("smartctl (smartmontools) is not installed")
    with pytest.raises(Unprocessable) as caught:
        await smart.read(loop_device)
    error = caught.value
    assert error.code == "smart_unsupported" and error.status == 422
    assert error.detail["device"] == loop_device
    assert error.detail["exit_status"] & smart.EXIT_NOT_READ
