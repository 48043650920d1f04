"""The metrics sampler's arithmetic: which disks count, rates, CPU time, schedule, a sample."""

import time
from collections import namedtuple

import psutil

from rockd.system_metrics import (
    FIELDS,
    Counters,
    busy,
    cpu_times,
    rate,
    read_counters,
    sample_of,
    whole_disks,
)
from rockd.watchers.metrics import next_tick

Times = namedtuple("Times", "user nice system idle iowait irq softirq steal guest guest_nice")


def test_whole_disks_leave_out_partitions_and_stacked_devices():
    block = {"sda", "nvme0n1", "vda", "loop0", "ram0", "zram0", "dm-0", "md127", "sr0"}
    names = ["sda", "sda1", "nvme0n1", "nvme0n1p2", "vda", "loop0", "ram0", "zram0", "dm-0",
             "md127", "sr0", "gone"]
    assert whole_disks(names, block) == {"sda", "nvme0n1", "vda", "sr0"}


def test_rate_counts_only_what_moved_on_devices_seen_twice():
    before = {"eth0": 1_000, "eth1": 5_000, "gone": 9_000}
    after = {"eth0": 3_000, "eth1": 4_000, "new": 1 << 40}
    # eth1's counter went back (the interface was re-created): it adds nothing
    assert rate(before, after, 2.0) == 1_000
    assert rate(before, after, 0.0) == 0
    assert rate({}, after, 1.0) == 0


def test_busy_fraction_counts_iowait_as_idle_and_guest_once():
    first = cpu_times(Times(100, 0, 50, 800, 50, 0, 0, 0, 20, 0))
    assert first == (850, 1000)  # guest time is already inside user
    second = cpu_times(Times(130, 0, 60, 850, 60, 0, 0, 0, 30, 0))
    assert busy(first, second) == 0.4  # 40 of 100 s were neither idle nor waiting for I/O
    assert busy(first, first) == 0.0
    assert busy(second, first) == 0.0


def test_a_sample_from_real_counters():
    first = read_counters()
    assert not any(name.startswith(("loop", "dm-")) for name in first.disk_read)
    time.sleep(0.05)
    second = read_counters()
    value = sample_of(first, second)
    assert tuple(value) == FIELDS
    assert abs(value["time"] - time.time()) < 1 and round(value["time"], 3) == value["time"]
    assert 0 <= value["cpu"] <= 1
    assert value["memory_total"] == psutil.virtual_memory().total
    assert 0 < value["memory_used"] < value["memory_total"]
    rates = [value[k] for k in ("net_rx", "net_tx", "disk_read", "disk_write")]
    assert all(isinstance(r, int) and r >= 0 for r in rates)


def test_the_first_sample_has_no_rates():
    now = Counters(time.monotonic(), (0.0, 10.0), {"eth0": 5}, {"eth0": 5}, {"sda": 9},
                   {"sda": 9})
    value = sample_of(None, now)
    assert [value[k] for k in ("cpu", "net_rx", "net_tx", "disk_read", "disk_write")] == [0] * 5


def test_the_schedule_keeps_to_whole_intervals():
    assert next_tick(0, 0.002, 1.0) == 1  # the first sample took 2 ms: sleep until 1.0
    assert next_tick(1, 0.9999, 1.0) == 2  # woken a hair early: still on to the next one
    assert next_tick(1, 1.003, 1.0) == 2
    assert next_tick(2, 4.5, 1.0) == 5  # stalled for seconds: the missed ticks are skipped
    assert next_tick(3, 3.0, 0.5) == 7
