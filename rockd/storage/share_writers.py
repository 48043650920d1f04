"""Letting a user write to a share's root folder, in one of three ways: make them its owner,
give the folder their own group, or add an ACL entry for them (kept as the folder's default ACL
too, so what is made in it stays theirs to change). Each gives write and search (rwx) to the
class it changes and leaves every other entry as it was."""

from __future__ import annotations

import os
import pwd
from typing import Any, Literal

from rockd.core.errors import Forbidden, Unprocessable
from rockd.storage import posix_acl as acl

How = Literal["owner", "group", "acl"]
SYSTEM_ID = 1000  # below: system accounts and groups, which rockd never hands a share to


def account(user: str) -> pwd.struct_passwd:
    """The user, if rockd may hand a share to it (422 unknown_user, 403 system_user)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise Unprocessable(f"There is no user {user}", code="unknown_user",
                            detail={"field": "user"}) from None
    if entry.pw_uid < SYSTEM_ID:
        raise Forbidden(f"{user} is a system account", code="system_user",
                        detail={"field": "user"})
    return entry


def let_write(share: dict[str, Any], user: str, how: How) -> None:
    """Let `user` write to `share`'s root folder (`how`: see the module's docstring)."""
    entry = account(user)
    if share.get("read_only"):
        raise Unprocessable(f"share {share['name']} is read-only", code="read_only")
    path = share["path"]
    if how == "group" and entry.pw_gid < SYSTEM_ID:
        raise Forbidden(f"{user}'s group (gid {entry.pw_gid}) is a system group: add an ACL "
                        "entry instead", code="system_group", detail={"field": "how"})
    if how == "owner":
        os.chown(path, entry.pw_uid, -1)
    elif how == "group":
        os.chown(path, -1, entry.pw_gid)
    _, current = acl.effective(path)
    if how == "owner":
        changed = acl.with_entry(current, acl.USER_OBJ, 7)
    elif how == "group":
        changed = acl.with_entry(current, acl.GROUP_OBJ, 7)
    else:
        changed = acl.with_entry(current, acl.USER, 7, entry.pw_uid)
    acl.write_acls(path, changed)
