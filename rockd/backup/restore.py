"""Restoring a backup document onto a box: the whole document is checked first (400, nothing
changed), then each item is made again through its owner's own method (the same checks and side
effects as the API's), in dependency order: groups, users, pools (matched, never made), shares,
exports, schedules, services, replication peers (pairing tests the connection) and tasks, apps
(when the engine runs), then intent of other kinds.

An item that exists already and is equal is applied (a second restore changes nothing); one
that exists otherwise, or cannot be made, is skipped with the reason. Ids that are a box's own
(share and pool UUIDs) are mapped through the items as they are matched or made.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from rockd.backup import restore_more
from rockd.backup.collect import BOX_OWN, SECTIONED, Parts, own_group, ssh_keys
from rockd.backup.document import Document, ExportRecord, PoolRecord, ShareRecord, UserRecord
from rockd.core.errors import BadRequest, RockdError
from rockd.core.models import validate
from rockd.core.process import CommandError
from rockd.jobs.schedules import KINDS as SCHEDULE_KINDS

log = logging.getLogger(__name__)

SHARE_FIELDS = ("quota", "compression", "owner", "group", "mode")


def check(parts: Parts, doc: Document) -> None:
    """400 for what no owner of this box could take: an unknown export or schedule kind, export
    fields its kind refuses, intent of a kind that is a box's own."""
    for i, export in enumerate(doc.exports):
        if export.kind not in parts.exports.kinds:
            raise BadRequest(f"rockd has no {export.kind!r} exports", code="invalid_field",
                             detail={"field": f"exports.{i}.kind"})
        try:
            validate(parts.exports.kind(export.kind).create_model, export_fields(parts, export))
        except BadRequest as exc:
            field = f"exports.{i}.fields.{exc.detail.get('field', '')}".rstrip(".")
            raise BadRequest(exc.message, code=exc.code, detail={**exc.detail,
                                                                 "field": field}) from None
    for i, schedule in enumerate(doc.schedules):
        if schedule.kind not in SCHEDULE_KINDS:
            raise BadRequest(f"rockd has no {schedule.kind!r} schedules", code="invalid_field",
                             detail={"field": f"schedules.{i}.kind"})
    for kind in doc.other:
        if kind in SECTIONED | BOX_OWN:
            raise BadRequest(f"intent of kind {kind!r} is not restored as it is",
                             code="invalid_field", detail={"field": f"other.{kind}"})


def export_fields(parts: Parts, export: ExportRecord) -> dict[str, Any]:
    """The export's fields its kind's create request takes (what the kind added is dropped)."""
    model = parts.exports.kind(export.kind).create_model
    return {k: v for k, v in export.fields.items() if k in model.model_fields}


def differing(have: dict[str, Any], want: dict[str, Any]) -> list[str]:
    return [k for k, v in want.items() if have.get(k) != v]


def exists_otherwise(fields: list[str]) -> str:
    return f"it exists here with another {', '.join(fields)}; left as it is"


class Restore:
    """One restore of `doc` onto the box of `parts`; `run` answers applied and skipped."""

    def __init__(self, parts: Parts, doc: Document):
        self.parts, self.doc = parts, doc
        self.applied: list[str] = []
        self.skipped: list[dict[str, str]] = []
        self.share_ids: dict[str, str] = {}  # the document's share id -> this box's
        self.share_labels: dict[str, str] = {}  # the document's share id -> "pool/name"
        self.pool_ids: dict[str, str] = {}  # the document's pool UUID -> this box's
        self.pool_names: dict[str, str] = {}  # the document's pool name -> this box's UUID

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append({"item": item, "reason": reason})

    async def item(self, label: str, action: Callable[[], Awaitable[str | None]]) -> None:
        """Run one item's action: None applied it, a string is why it was skipped."""
        try:
            reason = await action()
        except RockdError as exc:
            reason = exc.message
        except (CommandError, ValueError, OSError) as exc:
            reason = str(exc)
        if reason is None:
            self.applied.append(label)
        else:
            self.skip(label, reason)

    async def run(self) -> dict[str, Any]:
        doc = self.doc
        for group in doc.groups:
            await self.item(f"group {group.name}", partial(self._group, group.name, group.gid))
        for user in doc.users:
            await self.item(f"user {user.name}", partial(self._user, user))
        for pool in doc.pools:
            await self.item(f"pool {pool.name}", partial(self._pool, pool))
        for share in doc.shares:
            self.share_labels[share.id] = f"{share.pool}/{share.name}"
            await self.item(f"share {share.pool}/{share.name}", partial(self._share, share))
        for export in doc.exports:
            label = self.share_labels.get(str(export.fields.get("share")), "an unknown share")
            await self.item(f"{export.kind} export of {label}", partial(self._export, export))
        await restore_more.rest(self)
        log.info("restore: %d items applied, %d skipped", len(self.applied), len(self.skipped))
        return {"applied": self.applied, "skipped": self.skipped}

    # -- accounts ------------------------------------------------------------------------------

    async def _group(self, name: str, gid: int) -> str | None:
        users = self.parts.users
        have = next((g for g in users.groups() if g["name"] == name), None)
        if have is not None:
            return None if have["gid"] == gid else exists_otherwise(["gid"])
        await users.create_group(name, gid)
        return None

    async def _user(self, user: UserRecord) -> str | None:
        users = self.parts.users
        have = next((u for u in users.users() if u["name"] == user.name), None)
        if have is not None:
            return self._same_user(have, user)
        await users.create(user.name, None, user.uid, user.group, user.groups, user.shell,
                           user.ssh_keys)
        await restore_more.password_hashes(self, user)
        return None

    def _same_user(self, have: dict[str, Any], user: UserRecord) -> str | None:
        now = {"uid": have["uid"], "group": None if own_group(have) else have["group"],
               "groups": sorted(have["groups"]), "shell": have["shell"],
               "ssh_keys": ssh_keys(self.parts, user.name)}
        want = {"uid": user.uid, "group": user.group, "groups": sorted(user.groups),
                "shell": user.shell, "ssh_keys": user.ssh_keys}
        fields = differing(now, want)
        return exists_otherwise(fields) if fields else None

    # -- storage -------------------------------------------------------------------------------

    async def _pool(self, pool: PoolRecord) -> str | None:
        present = list((self.parts.tree.get("/pools") or {}).values())
        match = next((p for p in present if p["id"] == pool.uuid), None) or next(
            (p for p in present if p["name"] == pool.name), None)
        if match is None or match["id"] not in self.parts.pools.intent:
            return f"no pool {pool.name} on this box (a restore never makes a pool)"
        self.pool_ids[pool.uuid] = self.pool_names[pool.name] = match["id"]
        intent = self.parts.pools.intent[match["id"]]
        want = {"compression": pool.compression, "mount_options": pool.mount_options}
        if differing({k: intent.get(k) or ("" if k == "mount_options" else None)
                      for k in want}, want):
            await self.parts.pools.update(match["id"], want)
        return None

    async def _share(self, share: ShareRecord) -> str | None:
        pool_id = self.pool_names.get(share.pool)
        if pool_id is None:
            return f"its pool {share.pool} is not on this box"
        want = {k: getattr(share, k) for k in SHARE_FIELDS}
        have = next((s for s in (self.parts.tree.get("/shares") or {}).values()
                     if s["pool"] == pool_id and s["name"] == share.name), None)
        if have is not None:
            self.share_ids[share.id] = have["id"]
            fields = differing(have, want)
            return exists_otherwise(fields) if fields else None
        made = await self.parts.shares.create(pool_id, share.name, **want)
        self.share_ids[share.id] = made["id"]
        return None

    # -- exports -------------------------------------------------------------------------------

    async def _export(self, export: ExportRecord) -> str | None:
        exports = self.parts.exports
        share = self.share_ids.get(str(export.fields.get("share")))
        if share is None:
            return "its share was not restored"
        model = exports.kind(export.kind).create_model
        fields = validate(model, {**export_fields(self.parts, export), "share": share})
        want = fields.model_dump()
        for record in exports.of_share(share):
            if record["kind"] == export.kind:
                diff = differing(record, want)
                return exists_otherwise(diff) if diff else None
        await exports.create(export.kind, want)
        return None
