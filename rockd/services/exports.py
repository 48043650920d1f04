"""Exports: shares offered over Samba, NFS or SFTP, at /exports/{kind}/{id} in the tree.

An export is the user's intent (kept in SQLite); each kind (rockd.services.samba, nfs, sftp)
turns the list of its exports into a configuration and makes the service serve it. Every change
goes through the kind's `apply` with the whole new list *before* the intent is saved: a
configuration that does not check, or a service that will not take it, leaves the live
configuration and the intent as they were.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rockd.core.errors import NotFound, Unprocessable
from rockd.core.rescan import Rescanner
from rockd.core.store import Store
from rockd.core.tree import Revision, Tree

if TYPE_CHECKING:
    from rockd.core.models import Model
    from rockd.handlers.context import Context

log = logging.getLogger(__name__)

INTENT = "export"


class ExportKind(Protocol):
    """One way of exporting shares; see the module's docstring.

    A kind may also have `defaults(record, share) -> record` (what it derives from the share,
    e.g. the SMB name) and `without_user(record, user) -> changes | None` (how a deleted user
    leaves an export: {} nothing to do, None the export goes).
    """

    kind: str
    create_model: type[Model]
    update_model: type[Model]

    def check(self, export: dict[str, Any], ctx: Context) -> None: ...
    async def apply(self, exports: list[dict[str, Any]]) -> None: ...
    async def start(self, ctx: Context) -> None: ...
    async def stop(self) -> None: ...


class Exports:
    """Every export, by kind; creating, changing and deleting them."""

    def __init__(self, tree: Tree, store: Store, mount_root: Path, kinds: list[ExportKind]):
        self.tree = tree
        self.store = store
        self.mount_root = mount_root.resolve()
        self.kinds = {k.kind: k for k in kinds}
        self.records: dict[str, dict[str, Any]] = {}
        self.lock = asyncio.Lock()  # one configuration change at a time
        self.ctx: Context | None = None
        # shares come and go with their pools: each kind then serves what is there
        self.served: frozenset[str] = frozenset()
        self.reapply = Rescanner("exports", self._reapply)

    async def load(self) -> None:
        self.records = await self.store.intents(INTENT)

    async def start(self, ctx: Context) -> None:
        """Once the shares are known: serve every export again, and watch for drift."""
        self.ctx = ctx
        for kind in self.kinds.values():
            try:
                await kind.start(ctx)
            except Exception:
                log.exception("the %s exports could not be started", kind.kind)
        await self._reapply(None)
        self.tree.listen(self._on_revision)
        self.reapply.start()

    def _present(self) -> frozenset[str]:
        """The exported shares that are there to serve now."""
        return frozenset(r["share"] for r in self.records.values()
                         if self.tree.get(("shares", r["share"])) is not None)

    def _on_revision(self, revision: Revision) -> None:
        if (any(op.tokens[:1] == ("shares",) for op in revision.ops)
                and self._present() != self.served):
            self.reapply.request(None)

    async def _reapply(self, _key: object) -> None:
        """Each kind serves the exports whose shares are there (all of them, at start-up)."""
        async with self.lock:
            self.served = self._present()
            for kind in self.kinds.values():
                try:
                    await kind.apply(self._resolved_of(kind.kind))
                except Exception:
                    log.exception("the %s exports could not be applied", kind.kind)
        self._publish_all()

    async def stop(self) -> None:
        await self.reapply.stop()
        for kind in self.kinds.values():
            try:
                await kind.stop()
            except Exception:
                log.exception("stopping the %s exports failed", kind.kind)

    # -- reading -----------------------------------------------------------------------------

    def kind(self, name: str) -> ExportKind:
        kind = self.kinds.get(name)
        if kind is None:
            raise NotFound(f"no export kind {name}")
        return kind

    def list(self, kind: str) -> list[dict[str, Any]]:
        self.kind(kind)
        return list((self.tree.get(("exports", kind)) or {}).values())

    def get(self, kind: str, export_id: str) -> dict[str, Any]:
        record = self.records.get(export_id)
        if record is None or record["kind"] != kind:
            raise NotFound(f"no {kind} export {export_id}")
        return self.tree.get(("exports", kind, export_id)) or self._view(record)

    refers_as = "exports"  # as a ShareReferrer (rockd.storage.shares)

    def of_share(self, share_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["share"] == share_id]

    def count_of_share(self, share_id: str) -> int:
        return len(self.of_share(share_id))

    def _share_path(self, share: dict[str, Any]) -> str:
        """The share's path, which must lie under the mount root (never anywhere else)."""
        path = Path(share["path"]).resolve()
        if not path.is_relative_to(self.mount_root):
            raise Unprocessable(f"share {share['name']} is not under {self.mount_root}")
        return str(path)

    def _resolve(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The record with its share's name and path; None while the share is not there."""
        share = self.tree.get(("shares", record["share"]))
        if share is None:
            return None
        return {**record, "share_name": share["name"], "path": self._share_path(share)}

    def _resolved_of(self, kind: str, records: dict[str, dict] | None = None) -> list[dict]:
        chosen = (records if records is not None else self.records).values()
        resolved = (self._resolve(r) for r in chosen if r["kind"] == kind)
        return sorted((r for r in resolved if r is not None), key=lambda r: r["id"])

    def _view(self, record: dict[str, Any]) -> dict[str, Any]:
        resolved = self._resolve(record)
        return {**record, "share_name": resolved["share_name"] if resolved else None,
                "path": resolved["path"] if resolved else None, "active": resolved is not None}

    def _publish_all(self) -> None:
        with self.tree.transaction():
            for kind in self.kinds:
                if not isinstance(self.tree.get(("exports", kind)), dict):
                    self.tree.set(("exports", kind), {})
            for record in self.records.values():
                self.tree.set(("exports", record["kind"], record["id"]), self._view(record))

    # -- changing ----------------------------------------------------------------------------

    async def _commit(self, kind: ExportKind, records: dict[str, dict[str, Any]]) -> None:
        """Serve exactly `records` (all kinds' records after the change), or change nothing."""
        await kind.apply(self._resolved_of(kind.kind, records))

    def _checked(self, kind: ExportKind, record: dict[str, Any]) -> None:
        resolved = self._resolve(record)
        if resolved is None:
            self.tree.resource("shares", record["share"])  # 404 for an unknown share
            raise Unprocessable(f"share {record['share']} is not mounted", code="not_mounted")
        assert self.ctx is not None
        kind.check(resolved, self.ctx)

    async def create(self, kind_name: str, fields: dict[str, Any]) -> dict[str, Any]:
        kind = self.kind(kind_name)
        record = {"id": secrets.token_hex(4), "kind": kind_name, **fields}
        defaults = getattr(kind, "defaults", None)  # what a kind derives from the share
        share = self.tree.get(("shares", record["share"]))
        if defaults is not None and share is not None:
            record = defaults(record, share)
        self._checked(kind, record)
        async with self.lock:
            await self._commit(kind, {**self.records, record["id"]: record})
            await self.store.set_intent(INTENT, record["id"], record)
            self.records[record["id"]] = record
            self.served = self._present()
        view = self._view(record)
        self.tree.set(("exports", kind_name, record["id"]), view)
        return view

    async def update(self, kind_name: str, export_id: str,
                     changes: dict[str, Any]) -> dict[str, Any]:
        kind = self.kind(kind_name)
        record = {**self.records[self.get(kind_name, export_id)["id"]], **changes}
        self._checked(kind, record)
        async with self.lock:
            await self._commit(kind, {**self.records, export_id: record})
            await self.store.set_intent(INTENT, export_id, record)
            self.records[export_id] = record
            self.served = self._present()
        view = self._view(record)
        self.tree.set(("exports", kind_name, export_id), view)
        return view

    async def delete(self, kind_name: str, export_id: str) -> None:
        kind = self.kind(kind_name)
        self.get(kind_name, export_id)
        remaining = {k: v for k, v in self.records.items() if k != export_id}
        async with self.lock:
            await self._commit(kind, remaining)
            await self.store.delete_intent(INTENT, export_id)
            del self.records[export_id]
            self.served = self._present()
        self.tree.delete(("exports", kind_name, export_id))

    async def user_deleted(self, user: str) -> None:
        """A deleted user leaves the exports that named it; an export left with no one (an
        SFTP export of that user alone) goes."""
        for record in list(self.records.values()):
            without = getattr(self.kinds[record["kind"]], "without_user", None)
            if without is None:
                continue
            changes = without(record, user)
            if changes == {}:
                continue
            if changes is None:
                await self.delete(record["kind"], record["id"])
            else:
                await self.update(record["kind"], record["id"], changes)

    async def remove_of_share(self, share_id: str) -> None:
        """A share deleted with force takes its exports with it."""
        for record in self.of_share(share_id):
            await self.delete(record["kind"], record["id"])
