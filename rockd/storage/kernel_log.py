"""The kernel's log (/dev/kmsg): what btrfs said about a filesystem, read without waiting.

btrfs names the filesystem in each line by one of its devices, `BTRFS error (device loop2):
...`, or by path (`BTRFS: device label x devid 1 transid 6 /dev/loop2 ...`), so lines are
picked by the kernel names of the devices concerned. Two uses:

- `Following`, opened before an action: the lines logged while it ran (a mount refused, and
  why: "failed to read chunk root", where mount(8) only says "can't read superblock").
- `mark_filesystem` and `since`: where the log stood when a job began, and the lines logged
  after that, read later (after a restart: how a balance ended while rockd was not running,
  `balance_end`). A mark holds the boot it belongs to: sequence numbers start again at every
  boot.

Reads never block: /dev/kmsg is opened O_NONBLOCK and read until EAGAIN. Where it cannot be
read (no CAP_SYSLOG), every answer is empty and callers fall back to what they had.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KMSG = Path("/dev/kmsg")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
RECORD_SIZE = 8192  # larger than any record (the kernel's limit is 1 KiB of text)
_HEADER = re.compile(r"([0-9]+),([0-9]+),([0-9]+),[^;]*", re.ASCII)
_ESCAPE = re.compile(rb"\\x([0-9a-f]{2})")


@dataclass(frozen=True)
class Record:
    """One line of the kernel's log: its sequence number, syslog level (0 emergency to 7
    debug) and text (the kernel's \\xNN escapes of bytes undone, then read as UTF-8)."""

    seq: int
    level: int
    text: str


def parse(raw: bytes) -> Record | None:
    """A /dev/kmsg record (`LEVEL,SEQ,USEC,FLAGS;TEXT\\n` then ` KEY=VALUE` lines), or None
    for anything else."""
    head, sep, rest = raw.partition(b";")
    m = _HEADER.fullmatch(head.decode(errors="replace"))
    if not sep or m is None:
        return None
    line = _ESCAPE.sub(lambda e: bytes([int(e[1], 16)]), rest.split(b"\n", 1)[0])
    return Record(seq=int(m[2]), level=int(m[1]) & 7, text=line.decode(errors="replace"))


def _open(end: bool) -> int | None:
    try:
        fd = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        log.info("the kernel log cannot be read: %s", exc)
        return None
    if end:
        os.lseek(fd, 0, os.SEEK_END)
    return fd


def _drain(fd: int) -> list[Record]:
    """Every record readable now; a record overwritten while reading (EPIPE) is skipped."""
    records: list[Record] = []
    while True:
        try:
            raw = os.read(fd, RECORD_SIZE)
        except BlockingIOError:
            return records
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                continue
            raise
        if not raw:
            return records
        record = parse(raw)
        if record is not None:
            records.append(record)


class Following:
    """The records logged from the moment it is entered: `with Following() as kernel: ...;
    kernel.read()`."""

    def __init__(self) -> None:
        self._fd: int | None = None

    def __enter__(self) -> Following:
        self._fd = _open(end=True)
        return self

    def read(self) -> list[Record]:
        return _drain(self._fd) if self._fd is not None else []

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def boot() -> str:
    """This boot's id: sequence numbers count from 0 again at every boot."""
    return BOOT_ID.read_text().strip()


def records() -> list[Record]:
    """Every record still in the kernel's buffer, oldest first (a thread's work: some
    thousand reads)."""
    fd = _open(end=False)
    if fd is None:
        return []
    try:
        return _drain(fd)
    finally:
        os.close(fd)


def since(where: dict[str, Any] | None) -> tuple[list[Record], bool] | None:
    """The records logged after `where` (a mark) still in the kernel's buffer, and whether
    they are all of them (a busy log overwrites its oldest records); None when the log cannot
    say: no mark, or another boot."""
    if not where or where.get("boot") != boot():
        return None
    found = records()
    complete = bool(found) and found[0].seq <= where["seq"] + 1
    return [r for r in found if r.seq > where["seq"]], complete


def about(found: Iterable[Record], devices: Iterable[str]) -> list[Record]:
    """The btrfs records that name one of these block devices (paths, or kernel names such
    as `loop2`), by `(device NAME)` or by `/dev/NAME`."""
    names = {os.path.basename(os.path.realpath(d)) if d.startswith("/") else d
             for d in devices}
    patterns = [re.compile(rf"\(device {re.escape(n)}(?: state [A-Za-z]+)?\)|/dev/"
                           rf"{re.escape(n)}(?![A-Za-z0-9])") for n in names]
    return [r for r in found if r.text.startswith("BTRFS")
            and any(p.search(r.text) for p in patterns)]


def reason(found: Iterable[Record]) -> str | None:
    """The lines of errors and warnings among `found`, joined: what the kernel said went
    wrong."""
    lines = [r.text for r in found if r.level <= 4]
    return "; ".join(lines) or None


_FIRST_MOUNT = re.compile(r"\(device ([^ )]+)[^)]*\): first mount of filesystem ([0-9a-f-]{36})",
                          re.ASCII)
_BALANCE = re.compile(r"\): balance: (start|resume|paused|canceled|ended with status: "
                      r"(-?[0-9]+))", re.ASCII)


def mark_filesystem(uuid: str, devices: Iterable[str]) -> dict[str, Any] | None:
    """Where the log stands now, for `since`: {"boot", "seq" (the last record's number),
    "devices"}, the names btrfs will use for the filesystem `uuid` in its lines: its devices
    now, and the one it was last mounted by (btrfs keeps naming it so, even once that device
    has been replaced). None where the log cannot be read."""
    found = records()
    if not found:
        return None
    names = set(devices)
    for record in reversed(found):
        m = _FIRST_MOUNT.search(record.text)
        if m and m[2] == uuid:
            names.add(m[1])
            break
    return {"boot": boot(), "seq": found[-1].seq, "devices": sorted(names)}


def balance_end(found: Iterable[Record], devices: Iterable[str], complete: bool = True
                ) -> tuple[str, int | None, list[str]] | None:
    """How the first balance that `found` (records after a `mark_filesystem`; `complete`
    when none of them was overwritten) shows on these devices ended: ("ended", status, lines),
    ("canceled", None, lines), or ("never", None, []) when none began; None when the records
    do not say. `lines` are the errors logged meanwhile, and the end itself.

    Where the first records are gone, the first balance line left must be that balance's
    (its end, or a pause or resume of it): a `start` there is a later balance's."""
    began = False
    lines: list[str] = []
    for record in about(found, devices):
        m = _BALANCE.search(record.text)
        if m is None:
            if began and (record.level <= 4 or "errors during balance" in record.text):
                lines.append(record.text)
            continue
        if not began:
            if complete and m[1] not in ("start", "resume"):
                continue  # an end of something before the mark
            if m[1] == "start" and not complete:
                return None
            began = True
        if m[1] == "canceled":
            return "canceled", None, [*lines, record.text]
        if m[2] is not None:
            return "ended", int(m[2]), [*lines, record.text]
    return ("never", None, []) if complete and not began else None
