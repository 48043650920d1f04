"""What rockd reads of the kernel's log and of btrfs' scrub record: records parsed, picked by
device, a balance's end found; the scrub status file parsed.

The records are lines /dev/kmsg gave on the development machine (kernel 6.18), as bytes."""

from __future__ import annotations

from rockd.jobs.scrub import ERRORS, describe, parse_status
from rockd.storage.kernel_log import Record, about, balance_end, parse, reason

MOUNT_REFUSED = [
    b"4,300,300761563,-;BTRFS: device label corrupt devid 1 transid 6 /dev/loop2 (7:2) "
    b"scanned by mount (7700)\n",
    b"6,301,300762187,-;BTRFS info (device loop2): first mount of filesystem "
    b"a0f19f9e-8bee-43c7-b78d-ecb08aaa2a02\n",
    b"3,302,300765446,-;BTRFS error (device loop2): bad tree block start, mirror 1 want "
    b"22036480 have 17275436393656397278\n",
    b"3,303,300770392,-;BTRFS error (device loop2): failed to read chunk root\n",
    b"3,304,300773730,-;BTRFS error (device loop2 state S): open_ctree failed: -5\n",
    b"3,305,300773731,-;BTRFS error (device loop21): failed to read chunk root\n",
    b"6,306,300773732,-;EXT4-fs (loop2): mounted filesystem\n SUBSYSTEM=block\n DEVICE=b7:2\n",
]
BALANCE_ENOSPC = [
    b"6,609,585130300,-;BTRFS info (device loop2): balance: start -dconvert=raid1\n",
    b"6,610,585132163,-;BTRFS info (device loop2): relocating block group 13631488 flags data\n",
    b"6,611,585135049,-;BTRFS info (device loop2): 8 enospc errors during balance\n",
    b"6,612,585135053,-;BTRFS info (device loop2): balance: ended with status: -28\n",
    b"6,613,585135060,-;BTRFS info (device loop2): balance: start -dusage=0\n",
    b"6,614,585135090,-;BTRFS info (device loop2): balance: ended with status: 0\n",
]


def records(raw: list[bytes]) -> list[Record]:
    found = [parse(r) for r in raw]
    assert all(found)
    return found  # type: ignore[return-value]


def test_records_are_parsed():
    first, *_, last = records(MOUNT_REFUSED)
    assert first == Record(seq=300, level=4, text="BTRFS: device label corrupt devid 1 transid 6 "
                           "/dev/loop2 (7:2) scanned by mount (7700)")
    assert last.text == "EXT4-fs (loop2): mounted filesystem"
    assert parse(b"6,7,8,-;caf\\xc3\\xa9 \\x5cx0a\n").text == "caf\u00e9 \\x0a"
    for bad in (b"", b"no header", b"6,x,8,-;text\n", b"6,7;text\n"):
        assert parse(bad) is None


def test_btrfs_lines_about_a_device_and_the_reason_in_them():
    mine = about(records(MOUNT_REFUSED), ["/dev/loop2"])
    assert [r.seq for r in mine] == [300, 301, 302, 303, 304]
    assert reason(mine) == ("BTRFS: device label corrupt devid 1 transid 6 /dev/loop2 (7:2) "
                            "scanned by mount (7700); BTRFS error (device loop2): bad tree block "
                            "start, mirror 1 want 22036480 have 17275436393656397278; BTRFS "
                            "error (device loop2): failed to read chunk root; BTRFS error "
                            "(device loop2 state S): open_ctree failed: -5")
    assert [r.seq for r in about(records(MOUNT_REFUSED), ["loop21"])] == [305]
    assert about(records(MOUNT_REFUSED), ["loop"]) == []


def test_the_first_balance_after_the_mark_is_the_one_that_counts():
    found = records(BALANCE_ENOSPC)
    how, status, lines = balance_end(found, ["loop2"])
    assert (how, status) == ("ended", -28)
    assert lines == ["BTRFS info (device loop2): 8 enospc errors during balance",
                     "BTRFS info (device loop2): balance: ended with status: -28"]
    assert balance_end(found[4:], ["loop2"])[:2] == ("ended", 0)
    assert balance_end(found, ["loop3"]) == ("never", None, [])
    assert balance_end(found[:2], ["loop2"]) is None  # begun, not ended yet


def test_a_balance_whose_first_lines_were_overwritten():
    found = records(BALANCE_ENOSPC)
    # its start is gone: the first balance line left is its end
    assert balance_end(found[1:], ["loop2"], complete=False)[:2] == ("ended", -28)
    # its end is gone too: what is left is a later balance's, which says nothing of it
    assert balance_end(found[4:], ["loop2"], complete=False) is None
    assert balance_end([], ["loop2"], complete=False) is None


def test_paused_resumed_and_canceled_balances():
    lines = [b"6,1,1,-;BTRFS info (device sdb): balance: start -d -m -s\n",
             b"6,2,2,-;BTRFS info (device sdb): balance: paused\n",
             b"6,3,3,-;BTRFS info (device sdb): balance: resume -d -m -s\n",
             b"6,4,4,-;BTRFS info (device sdb): balance: ended with status: 0\n"]
    assert balance_end(records(lines), ["sdb"])[:2] == ("ended", 0)
    assert balance_end(records(lines[:2]), ["sdb"]) is None
    canceled = [*lines[:1], b"6,5,5,-;BTRFS info (device sdb): balance: canceled\n"]
    assert balance_end(records(canceled), ["sdb"])[:2] == ("canceled", None)


# `/var/lib/btrfs/scrub.status.UUID` as `btrfs scrub start -B -R` (btrfs-progs 6.2) left it
# for a raid1 pool of two loop devices, its parent killed while it ran
STATUS = """scrub status:1
7b4593c9-19cf-4fe1-874b-8ed537dd4448:1|data_extents_scrubbed:0|tree_extents_scrubbed:28|data_bytes_scrubbed:0|tree_bytes_scrubbed:458752|read_errors:0|csum_errors:0|verify_errors:0|no_csum:0|csum_discards:0|super_errors:0|malloc_errors:0|uncorrectable_errors:0|corrected_errors:0|last_physical:31129600|t_start:1796323073|t_resumed:0|duration:0|canceled:0|finished:1
7b4593c9-19cf-4fe1-874b-8ed537dd4448:2|data_extents_scrubbed:4800|tree_extents_scrubbed:28|data_bytes_scrubbed:314572800|tree_bytes_scrubbed:458752|read_errors:0|csum_errors:0|verify_errors:0|no_csum:0|csum_discards:0|super_errors:0|malloc_errors:0|uncorrectable_errors:0|corrected_errors:0|last_physical:592445440|t_start:1796323073|t_resumed:0|duration:5|canceled:0|finished:1
"""


def test_scrub_status_file():
    devices = parse_status(STATUS)
    assert sorted(devices) == [1, 2]
    assert devices[2]["data_bytes_scrubbed"] == 314572800
    assert devices[1]["t_start"] == 1796323073 and devices[1]["finished"] == 1
    assert parse_status("") == {}
    assert parse_status("scrub status:1\nx:\u0661|finished:1\nx:3|finished:\u0661\n") == {3: {}}


def test_a_scrubs_progress_says_its_sizes_in_fitting_units():
    total = {"data_bytes_scrubbed": 3 << 20, "tree_bytes_scrubbed": 1 << 20,
             **dict.fromkeys(ERRORS, 0)}
    assert describe(total, 8 << 20) == (0.5, "scrubbed 4 MiB of 8 MiB, 0 errors")
    total["csum_errors"], total["corrected_errors"] = 1, 2
    assert describe(total, 3 << 30)[1] == "scrubbed 4 MiB of 3 GiB, 1 error, 2 corrected"
