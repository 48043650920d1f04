"""SMART data: reading `smartctl --json` for a disk and turning it into rockd's JSON shape.

`parse()` takes one smartctl report (ATA/SATA, SCSI/SAS or NVMe) and answers health, identity,
attributes, self-tests and a short summary for the disk's entry in the state tree. Every key of
the report may be missing; what is missing comes out as null or an empty list.
`supported()` tells whether the report shows a device that has SMART at all, and `read()` runs
smartctl on one device and raises 422 `smart_unsupported` where it has none. `summaries()` reads
many devices at once, CONCURRENCY at a time (start-up reads every disk of the box this way).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from typing import Any

from rockd.core.errors import Unprocessable
from rockd.core.process import CommandError, run
from rockd.storage import smart_tests

log = logging.getLogger(__name__)

# smartctl's exit status is a bit mask. Bits 0 and 1 mean that it never talked to the device
# ("command line did not parse", "device open failed"); bits 2 and up are about the disk itself
# (a failed command, health failing, prefail attributes, error or self-test logs) and leave a
# report that is worth showing.
EXIT_NOT_READ = 0b11

CONCURRENCY = 8
"""smartctl processes run at once by `summaries`: a disk answers in about half a second, so
sixty disks take four seconds, not thirty."""

ATA_REALLOCATED = 5
ATA_PENDING = 197
ATA_OFFLINE_UNCORRECTABLE = 198
SCSI_COUNTER_DIRECTIONS = ("read", "write", "verify")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    """An integer, or None for anything else (bool is not an integer here)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _health(report: dict[str, Any]) -> str | None:
    passed = _dict(report.get("smart_status")).get("passed")
    if isinstance(passed, bool):
        return "passed" if passed else "failed"
    return None


def _ata_attributes(report: dict[str, Any]) -> list[dict[str, Any]]:
    table = _list(_dict(report.get("ata_smart_attributes")).get("table"))
    attributes = []
    for row in table:
        if not isinstance(row, dict):
            continue
        raw = _dict(row.get("raw"))
        attributes.append({
            "id": _int(row.get("id")),
            "name": _str(row.get("name")),
            "value": _int(row.get("value")),
            "worst": _int(row.get("worst")),
            "threshold": _int(row.get("thresh")),
            "raw": _int(raw.get("value")),
            "raw_string": _str(raw.get("string")),
            "failing_now": row.get("when_failed") == "now",
        })
    return attributes


def _nvme_attributes(report: dict[str, Any]) -> list[dict[str, Any]]:
    health_log = _dict(report.get("nvme_smart_health_information_log"))
    return [{"name": name, "value": value} for name, value in health_log.items()]


def _scsi_attributes(report: dict[str, Any]) -> list[dict[str, Any]]:
    counters = _dict(report.get("scsi_error_counter_log"))
    attributes = [
        {"name": f"{direction}.{name}", "value": value}
        for direction in SCSI_COUNTER_DIRECTIONS
        for name, value in _dict(counters.get(direction)).items()
    ]
    if "scsi_grown_defect_list" in report:
        attributes.append({"name": "grown_defect_list",
                           "value": report["scsi_grown_defect_list"]})
    return attributes


def _ata_self_tests(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The extended (GP) self-test log where smartctl read it, else the standard one."""
    logs = _dict(report.get("ata_smart_self_test_log"))
    table = (_list(_dict(logs.get("extended")).get("table"))
             or _list(_dict(logs.get("standard")).get("table")))
    tests = []
    for row in table:
        if not isinstance(row, dict):
            continue
        status = _dict(row.get("status"))
        tests.append({
            "type": _str(_dict(row.get("type")).get("string")),
            "status": _str(status.get("string")),
            "passed": status.get("passed") is True,
            "lifetime_hours": _int(row.get("lifetime_hours")),
            "lba": _int(row.get("lba")),
            "in_progress": (_int(status.get("value")) or 0) >> 4 == smart_tests.IN_PROGRESS,
        })
    return tests


def _nvme_self_tests(report: dict[str, Any]) -> list[dict[str, Any]]:
    tests = []
    for row in _list(_dict(report.get("nvme_self_test_log")).get("table")):
        if not isinstance(row, dict):
            continue
        result = _dict(row.get("self_test_result"))
        tests.append({
            "type": _str(_dict(row.get("self_test_code")).get("string")),
            "status": _str(result.get("string")),
            "passed": _int(result.get("value")) == 0,  # 0: "Completed without error"
            "lifetime_hours": _int(row.get("power_on_hours")),
            "lba": _int(row.get("lba")),
            "in_progress": False,  # the running test is in the log's header, not its table
        })
    return tests


def _scsi_self_tests(report: dict[str, Any]) -> list[dict[str, Any]]:
    """smartctl's `scsi_self_test_0` (the newest), `scsi_self_test_1`, ... entries."""
    tests = []
    number = 0
    while isinstance(row := report.get(f"scsi_self_test_{number}"), dict):
        result = _dict(row.get("result"))
        tests.append({
            "type": _str(_dict(row.get("code")).get("string")),
            "status": _str(result.get("string")),
            "passed": _int(result.get("value")) == 0,  # 0: "Completed"
            "lifetime_hours": _int(_dict(row.get("power_on_time")).get("hours")),
            "lba": _int(_dict(row.get("lba_first_failure")).get("value")),
            "in_progress": (row.get("self_test_in_progress") is True
                            or _int(result.get("value")) == smart_tests.IN_PROGRESS),
        })
        number += 1
    return tests


def _raw_of(attributes: list[dict[str, Any]], attribute_id: int) -> int | None:
    return next((a["raw"] for a in attributes if a.get("id") == attribute_id), None)


def parse(report: dict[str, Any]) -> dict[str, Any]:
    """One `smartctl --json -a`/`-x` report in rockd's shape.

    `{health: "passed"|"failed"|None, temperature (°C), power_on_hours, power_cycles, model,
    serial, firmware, rotation_rate (rpm, 0 for an SSD, None where smartctl gives none),
    attributes, self_tests, summary: {health, temperature, power_on_hours,
    reallocated_sectors, pending_sectors, offline_uncorrectable, media_errors, percentage_used,
    protocol, tests (the self-tests offered), self_test (the one running, or None), last_test
    (the newest that ended, or None)}}` (see `smart_tests`). Attributes are
    `{id, name, value, worst, threshold, raw, raw_string, failing_now}` for ATA, and
    `{name, value}` for NVMe (the health log) and SCSI (error counters, grown defects).
    Self-tests, newest first: `{type, status, passed, lifetime_hours, lba, in_progress}`.
    """
    report = _dict(report)
    nvme = _dict(report.get("nvme_smart_health_information_log"))
    ata = _ata_attributes(report)
    attributes = ata + _nvme_attributes(report) + _scsi_attributes(report)
    health = _health(report)
    self_tests = _ata_self_tests(report) + _nvme_self_tests(report) + _scsi_self_tests(report)
    temperature = _first(_int(_dict(report.get("temperature")).get("current")),
                         _int(nvme.get("temperature")))
    power_on_hours = _first(_int(_dict(report.get("power_on_time")).get("hours")),
                            _int(nvme.get("power_on_hours")))
    return {
        "health": health,
        "temperature": temperature,
        "power_on_hours": power_on_hours,
        "power_cycles": _first(_int(report.get("power_cycle_count")),
                               _int(nvme.get("power_cycles"))),
        "model": _first(_str(report.get("model_name")), _str(report.get("scsi_model_name"))),
        "serial": _str(report.get("serial_number")),
        "firmware": _first(_str(report.get("firmware_version")),
                           _str(report.get("scsi_revision"))),
        "rotation_rate": _int(report.get("rotation_rate")),
        "attributes": attributes,
        "self_tests": self_tests,
        "summary": {
            "health": health,
            "temperature": temperature,
            "power_on_hours": power_on_hours,
            "reallocated_sectors": _first(_raw_of(ata, ATA_REALLOCATED),
                                          _int(report.get("scsi_grown_defect_list"))),
            "pending_sectors": _raw_of(ata, ATA_PENDING),
            "offline_uncorrectable": _raw_of(ata, ATA_OFFLINE_UNCORRECTABLE),
            "media_errors": _int(nvme.get("media_errors")),
            "percentage_used": _int(nvme.get("percentage_used")),
            "protocol": smart_tests.protocol(report),
            "tests": smart_tests.offered(report),
            "self_test": smart_tests.running(report),
            "last_test": smart_tests.last(self_tests),
        },
    }


def exit_status(report: dict[str, Any]) -> int | None:
    """smartctl's exit status as the report itself records it."""
    return _int(_dict(_dict(report).get("smartctl")).get("exit_status"))


def supported(report: dict[str, Any]) -> bool:
    """Whether the report shows a device with SMART (false for loop, virtio and the like)."""
    report = _dict(report)
    if (exit_status(report) or 0) & EXIT_NOT_READ:
        return False
    support = _dict(report.get("smart_support"))
    if support.get("available") is False:
        return False
    return (support.get("available") is True
            or isinstance(report.get("smart_status"), dict)
            or _dict(report.get("device")).get("protocol") == "NVMe"
            or any(key in report for key in ("ata_smart_attributes",
                                             "nvme_smart_health_information_log",
                                             "scsi_error_counter_log")))


def messages(report: dict[str, Any]) -> list[str]:
    """The messages smartctl wrote into its JSON answer."""
    found = _list(_dict(report.get("smartctl")).get("messages"))
    return [m["string"] for m in found
            if isinstance(m, dict) and isinstance(m.get("string"), str)]


async def read(device_path: str, *, asleep_ok: bool = False) -> dict[str, Any]:
    """Run `smartctl --json -x` on one device and parse its report; `asleep_ok` leaves a disk
    that is spun down asleep (`-n standby`: smartctl then answers nothing, as below).

    Raises `Unprocessable` (422, code `smart_unsupported`) where the device has no SMART,
    smartctl could not open it, is not installed, or did not answer JSON.
    """
    argv = ["smartctl", "--json", "-x", *(["-n", "standby"] if asleep_ok else []),
            device_path]
    try:
        result = await run(argv, check=False)
    except CommandError as exc:
        if shutil.which("smartctl") is None:
            raise Unprocessable("smartctl is not installed", code="smart_unsupported",
                                detail={"device": device_path}) from exc
        raise
    try:
        report = json.loads(result.stdout)
    except ValueError:
        report = None
    if not isinstance(report, dict):
        log.warning("smartctl on %s exited %s without a JSON report: %s", device_path,
                    result.returncode, result.stderr.strip()[:200])
        raise Unprocessable(f"smartctl gave no report for {device_path}",
                            code="smart_unsupported",
                            detail={"device": device_path, "exit_status": result.returncode})
    if result.returncode & EXIT_NOT_READ or not supported(report):
        found = messages(report)
        raise Unprocessable(
            f"{device_path} has no SMART data" + (f": {found[0]}" if found else ""),
            code="smart_unsupported",
            detail={"device": device_path, "exit_status": result.returncode,
                    "messages": found})
    return parse(report)


async def summaries(device_paths: list[str], concurrency: int = CONCURRENCY,
                    asleep_ok: bool = False) -> dict[str, dict[str, Any] | None]:
    """Each device's SMART summary (`parse(...)["summary"]`), or None where it has none (or,
    with `asleep_ok`, where it is spun down and left asleep), read `concurrency` devices at a
    time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str) -> dict[str, Any] | None:
        async with gate:
            try:
                return (await read(path, asleep_ok=asleep_ok))["summary"]
            except (Unprocessable, CommandError):
                return None

    found = await asyncio.gather(*(one(p) for p in device_paths))
    return dict(zip(device_paths, found, strict=True))
