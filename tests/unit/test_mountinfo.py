"""The one mountinfo parser: fields split on spaces, the kernel's octal escapes undone, and a
real mount at a path holding a space, a tab, a newline, a backslash and a byte that is not
UTF-8 read back as that very path."""

import os
import subprocess
from pathlib import Path

import pytest

from rockd.core import mountinfo

LINE = ("36 25 0:32 /a\\040b /mnt/with\\040space\\012and\\011more\\134x rw,noatime shared:1 "
        "master:2 - btrfs /dev/loop\\0403 rw,compress=zstd:3,subvol=/a\\054b")


def test_a_line_with_escapes_and_optional_fields():
    (m,) = mountinfo.parse(LINE + "\nnot a mount line\n")
    assert m.mount_id == 36 and m.parent_id == 25 and m.major_minor == "0:32"
    assert m.root == "/a b"
    assert m.target == "/mnt/with space\nand\tmore\\x"
    assert m.options == ["rw", "noatime"] and m.fstype == "btrfs" and m.source == "/dev/loop 3"
    assert m.named_options == {"compress": "zstd:3", "subvol": "/a,b"}


def test_targets_under_are_deepest_first_and_only_below():
    text = "\n".join(f"{i} 1 0:{i} / {t} rw - tmpfs x rw" for i, t in enumerate(
        ["/srv", "/srv/a", "/srv/a/b", "/srvx", "/srv/a"], start=2))
    mounts = mountinfo.parse(text)
    assert mountinfo.targets_under("/srv/", mounts) == ["/srv/a/b", "/srv/a", "/srv/a", "/srv"]
    assert mountinfo.targets_under("/srv/a", mounts) == ["/srv/a/b", "/srv/a", "/srv/a"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount")
def test_a_real_mount_at_an_awkward_path_reads_back_as_that_path(tmp_path):
    name = os.fsdecode(b"a b\tc\nd\\e\xff")
    target = tmp_path / name
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "rockd test", os.fsencode(target)],
                   check=True)
    try:
        found = [m for m in mountinfo.read() if m.target == str(target)]
        assert len(found) == 1 and found[0].fstype == "tmpfs" and found[0].source == "rockd test"
        assert mountinfo.targets_under(tmp_path) == [str(target)]
        assert Path(found[0].target).is_mount()
    finally:
        subprocess.run(["umount", os.fsencode(target)], check=True)
