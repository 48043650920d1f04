"""The USB UPSes a user can choose from: what `nut-scanner -U` finds (with the driver NUT
would use), and the USB devices udev shows in sysfs, marked as a UPS (with its driver) where
NUT's own udev rules name its vendor and product.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rockd.core.process import CommandError, run

SYSFS_USB = Path("/sys/bus/usb/devices")
NUT_RULES = (Path("/lib/udev/rules.d/62-nut-usbups.rules"),
             Path("/usr/lib/udev/rules.d/62-nut-usbups.rules"))
RULE = re.compile(r'ATTR\{idVendor\}=="([0-9a-fA-F]{4})", ATTR\{idProduct\}=="([0-9a-fA-F]{4})"')
COMMENT = re.compile(r"^#\s+.*\s-\s+([a-z0-9_-]+)\s*$")
SCAN_TIMEOUT = 20.0


def parse_scanner(text: str) -> list[dict[str, str]]:
    """nut-scanner's output (ups.conf sections) as one dict per device."""
    found: list[dict[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            found.append({})
        elif "=" in line and found:
            key, value = (part.strip() for part in line.split("=", 1))
            found[-1][key] = value.strip('"')
    return found


def known_upses(paths: tuple[Path, ...] = NUT_RULES) -> dict[tuple[str, str], str]:
    """(vendor id, product id) → NUT's driver, from NUT's udev rules."""
    known: dict[tuple[str, str], str] = {}
    for path in paths:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        driver = ""
        for line in lines:
            comment = COMMENT.match(line)
            if comment:
                driver = comment[1]
            rule = RULE.search(line)
            if rule:
                known[(rule[1].lower(), rule[2].lower())] = driver
        break
    return known


def _attr(folder: Path, name: str) -> str | None:
    try:
        return (folder / name).read_text(errors="replace").strip() or None
    except OSError:
        return None


def usb_devices(root: Path = SYSFS_USB) -> list[dict[str, Any]]:
    """Every USB device in sysfs (not its interfaces), as udev shows it."""
    known = known_upses()
    found = []
    try:
        folders = sorted(root.iterdir())
    except OSError:
        return []
    for folder in folders:
        vendor, product = _attr(folder, "idVendor"), _attr(folder, "idProduct")
        if vendor is None or product is None:
            continue
        driver = known.get((vendor.lower(), product.lower()))
        found.append({
            "id": f"usb-{folder.name}", "vendorid": vendor.lower(), "productid": product.lower(),
            "vendor": _attr(folder, "manufacturer"), "product": _attr(folder, "product"),
            "serial": _attr(folder, "serial"), "bus": _attr(folder, "busnum"),
            "driver": driver or None, "port": "auto", "ups": driver is not None,
            "found_by": "udev"})
    return found


async def scan() -> dict[str, Any]:
    """The USB list: nut-scanner's devices first, then udev's others; `errors` says what
    could not be looked at."""
    errors: list[str] = []
    devices: list[dict[str, Any]] = []
    try:
        result = await run(["nut-scanner", "-U", "-q"], timeout=SCAN_TIMEOUT, check=False)
        for index, entry in enumerate(parse_scanner(result.stdout)):
            devices.append({
                "id": f"nut-{index}", "vendorid": entry.get("vendorid", "").lower() or None,
                "productid": entry.get("productid", "").lower() or None,
                "vendor": entry.get("vendor"), "product": entry.get("product"),
                "serial": entry.get("serial"), "bus": entry.get("bus"),
                "driver": entry.get("driver"), "port": entry.get("port") or "auto",
                "ups": True, "found_by": "nut-scanner"})
        if not devices and result.stderr.strip():
            errors.append(f"nut-scanner: {result.stderr.strip().splitlines()[-1]}")
    except CommandError as exc:
        errors.append(f"nut-scanner: {exc}")
    _add_udev(devices, errors)
    return {"devices": devices, "errors": errors}


def _add_udev(devices: list[dict[str, Any]], errors: list[str]) -> None:
    """udev's USB devices that nut-scanner did not name."""
    seen = {(d["vendorid"], d["productid"], d["serial"]) for d in devices}
    for device in usb_devices():
        if (device["vendorid"], device["productid"], device["serial"]) not in seen:
            devices.append(device)
    if not SYSFS_USB.exists():
        errors.append(f"this machine has no USB bus ({SYSFS_USB} is missing)")
