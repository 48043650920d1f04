"""Who can really write to an export: of the users the export lets in (SMB: its valid users and
groups, or every user with a Samba password; SFTP: its users), those whom the share's root
folder lets make files, by its owner, group, mode and POSIX ACL, as the kernel decides. A
read-only SMB export or share is written by no one, and leaves no one wanting."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rockd.storage import posix_acl

log = logging.getLogger(__name__)

Accounts = Mapping[str, dict[str, Any]]


def members(group: str, users: Accounts, groups: Accounts) -> set[str]:
    """The users in `group`, as an extra group or their primary one."""
    entry = groups.get(group)
    if entry is None:
        return set()
    return set(entry["members"]) | {n for n, u in users.items() if u["gid"] == entry["gid"]}


def audience(export: Mapping[str, Any], users: Accounts, groups: Accounts) -> set[str] | None:
    """Who may sign in to the export and expects to write; None for a kind that names no
    users (NFS)."""
    if export["kind"] == "sftp":
        return set(export.get("users") or [])
    if export["kind"] != "smb":
        return None
    if export.get("read_only"):
        return set()
    named = set(export.get("valid_users") or [])
    for group in export.get("valid_groups") or []:
        named |= members(group, users, groups)
    if not export.get("valid_users") and not export.get("valid_groups"):
        named = {n for n, u in users.items() if u.get("samba") and not u.get("system")}
    return {n for n in named if n in users}


def gids_of(user: dict[str, Any], groups: Accounts) -> set[int]:
    return {user["gid"]} | {groups[g]["gid"] for g in user.get("groups", []) if g in groups}


def writable_by(export: Mapping[str, Any], share: Mapping[str, Any] | None, users: Accounts,
                groups: Accounts) -> dict[str, list[str]] | None:
    """{"users": who of the export's users can write, "denied": who cannot}; None for a kind
    that names no users."""
    wanted = audience(export, users, groups)
    if wanted is None:
        return None
    if share is None or share.get("read_only") or not wanted:
        return {"users": [], "denied": []}
    try:
        st, acl = posix_acl.effective(share["path"])
    except (OSError, ValueError) as exc:
        log.warning("the permissions of %s cannot be read: %s", share["path"], exc)
        return {"users": [], "denied": sorted(wanted)}
    can = {n for n in wanted
           if posix_acl.may(st, acl, users[n]["uid"], gids_of(users[n], groups))}
    return {"users": sorted(can), "denied": sorted(wanted - can)}
