"""What a share request may say: owner, group, mode and compression, each checked (400/422)
before anything changes. Pure rules: users and groups are looked up, nothing is written.
"""

from __future__ import annotations

import grp
import pwd
import re
from typing import Any

from rockd.core.errors import BadRequest, Unprocessable
from rockd.storage.pool_input import check_compression

MODE = re.compile(r"0?[0-7]{3,4}")
"""A share's mode: octal permission bits, such as 0755 (whole strings: fullmatch)."""


def attributes(owner: str | None, group: str | None, mode: str | None,
               compression: str | None) -> dict[str, Any]:
    """The validated owner uid, group gid, mode bits and btrfs compression property of what is
    given (none of them: nothing to change)."""
    check_compression(compression)
    attrs: dict[str, Any] = {}
    if owner is not None:
        try:
            attrs["uid"] = pwd.getpwnam(owner).pw_uid
        except KeyError:
            raise Unprocessable(f"no user {owner}", code="unknown_user") from None
    if group is not None:
        try:
            attrs["gid"] = grp.getgrnam(group).gr_gid
        except KeyError:
            raise Unprocessable(f"no group {group}", code="unknown_group") from None
    if mode is not None:
        if not MODE.fullmatch(mode):
            raise BadRequest("mode must be octal such as 0755", code="invalid_field",
                             detail={"field": "mode"})
        attrs["mode"] = int(mode, 8)
    if compression is not None:
        attrs["compression"] = "none" if compression == "no" else compression.split(":")[0]
    return attrs
