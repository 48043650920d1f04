"""The disk inventory from sysfs: size, model, serial, transport, partitions, stable id."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from rockd.storage.devices import SYS_BLOCK, Allowlist

SKIP = re.compile(r"^(ram|zram|dm-|sr|fd)\d*")
UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _transport(name: str, sysdir: Path) -> str:
    if name.startswith("loop"):
        return "loop"
    if name.startswith("nvme"):
        return "nvme"
    if name.startswith("vd"):
        return "virtio"
    real = str(sysdir.resolve())
    if "/usb" in real:
        return "usb"
    if "/ata" in real:
        return "sata"
    return "scsi"


def stable_id(name: str, *, wwn: str | None, serial: str | None, model: str | None,
              backing_file: str | None) -> str:
    """A disk id that survives reboots and renames (API.md's order: WWN, serial, backing file)."""
    if wwn:
        raw = f"wwn-{wwn}"
    elif serial:
        raw = f"{model or 'disk'}_{serial}"
    elif backing_file:
        digest = hashlib.sha256(backing_file.encode()).hexdigest()[:8]
        raw = f"loop-{Path(backing_file).name}-{digest}"
    else:
        raw = name
    return UNSAFE_ID_CHARS.sub("_", raw).strip("_")


def probe(name: str, allow: Allowlist) -> dict[str, Any] | None:
    """What sysfs tells of one whole disk, or None for devices that are not disks to show."""
    sysdir = SYS_BLOCK / name
    if SKIP.match(name) or not sysdir.exists():
        return None
    backing = _read(sysdir / "loop" / "backing_file")
    if name.startswith("loop") and (backing is None or not allow.allows(name)):
        return None  # unattached loops, and other people's loops, are not disks of this box
    sectors = _read(sysdir / "size")
    model = _read(sysdir / "device" / "model")
    serial = _read(sysdir / "serial") or _read(sysdir / "device" / "serial")
    wwn = _read(sysdir / "wwid") or _read(sysdir / "device" / "wwid")
    partitions = [
        {"name": p.name, "size": int(_read(p / "size") or 0) * 512}
        for p in sorted(sysdir.iterdir()) if (p / "partition").exists()
    ]
    return {
        "id": stable_id(name, wwn=wwn, serial=serial, model=model, backing_file=backing),
        "name": name,
        "path": f"/dev/{name}",
        "size": int(sectors or 0) * 512,
        "model": model,
        "serial": serial,
        "wwn": wwn,
        "transport": _transport(name, sysdir),
        "rotational": _read(sysdir / "queue" / "rotational") == "1",
        "removable": _read(sysdir / "removable") == "1",
        "read_only": _read(sysdir / "ro") == "1",
        "backing_file": backing,
        "partitions": partitions,
        "managed": allow.allows(name),
        "pool": None,
    }


def scan(allow: Allowlist) -> dict[str, dict[str, Any]]:
    """Every disk to show, by id."""
    disks = {}
    for sysdir in sorted(SYS_BLOCK.iterdir()):
        disk = probe(sysdir.name, allow)
        if disk is not None:
            disks[disk["id"]] = disk
    return disks
