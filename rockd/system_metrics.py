"""The host's metrics for /system/metrics: CPU, memory, network and disk I/O, read with psutil.

Rates are per second over the interval since the previous sample, and 0 in the first one.
Each sample replaces /system/metrics and /system/uptime in one revision; rockd.core.history
keeps the last hour of it by following the tree. When to sample is the watcher's business
(rockd.watchers.metrics): the kernel raises no event when a counter moves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

from rockd.core.tree import Subtree

FIELDS = ("time", "cpu", "memory_used", "memory_total", "net_rx", "net_tx", "disk_read",
          "disk_write")
STACKED = ("loop", "ram", "zram", "dm-", "md")
"""Block devices whose I/O is also counted on the disks beneath them (or on none)."""


def whole_disks(names: Iterable[str], block: Collection[str]) -> set[str]:
    """The names that are whole disks: in /sys/block (so not partitions) and not stacked."""
    return {name for name in names if name in block and not name.startswith(STACKED)}


def rate(before: Mapping[str, int], after: Mapping[str, int], seconds: float) -> int:
    """Bytes per second summed over the names in both (a device that came or went, or whose
    counter went back, adds nothing)."""
    if seconds <= 0:
        return 0
    moved = sum(max(0, count - before[name]) for name, count in after.items() if name in before)
    return int(moved / seconds)


def cpu_times(times: Any) -> tuple[float, float]:
    """(idle, total) seconds of psutil's cpu_times(): iowait is idle, guest is in user already."""
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return times.idle + getattr(times, "iowait", 0.0), total


def busy(before: tuple[float, float], after: tuple[float, float]) -> float:
    """The fraction of CPU time not idle between two (idle, total) readings, 0..1."""
    total = after[1] - before[1]
    if total <= 0:
        return 0.0
    return round(min(1.0, max(0.0, 1.0 - (after[0] - before[0]) / total)), 3)


@dataclass
class Counters:
    """The cumulative counters of one moment, by interface or disk."""

    at: float  # monotonic seconds
    cpu: tuple[float, float]
    net_rx: dict[str, int]
    net_tx: dict[str, int]
    disk_read: dict[str, int]
    disk_write: dict[str, int]


def read_counters() -> Counters:
    nics = {name: c for name, c in psutil.net_io_counters(pernic=True).items() if name != "lo"}
    io = psutil.disk_io_counters(perdisk=True) or {}
    disks = whole_disks(io, set(os.listdir("/sys/block")))
    return Counters(
        at=time.monotonic(),
        cpu=cpu_times(psutil.cpu_times()),
        net_rx={name: c.bytes_recv for name, c in nics.items()},
        net_tx={name: c.bytes_sent for name, c in nics.items()},
        disk_read={name: io[name].read_bytes for name in disks},
        disk_write={name: io[name].write_bytes for name in disks},
    )


def sample_of(before: Counters | None, now: Counters) -> dict[str, int | float]:
    """One sample of /system/metrics: memory now, and rates since `before` (0 without it)."""
    memory = psutil.virtual_memory()
    seconds = now.at - before.at if before is not None else 0.0
    prev = before or now

    def per_second(name: str) -> int:
        return rate(getattr(prev, name), getattr(now, name), seconds)

    return {
        "time": round(time.time(), 3),
        "cpu": busy(prev.cpu, now.cpu),
        "memory_used": memory.total - memory.available,
        "memory_total": memory.total,
        "net_rx": per_second("net_rx"),
        "net_tx": per_second("net_tx"),
        "disk_read": per_second("disk_read"),
        "disk_write": per_second("disk_write"),
    }


def uptime() -> int:
    """Whole seconds since boot (CLOCK_BOOTTIME counts time suspended too)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME))


class SystemMetrics:
    """Takes a sample and sets it in the tree, remembering the counters for the next rates."""

    def __init__(self, tree: Subtree):
        self.tree = tree
        self._last: Counters | None = None

    def sample(self) -> None:
        now = read_counters()
        value = sample_of(self._last, now)
        self._last = now
        with self.tree.transaction():
            self.tree.set("/system/metrics", value)
            self.tree.set("/system/uptime", uptime())
