"""SMART self-tests as smartctl reports them: which a drive offers, the one running now, the
newest log entry, and the commands that start and abort one.

ATA drives say what they offer in `ata_smart_data.capabilities` and the running test in
`ata_smart_data.self_test.status` (a status byte whose high nibble 15 means "in progress", with
`remaining_percent`). NVMe drives offer short and extended tests when their optional admin
commands include Device Self-test (`nvme_optional_admin_commands.self_test`, or a self-test log
at all), and show the running one in `nvme_self_test_log.current_self_test_operation` with
`current_self_test_completion_percent`. SCSI drives run the default short and extended
background tests; smartctl marks one running with `self_test_in_progress` (or a log entry whose
result is 15) and gives no percentage.
"""

from __future__ import annotations

from typing import Any

TYPES = ("short", "long", "conveyance")
"""The self-tests rockd starts, as smartctl's `-t` names them."""
IN_PROGRESS = 0xF
"""The high nibble of ATA's self-test status byte while a test runs; SCSI's result code."""
_NVME_TYPES = {1: "short", 2: "long"}
_ATA_TYPE_WORDS = (("conveyance", "conveyance"), ("short", "short"), ("extended", "long"),
                   ("long", "long"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def protocol(report: dict[str, Any]) -> str | None:
    """"ATA", "NVMe" or "SCSI" (smartctl's `device.protocol`), else None."""
    value = _dict(_dict(report).get("device")).get("protocol")
    return value if isinstance(value, str) else None


def offered(report: dict[str, Any]) -> list[str]:
    """The self-test types the drive offers (some of TYPES, in that order)."""
    report = _dict(report)
    kind = protocol(report)
    if kind == "ATA" or "ata_smart_data" in report:
        capabilities = _dict(_dict(report.get("ata_smart_data")).get("capabilities"))
        found = []
        if capabilities.get("self_tests_supported") is True:
            found += ["short", "long"]
        if capabilities.get("conveyance_self_test_supported") is True:
            found.append("conveyance")
        return found
    if kind == "NVMe":
        commands = _dict(report.get("nvme_optional_admin_commands"))
        if commands.get("self_test") is True or "nvme_self_test_log" in report:
            return ["short", "long"]
        return []
    if kind == "SCSI" and _dict(report.get("smart_support")).get("available") is not False:
        return ["short", "long"]
    return []


def type_of(words: str | None) -> str | None:
    """One of TYPES from smartctl's name of a test ("Short offline", "Extended self-test",
    "Background long", "Conveyance offline"), or None."""
    text = (words or "").lower()
    return next((kind for word, kind in _ATA_TYPE_WORDS if word in text), None)


def running(report: dict[str, Any]) -> dict[str, Any] | None:
    """The self-test running now: `{type, remaining_percent, status}` (type and percentage
    None where smartctl does not say), or None when none runs."""
    report = _dict(report)
    status = _dict(_dict(_dict(report.get("ata_smart_data")).get("self_test")).get("status"))
    value = _int(status.get("value"))
    if value is not None and value >> 4 == IN_PROGRESS:
        remaining = _int(status.get("remaining_percent"))
        return {"type": None, "remaining_percent": (value & 0xF) * 10 if remaining is None
                else remaining, "status": status.get("string")}
    nvme = _dict(report.get("nvme_self_test_log"))
    operation = _dict(nvme.get("current_self_test_operation"))
    code = _int(operation.get("value"))
    if code:
        done = _int(nvme.get("current_self_test_completion_percent"))
        return {"type": _NVME_TYPES.get(code), "status": operation.get("string"),
                "remaining_percent": None if done is None else 100 - done}
    newest = _dict(report.get("scsi_self_test_0"))
    if report.get("self_test_in_progress") is True or \
            _int(_dict(newest.get("result")).get("value")) == IN_PROGRESS:
        return {"type": type_of(_dict(newest.get("code")).get("string")), "status":
                _dict(newest.get("result")).get("string") or "in progress",
                "remaining_percent": None}
    return None


def last(self_tests: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest self-test that ended, from `smart.parse`'s list (newest first), with its
    `kind` (one of TYPES, or None)."""
    entry = next((t for t in self_tests if not t.get("in_progress")), None)
    if entry is None:
        return None
    return {**entry, "kind": type_of(entry.get("type"))}


def start_argv(test: str, device: str) -> list[str]:
    """Start a self-test of type `test` (one of TYPES) in the drive's background."""
    return ["smartctl", "-t", test, "--json", device]


def abort_argv(device: str) -> list[str]:
    """Abort the self-test the drive runs."""
    return ["smartctl", "-X", "--json", device]
