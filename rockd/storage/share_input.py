"""What a share request may say: owner, group, mode and compression, each checked (400/422)
before anything changes. Pure rules: users and groups are looked up, nothing is written.
"""

from __future__ import annotations

import grp
import pwd
import re
from typing import Any

from rockd.core.errors import BadRequest, Unprocessable
from rockd.core.wording import size
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
            raise Unprocessable(f"There is no user {owner}", code="unknown_user",
                                detail={"field": "owner"}) from None
    if group is not None:
        try:
            attrs["gid"] = grp.getgrnam(group).gr_gid
        except KeyError:
            raise Unprocessable(f"There is no group {group}", code="unknown_group",
                                detail={"field": "group"}) from None
    if mode is not None:
        if not MODE.fullmatch(mode):
            raise BadRequest("Mode must be 3 or 4 octal digits, such as 0755", code="invalid_field",
                             detail={"field": "mode"})
        attrs["mode"] = int(mode, 8)
    if compression is not None:
        attrs["compression"] = "none" if compression == "no" else compression.split(":")[0]
    return attrs


def capacity(pool: dict[str, Any]) -> int | None:
    """What the pool can hold at most (its raw size over its data copies), None when unknown."""
    usage = pool.get("usage")
    if not usage or not usage.get("size"):
        return None
    return int(usage["size"] / max(usage.get("data_ratio") or 1.0, 1.0))


def check_quota(quota: int | None, pool: dict[str, Any]) -> None:
    """A quota larger than its pool can ever hold is a mistake (a unit off, a digit too many),
    not a limit: 422 quota_too_large. A pool that grows later takes a larger quota then."""
    most = capacity(pool)
    if quota is not None and most is not None and quota > most:
        raise Unprocessable(
            f"Quota {size(quota)} is larger than pool {pool['name']} can hold ({size(most)}): "
            "a quota must fit in its pool", code="quota_too_large",
            detail={"field": "quota", "quota": quota, "pool_capacity": most})
