"""What btrfs-progs prints, parsed: pure functions of the text, tested on output captured from
btrfs-progs 6.2 (tests/unit/test_btrfs_parsers.py), and the btrfs mounts in mountinfo text.

Every answer is JSON-able: ints, strings, bools, None, lists and dicts. Names are not escaped
by btrfs-progs, so a label or a subvolume name holding a newline spans lines.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from rockd.core import mountinfo

log = logging.getLogger(__name__)

DEVICE_STAT_KEYS = ("write_io_errs", "read_io_errs", "flush_io_errs", "corruption_errs",
                    "generation_errs")
MISSING_DISK = "<missing disk>"
FS_TREE = "<FS_TREE>/"


def _uuid_or_none(value: str) -> str | None:
    return None if value == "-" else value


# --- filesystem show -----------------------------------------------------------------------

# numbers in btrfs-progs' output are ASCII digits: \d must not take others (re.ASCII)
_LABEL = re.compile(r"^Label: (?:'(?P<label>[\s\S]*)'|none)  uuid: (?P<uuid>[0-9a-fA-F-]{36})\Z")
_TOTAL = re.compile(r"^\s+Total devices (?P<total>\d+) FS bytes used (?P<used>\d+)$", re.ASCII)
_DEVID = re.compile(r"^\s+devid\s+(?P<devid>\d+) size (?P<size>\d+) used (?P<used>\d+) "
                    r"path (?P<path>.*?)(?P<missing> MISSING)?$", re.ASCII)


def parse_filesystem_show(text: str) -> list[dict[str, Any]]:
    """Parse `btrfs filesystem show --raw`.

    Each filesystem: uuid, label (None when unset), total_devices, bytes_used (logical), devices
    (devid, size, used = allocated bytes, path or None, missing) and devices_missing: how many
    of total_devices are absent. A mounted degraded filesystem lists its missing device as
    `path <missing disk> MISSING` (or `path  MISSING` when the kernel never saw that device
    since boot or `device scan --forget`), always with size 0; an unmounted one only says
    `*** Some devices missing`, so its missing devices are counted but cannot be listed.
    """
    found: list[dict[str, Any]] = []
    fs: dict[str, Any] | None = None
    label_lines: list[str] = []  # a label holding newlines spans lines, like a subvolume name
    for line in text.split("\n"):
        if label_lines or line.startswith("Label: "):
            label_lines.append(line)
            m = _LABEL.match("\n".join(label_lines))
            if m is None:
                fs = None  # lines until the label is whole belong to no filesystem
                if len(label_lines) > 8:
                    log.warning("btrfs filesystem show: unexpected line %r", label_lines[0])
                    label_lines = []
                continue
            label_lines = []
            fs = {"uuid": m["uuid"].lower(), "label": m["label"], "total_devices": 0,
                  "bytes_used": 0, "devices": [], "devices_missing": 0}
            found.append(fs)
        elif fs is None or not line.strip():
            continue
        elif m := _TOTAL.match(line):
            fs["total_devices"], fs["bytes_used"] = int(m["total"]), int(m["used"])
        elif m := _DEVID.match(line):
            path = None if m["path"] in ("", MISSING_DISK) else m["path"]
            fs["devices"].append({"devid": int(m["devid"]), "size": int(m["size"]),
                                  "used": int(m["used"]), "path": path,
                                  "missing": bool(m["missing"]) or path is None})
        elif "Some devices missing" not in line and not line.startswith("warning"):
            log.warning("btrfs filesystem show: unexpected line %r", line)
    if label_lines:
        log.warning("btrfs filesystem show: unexpected line %r", label_lines[0])
    for fs in found:
        present = sum(1 for d in fs["devices"] if not d["missing"])
        fs["devices_missing"] = max(0, fs["total_devices"] - present)
    return found


# --- device stats --------------------------------------------------------------------------

def parse_device_stats(text: str) -> dict[str, dict[str, int]]:
    """Parse `btrfs --format json device stats`: {device path: {counter: n, "devid": n}}.

    A missing device is keyed `devid:N` (btrfs-progs itself prints that as its path when the
    kernel never saw the device, and `<missing disk>` when it did), so two cannot collide.
    """
    stats: dict[str, dict[str, int]] = {}
    for entry in json.loads(text).get("device-stats", []):
        devid = int(entry["devid"])
        path = entry.get("device") or ""
        missing = path in ("", MISSING_DISK) or path.startswith("devid:")
        key = f"devid:{devid}" if missing or path in stats else path
        stats[key] = {k: int(entry[k]) for k in DEVICE_STAT_KEYS} | {"devid": devid}
    return stats


# --- subvolumes ----------------------------------------------------------------------------

_SUBVOL = re.compile(
    r"^ID (?P<id>\d+) gen (?P<gen>\d+)(?: cgen (?P<cgen>\d+))?(?: parent (?P<parent>\d+))?"
    r" top level (?P<top>\d+)(?: otime (?P<otime>-|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d))?"
    r"(?: parent_uuid (?P<puuid>\S+))?(?: +received_uuid (?P<ruuid>\S+))?"
    r"(?: +uuid (?P<uuid>\S+))? path (?P<path>.*)$", re.ASCII)


def _otime(value: str | None) -> str | None:
    """`2024-01-31 23:59:00` (the regex checked its shape; UTC) as RFC 3339."""
    if not value or value == "-":
        return None
    return value.replace(" ", "T") + "Z"


def parse_subvolume_list(text: str) -> list[dict[str, Any]]:
    """Parse `btrfs subvolume list -a` with any of -p -c -u -q -R -s -r.

    Each subvolume: id, parent_id, top_level, path (from the filesystem's root), uuid,
    parent_uuid, received_uuid, generation, ogeneration, read_only (always False here: the
    list has no such column) and created (from `otime`, printed only with -s, read as UTC: run
    the command with TZ=UTC). Fields the options did not ask for are None. The `<FS_TREE>/`
    that -a puts before paths outside the mounted subvolume is removed, so every path is
    from the top of the filesystem.

    Paths are not escaped by btrfs-progs: a line that is not a subvolume line continues the
    previous path (its name held a newline); it is joined back with a newline and logged.
    """
    lines = text.split("\n")  # not splitlines(): names may hold \r, \v, \x1c, \u2028 ...
    if lines and lines[-1] == "":
        lines.pop()
    found: list[dict[str, Any]] = []
    for line in lines:
        m = _SUBVOL.match(line)
        if m is None:
            if found:
                log.warning("subvolume %s: its name holds a newline", found[-1]["id"])
                found[-1]["path"] += "\n" + line
            else:
                log.warning("btrfs subvolume list: unexpected line %r", line)
            continue
        found.append({
            "id": int(m["id"]),
            "parent_id": int(m["parent"]) if m["parent"] else None,
            "top_level": int(m["top"]),
            "path": m["path"].removeprefix(FS_TREE),
            "uuid": _uuid_or_none(m["uuid"]) if m["uuid"] else None,
            "parent_uuid": _uuid_or_none(m["puuid"]) if m["puuid"] else None,
            "received_uuid": _uuid_or_none(m["ruuid"]) if m["ruuid"] else None,
            "read_only": False,
            "generation": int(m["gen"]),
            "ogeneration": int(m["cgen"]) if m["cgen"] else None,
            "created": _otime(m["otime"]),
        })
    return found


# --- quota groups --------------------------------------------------------------------------

_QGROUP = re.compile(r"^(?P<id>\d+/\d+)\s+(?P<rfer>\d+)\s+(?P<excl>\d+)\s+"
                     r"(?P<max_rfer>none|\d+)\s+(?P<max_excl>none|\d+)(?:\s|$)", re.ASCII)


def _limit(value: str) -> int | None:
    return None if value == "none" else int(value)


def parse_qgroup_show(text: str) -> dict[str, dict[str, int | None]]:
    """Parse `btrfs qgroup show -re --raw`: {"0/ID": {referenced, exclusive, max_referenced,
    max_exclusive}} with None for no limit. Header lines, and the tails of paths that hold a
    newline, are skipped."""
    groups: dict[str, dict[str, int | None]] = {}
    for line in text.split("\n"):
        if m := _QGROUP.match(line):
            groups[m["id"]] = {"referenced": int(m["rfer"]), "exclusive": int(m["excl"]),
                               "max_referenced": _limit(m["max_rfer"]),
                               "max_exclusive": _limit(m["max_excl"])}
    return groups


# --- mounts --------------------------------------------------------------------------------

def parse_mountinfo(text: str) -> list[dict[str, Any]]:
    """The btrfs mounts in /proc/self/mountinfo text: {source, target, root (the folder of
    the filesystem mounted there), options (per mount), super_options (the filesystem's),
    subvol, subvolid, uuid (None here; mounts() fills it), major_minor}."""
    found = []
    for mount in mountinfo.parse(text):
        if mount.fstype != "btrfs":
            continue
        named = mount.named_options
        subvolid = named.get("subvolid")
        found.append({
            "source": mount.source, "target": mount.target, "root": mount.root,
            "options": mount.options, "super_options": mount.super_options,
            "subvol": named.get("subvol"),
            "subvolid": int(subvolid) if subvolid and subvolid.isascii() and subvolid.isdigit()
            else None,
            "uuid": None, "major_minor": mount.major_minor})
    return found
