"""A `smartctl` stand-in: no disk here has SMART, so this answers for the test's loop devices
with real drives' captured reports (tests/data/smartctl, `smartctl --json`), and runs
self-tests the way a drive does: `-t short|long|conveyance` starts one, each report then shows
it in progress (90 %, 60 %, 30 % remaining, one `step` of seconds each) in the protocol's own
place (ATA `ata_smart_data.self_test.status`, NVMe `nvme_self_test_log`, SCSI
`scsi_self_test_0` and `self_test_in_progress`), and then a new entry of the self-test log,
passed or failed; `-X` aborts it. The real report is kept; only the self-test status and log
(and, where a test asks, attributes, temperature and health) are edited, in smartctl's own
JSON structure. Devices it was not told of answer as a real loop device does.

    standin = Smartctl(tmp_path)                  # its folder; `standin.path` is the bin dir
    standin.assign("/dev/loop7", "WDC_WD20EFRX-68EUZN0_18.json", result="failed", step=0.5)
    standin.edit("/dev/loop7", attributes={5: 8}, temperature=70, health=False)
    monkeypatch.setenv("PATH", f"{standin.path}:{os.environ['PATH']}")

Run as a program (by the `smartctl` script `Smartctl` writes), its folder in SMARTCTL_STANDIN.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "smartctl"
REMAINING = (90, 60, 30)
ATA_TYPES = {"short": (1, "Short offline"), "long": (2, "Extended offline"),
             "conveyance": (3, "Conveyance offline")}
NVME_TYPES = {"short": (1, "Short"), "long": (2, "Extended")}
SCSI_TYPES = {"short": (1, "Background short"), "long": (2, "Background long")}
FAILED_LBA = 1234567


class Smartctl:
    """The stand-in's folder (devices.json, each device's state, calls.log) and its script."""

    def __init__(self, folder: Path):
        self.folder = folder / "smartctl-standin"
        self.path = self.folder / "bin"
        self.path.mkdir(parents=True)
        script = self.path / "smartctl"
        python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
        script.write_text(f"#!/bin/sh\nSMARTCTL_STANDIN='{self.folder}' exec {python} "
                          f"'{Path(__file__).resolve()}' \"$@\"\n")
        script.chmod(0o755)
        self._write({})

    def _devices(self) -> dict[str, Any]:
        return json.loads((self.folder / "devices.json").read_text())

    def _write(self, devices: dict[str, Any]) -> None:
        spare = self.folder / "devices.json.new"
        spare.write_text(json.dumps(devices))
        spare.replace(self.folder / "devices.json")

    def assign(self, device: str, report: str, *, result: str = "passed", step: float = 1.0,
               conveyance: bool = True) -> None:
        """Answer for `device` with the captured report `report`; its self-tests take
        3 x `step` seconds and end `result` ("passed" or "failed")."""
        devices = self._devices()
        devices[device] = {"report": str(DATA / report), "result": result, "step": step,
                           "conveyance": conveyance, "edits": {}}
        self._write(devices)

    def edit(self, device: str, **edits: Any) -> None:
        """Change what the drive reports: `attributes` ({ATA id: raw}), `temperature`,
        `health` (False: failing), `nvme` ({health log key: value}), `result`, `asleep`
        (spun down: `-n standby` gets no report)."""
        devices = self._devices()
        if "result" in edits:
            devices[device]["result"] = edits.pop("result")
        devices[device]["edits"].update(
            {k: ({str(i): v for i, v in value.items()} if k == "attributes" else value)
             for k, value in edits.items()})
        self._write(devices)

    def calls(self) -> list[list[str]]:
        """Every command line it was run with, in order."""
        log = self.folder / "calls.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() \
            else []

    def started(self, device: str) -> list[str]:
        """The self-test types started on `device` (`-t`), in order."""
        return [argv[argv.index("-t") + 1] for argv in self.calls()
                if "-t" in argv and argv[-1] == device]


# -- the program --------------------------------------------------------------------------------

def _protocol(report: dict[str, Any]) -> str:
    return report.get("device", {}).get("protocol", "ATA")


def _state_file(folder: Path, device: str) -> Path:
    return folder / f"state-{Path(device).name}.json"


def _load_state(folder: Path, device: str) -> dict[str, Any]:
    path = _state_file(folder, device)
    return json.loads(path.read_text()) if path.exists() else {"log": [], "test": None}


def _save_state(folder: Path, device: str, state: dict[str, Any]) -> None:
    spare = _state_file(folder, device).with_suffix(".new")
    spare.write_text(json.dumps(state))
    spare.replace(_state_file(folder, device))


def _entry(protocol: str, test: str, outcome: str, hours: int) -> dict[str, Any]:
    """One self-test log entry as smartctl writes it for the protocol."""
    if protocol == "NVMe":
        result = {"passed": (0, "Completed without error"),
                  "failed": (7, "Completed: failed segments"),
                  "aborted": (1, "Aborted: Self-test command")}[outcome]
        code, name = NVME_TYPES[test]
        row = {"self_test_code": {"value": code, "string": name},
               "self_test_result": {"value": result[0], "string": result[1]},
               "power_on_hours": hours}
        if outcome == "failed":
            row.update(segment=2, lba=FAILED_LBA)
        return row
    if protocol == "SCSI":
        result = {"passed": (0, "Completed"), "failed": (4, "Completed, segment failed"),
                  "aborted": (1, "Aborted (by user command)")}[outcome]
        code, name = SCSI_TYPES[test]
        row = {"code": {"value": code, "string": name},
               "result": {"value": result[0], "string": result[1]},
               "power_on_time": {"hours": hours, "aka": "accumulated_power_on_hours"}}
        if outcome == "failed":
            row["lba_first_failure"] = {"value": FAILED_LBA, "aka": "lba_of_first_error"}
        return row
    code, name = ATA_TYPES[test]
    status = {"passed": {"value": 0, "string": "Completed without error", "passed": True},
              "failed": {"value": 0x73, "string": "Completed: read failure",
                         "remaining_percent": 30, "passed": False},
              "aborted": {"value": 0x10, "string": "Aborted by host", "passed": True}}[outcome]
    row = {"type": {"value": code, "string": name}, "status": status, "lifetime_hours": hours}
    if outcome == "failed":
        row["lba"] = FAILED_LBA
    return row


def _advance(state: dict[str, Any], device: dict[str, Any], protocol: str, hours: int
             ) -> int | None:
    """The running test's remaining percentage, or None once it ended (its entry logged)."""
    test = state["test"]
    if test is None:
        return None
    index = int((time.time() - test["started"]) / device["step"])
    if index < len(REMAINING):
        return REMAINING[index]
    state["log"].insert(0, _entry(protocol, test["type"], device["result"], hours))
    state["test"] = None
    return None


def _edit_attributes(report: dict[str, Any], edits: dict[str, Any]) -> None:
    for row in report.get("ata_smart_attributes", {}).get("table", []):
        if str(row.get("id")) in edits.get("attributes", {}):
            raw = edits["attributes"][str(row["id"])]
            row["raw"] = {"value": raw, "string": str(raw)}
    if "temperature" in edits:
        report.setdefault("temperature", {})["current"] = edits["temperature"]
        for row in report.get("ata_smart_attributes", {}).get("table", []):
            if row.get("id") in (190, 194):  # the drive's own temperature attributes
                row["raw"] = {"value": edits["temperature"], "string": str(edits["temperature"])}
        if "nvme_smart_health_information_log" in report:
            report["nvme_smart_health_information_log"]["temperature"] = edits["temperature"]
    if "health" in edits:
        report.setdefault("smart_status", {})["passed"] = edits["health"]
    report.get("nvme_smart_health_information_log", {}).update(edits.get("nvme", {}))


def _self_test_sections(report: dict[str, Any], state: dict[str, Any], device: dict[str, Any],
                        remaining: int | None) -> None:
    """The report's self-test status and log, where smartctl puts them for the protocol."""
    protocol, test = _protocol(report), state["test"]
    if protocol == "NVMe":
        report["nvme_optional_admin_commands"] = {
            "value": 0x17, "security_send_receive": True, "format_nvm": True,
            "firmware_download": True, "self_test": True}
        log: dict[str, Any] = {"current_self_test_operation": {"value": 0, "string":
                                                               "No self-test in progress"}}
        if remaining is not None:
            code, name = NVME_TYPES[test["type"]]
            log["current_self_test_operation"] = {"value": code,
                                                  "string": f"{name} self-test in progress"}
            log["current_self_test_completion_percent"] = 100 - remaining
        if state["log"]:
            log["table"] = state["log"]
        report["nvme_self_test_log"] = log
    elif protocol == "SCSI":
        rows = list(state["log"])
        if remaining is not None:
            code, name = SCSI_TYPES[test["type"]]
            rows.insert(0, {"code": {"value": code, "string": name},
                            "result": {"value": 15, "string": "Self test in progress ..."},
                            "power_on_time": {"hours": report["power_on_time"]["hours"]}})
            report["self_test_in_progress"] = True
        for number, row in enumerate(rows):
            report[f"scsi_self_test_{number}"] = row
    else:
        if remaining is not None:
            status = {"value": 0xF0 | remaining // 10,
                      "string": f"in progress, {remaining}% of test remaining",
                      "remaining_percent": remaining}
        elif state["log"] and not state["log"][0]["status"].get("passed"):
            status = {**state["log"][0]["status"],
                      "string": state["log"][0]["status"]["string"].lower()}
        else:
            status = {"value": 0, "string": "completed without error", "passed": True}
        report["ata_smart_data"] = {
            "offline_data_collection": {"status": {"value": 130, "string":
                                                   "was completed without error",
                                                   "passed": True},
                                        "completion_seconds": 6000},
            "self_test": {"status": status, "polling_minutes": {
                "short": 2, "extended": 274, **({"conveyance": 5} if device["conveyance"]
                                                else {})}},
            "capabilities": {
                "values": [123, 3], "exec_offline_immediate_supported": True,
                "offline_is_aborted_upon_new_cmd": False,
                "offline_surface_scan_supported": True, "self_tests_supported": True,
                "conveyance_self_test_supported": device["conveyance"],
                "selective_self_test_supported": True, "attribute_autosave_enabled": True,
                "error_logging_supported": True, "gp_logging_supported": True}}
        report["ata_smart_self_test_log"] = {"standard": {
            "revision": 1, "table": state["log"][:21], "count": len(state["log"][:21]),
            "error_count_total": sum(1 for r in state["log"] if not r["status"]["passed"]),
            "error_count_outdated": 0}}


def _answer(argv: list[str], report: dict[str, Any], status: int,
            message: str | None = None) -> int:
    report.setdefault("smartctl", {}).update(argv=["smartctl", *argv], exit_status=status)
    if message:
        report["smartctl"]["messages"] = [{"string": message,
                                           "severity": "error" if status else "information"}]
    print(json.dumps(report, indent=2))
    return status


def main(argv: list[str]) -> int:
    folder = Path(os.environ["SMARTCTL_STANDIN"])
    with (folder / "calls.log").open("a") as calls:
        fcntl.flock(calls, fcntl.LOCK_EX)  # one at a time: each reads and writes the state
        calls.write(json.dumps(argv) + "\n")
        calls.flush()
        return _main(folder, argv)


def _main(folder: Path, argv: list[str]) -> int:
    path = argv[-1] if argv and not argv[-1].startswith("-") else ""
    device = json.loads((folder / "devices.json").read_text()).get(path)
    if device is None:  # as smartctl answers for a loop device
        loop = json.loads((DATA / "loop-device.json").read_text())
        loop["smartctl"]["messages"][0]["string"] = f"{path}: Unable to detect device type"
        return _answer(argv, loop, 1)
    report = json.loads(Path(device["report"]).read_text())
    protocol, hours = _protocol(report), report["power_on_time"]["hours"]
    state = _load_state(folder, path)
    remaining = _advance(state, device, protocol, hours)
    answer = {k: report[k] for k in ("json_format_version", "smartctl", "local_time",
                                     "device")}
    if "-t" in argv:
        test = argv[argv.index("-t") + 1]
        kinds = NVME_TYPES if protocol == "NVMe" else SCSI_TYPES if protocol == "SCSI" \
            else {k: v for k, v in ATA_TYPES.items()
                  if k != "conveyance" or device["conveyance"]}
        if test not in kinds:
            _save_state(folder, path, state)
            return _answer(argv, answer, 4, f"{test} self-test not supported")
        if remaining is not None:
            _save_state(folder, path, state)
            return _answer(argv, answer, 4, "Can't start self-test without aborting current "
                           f"test ({remaining}% remaining)")
        state["test"] = {"type": test, "started": time.time()}
        _save_state(folder, path, state)
        return _answer(argv, answer, 0, f"Self-test has begun ({test})")
    if device["edits"].get("asleep") and "-n" in argv:  # spun down: left asleep, unread
        _save_state(folder, path, state)
        return _answer(argv, answer, 2, "Device is in STANDBY mode, exit(2)")
    if "-X" in argv:
        if state["test"] is not None:
            state["log"].insert(0, _entry(protocol, state["test"]["type"], "aborted", hours))
            state["test"] = None
        _save_state(folder, path, state)
        return _answer(argv, answer, 0, "Self-testing aborted!")
    _save_state(folder, path, state)
    _edit_attributes(report, device["edits"])
    _self_test_sections(report, state, device, remaining)
    failing = report.get("smart_status", {}).get("passed") is False
    return _answer(argv, report, 8 if failing else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
