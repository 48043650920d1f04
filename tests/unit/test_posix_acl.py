"""POSIX ACLs as the kernel keeps them: the xattr format round trip, and the kernel's write
check (owner, named user, groups through the mask, other), on a real folder for the write."""

from __future__ import annotations

import os

from rockd.storage import posix_acl as acl


def stat_of(uid: int, gid: int, mode: int) -> os.stat_result:
    return os.stat_result((0o040000 | mode, 0, 0, 2, uid, gid, 0, 0, 0, 0))


def test_the_xattr_format_round_trips_in_the_kernels_order():
    entries = [acl.Entry(acl.OTHER, 5), acl.Entry(acl.USER, 7, 1001),
               acl.Entry(acl.USER_OBJ, 7), acl.Entry(acl.GROUP_OBJ, 5), acl.Entry(acl.MASK, 7)]
    raw = acl.encode(entries)
    assert raw[:4] == b"\x02\x00\x00\x00" and len(raw) == 4 + 8 * 5
    assert acl.decode(raw) == sorted(entries, key=lambda e: (e.tag, e.id))


def test_write_follows_owner_then_named_user_then_groups_through_the_mask_then_other():
    st = stat_of(1000, 1000, 0o755)
    plain = acl.from_mode(0o755)
    assert acl.may(st, plain, 1000, {1000})
    assert not acl.may(st, plain, 1001, {1001})
    assert acl.may(st, plain, 0, set())
    named = acl.with_entry(plain, acl.USER, 7, 1001)
    assert acl.Entry(acl.MASK, 7) in named
    assert acl.may(st, named, 1001, {1001})
    masked = [e if e.tag != acl.MASK else acl.Entry(acl.MASK, 5) for e in named]
    assert not acl.may(st, masked, 1001, {1001})  # the mask takes write away
    group = acl.with_entry(plain, acl.GROUP_OBJ, 7)
    assert acl.may(st, group, 1002, {1000}) and not acl.may(st, group, 1002, {1002})
    other = acl.with_entry(plain, acl.OTHER, 7)
    assert acl.may(st, other, 1003, {1003})
    # a group entry that matches but does not allow decides: other is not asked
    assert not acl.may(stat_of(1000, 1000, 0o757), acl.from_mode(0o757), 1004, {1000})


def test_an_acl_of_the_modes_three_entries_is_written_as_the_mode(tmp_path):
    folder = str(tmp_path / "f")
    os.mkdir(folder, 0o700)
    acl.write_acls(folder, acl.with_entry(acl.from_mode(0o700), acl.GROUP_OBJ, 7))
    assert os.stat(folder).st_mode & 0o777 == 0o770
    assert acl.read_acl(folder) is None
