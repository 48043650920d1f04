"""Exports: shares offered over Samba, NFS or SFTP, at /exports/{kind}/{id} in the tree.

An export is the user's intent (kept in SQLite); each kind (rockd.services.samba, nfs, sftp)
turns the list of its exports into a configuration and makes the service serve it. Every change
goes through the kind's `apply` with the whole new list *before* the intent is saved: a
configuration that does not check, or a service that will not take it, leaves the live
configuration and the intent as they were.

Shares come and go with their pools, and snapshots with them: `shares_changed` is the news of
it (app.py wires it), on which each kind serves again what is there.

Each SMB and SFTP export shows who of its users can really write to its share
(`writable_by`, rockd.services.writers), read again when the accounts change
(`accounts_changed`), when the shares do, and when the share's root folder changes owner,
mode or ACL (inotify IN_ATTRIB on that folder).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from inotify_simple import Event
from inotify_simple import flags as f

from rockd.core.errors import NotFound, Unprocessable
from rockd.core.models import Model
from rockd.core.rescan import Rescanner
from rockd.core.store import Store
from rockd.core.tree import Subtree
from rockd.services.writers import writable_by
from rockd.watchers.inotify import Inotify, Watch

log = logging.getLogger(__name__)

INTENT = "export"

Record = dict[str, Any]
"""An export: as kept ({"id", "kind", "share", ...the kind's fields}), and as a kind is given it
or the tree shows it, with its share's "share_name" and "path" (and "active" in the tree)."""


class ExportKind(Protocol):
    """One way of exporting shares (see the module's docstring). A kind is built with the
    handle of its /configs/{kind} entry and what else it uses (app.py builds it)."""

    kind: ClassVar[str]
    create_model: ClassVar[type[Model]]
    update_model: ClassVar[type[Model]]
    resource: ClassVar[Any]
    """Its export as the tree and the API show it: a TypedDict of rockd.core.resources."""

    def defaults(self, record: Record, share: Record) -> Record:
        """The new record with what the kind derives from its share (e.g. the SMB name)."""

    def without_user(self, record: Record, user: str) -> Record | None:
        """The changes that take the deleted user `user` out of the export: {} nothing to
        do, None the export goes."""

    def check(self, export: Record, others: Sequence[Record]) -> None:
        """Refuse `export` (400, 409, 422) as it would be saved; `others` are the kind's other
        exports, as the tree shows them (a name clash is the kind's to find)."""

    async def apply(self, exports: list[Record]) -> None:
        """Serve exactly `exports` (every one whose share is there), or raise and change
        nothing."""

    async def start(self) -> None:
        """Publish /configs/{kind} and follow its file's drift."""

    async def stop(self) -> None: ...

    def shares_changed(self) -> None:
        """Shares or snapshots changed (what is served stays until the next `apply`)."""


class Exports:
    """Every export, by kind; creating, changing and deleting them."""

    def __init__(self, tree: Subtree, store: Store, mount_root: Path,
                 kinds: Sequence[ExportKind], inotify: Inotify | None = None):
        self.tree = tree
        self.store = store
        self.mount_root = mount_root.resolve()
        self.kinds = {k.kind: k for k in kinds}
        self.records: dict[str, Record] = {}
        self.lock = asyncio.Lock()  # one configuration change at a time
        self.running = False
        # shares come and go with their pools: each kind then serves what is there
        self.served: frozenset[str] = frozenset()
        self.reapply = Rescanner("exports", self._reapply)
        self.inotify = inotify
        self.roots: dict[str, Watch] = {}  # the exported shares' root folders, watched
        self.writers = Rescanner("export-writers", self._review)

    async def load(self) -> None:
        self.records = await self.store.intents(INTENT)

    async def start(self) -> None:
        """Once the shares are known: serve every export again, and watch for drift."""
        for kind in self.kinds.values():
            try:
                await kind.start()
            except Exception:
                log.exception("the %s exports could not be started", kind.kind)
        await self._reapply(None)
        self.running = True
        self.reapply.start()
        self.writers.start()

    def shares_changed(self) -> None:
        """News that /shares or /snapshots changed: serve what is there now."""
        self.accounts_changed()
        if self.running and self._present() != self.served:  # (`start` serves what is there)
            self.reapply.request(None)
        for kind in self.kinds.values():
            kind.shares_changed()

    def _present(self) -> frozenset[str]:
        """The exported shares that are there to serve now."""
        return frozenset(r["share"] for r in self.records.values()
                         if self.tree.get(("shares", r["share"])) is not None)

    async def _reapply(self, _key: Hashable) -> None:
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
        self.running = False
        await self.reapply.stop()
        await self.writers.stop()
        for watch in self.roots.values():
            watch.remove()
        self.roots.clear()
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

    def of_kind(self, kind: str) -> list[Record]:
        self.kind(kind)
        return list((self.tree.get(("exports", kind)) or {}).values())

    def get(self, kind: str, export_id: str) -> Record:
        record = self.records.get(export_id)
        if record is None or record["kind"] != kind:
            raise NotFound(f"no {kind} export {export_id}")
        return self.tree.get(("exports", kind, export_id)) or self._view(record)

    refers_as = "exports"  # as a ShareReferrer (rockd.storage.shares)

    def of_share(self, share_id: str) -> list[Record]:
        return [r for r in self.records.values() if r["share"] == share_id]

    def count_of_share(self, share_id: str) -> int:
        return len(self.of_share(share_id))

    def _share_path(self, share: Record) -> str:
        """The share's path, which must lie under the mount root (never anywhere else)."""
        path = Path(share["path"]).resolve()
        if not path.is_relative_to(self.mount_root):
            raise Unprocessable(f"share {share['name']} is not under {self.mount_root}")
        return str(path)

    def _resolve(self, record: Record) -> Record | None:
        """The record with its share's name and path; None while the share is not there."""
        share = self.tree.get(("shares", record["share"]))
        if share is None:
            return None
        return {**record, "share_name": share["name"], "path": self._share_path(share)}

    def _resolved_of(self, kind: str, records: dict[str, Record] | None = None) -> list[Record]:
        chosen = (records if records is not None else self.records).values()
        resolved = (self._resolve(r) for r in chosen if r["kind"] == kind)
        return sorted((r for r in resolved if r is not None), key=lambda r: r["id"])

    def _view(self, record: Record) -> Record:
        resolved = self._resolve(record)
        view = {**record, "share_name": resolved["share_name"] if resolved else None,
                "path": resolved["path"] if resolved else None, "active": resolved is not None}
        writers = writable_by(record, self.tree.get(("shares", record["share"])),
                              self.tree.get("/users") or {}, self.tree.get("/groups") or {})
        if writers is not None:
            view["writable_by"] = writers
        return view

    # -- who can write -------------------------------------------------------------------------

    def accounts_changed(self) -> None:
        """Users or groups changed (an AccountsFollower): who can write is read again."""
        if self.running:
            self.writers.request(None)

    async def _review(self, _key: Hashable) -> None:
        self._publish_all()

    def _root_changed(self, events: list[Event]) -> None:
        if any(not e.name for e in events):  # the folder itself, not what is in it
            self.writers.request(None)

    def _watch_roots(self) -> None:
        """Watch the root folder of every exported share that is there (and no other)."""
        if self.inotify is None:
            return
        wanted = {r["path"] for r in self._resolved_all()}
        for path in set(self.roots) - wanted:
            self.roots.pop(path).remove()
        for path in wanted - set(self.roots):
            try:
                self.roots[path] = self.inotify.watch(path, f.ATTRIB | f.ONLYDIR,
                                                      self._root_changed)
            except OSError as exc:
                log.warning("cannot follow the permissions of %s: %s", path, exc)

    def _resolved_all(self) -> list[Record]:
        return [r for r in map(self._resolve, self.records.values()) if r is not None]

    def _publish_all(self) -> None:
        self._watch_roots()
        with self.tree.transaction():
            for kind in self.kinds:
                if not isinstance(self.tree.get(("exports", kind)), dict):
                    self.tree.set(("exports", kind), {})
            for record in self.records.values():
                self.tree.set(("exports", record["kind"], record["id"]), self._view(record))

    # -- changing ----------------------------------------------------------------------------

    async def _commit(self, kind: ExportKind, records: dict[str, Record]) -> None:
        """Serve exactly `records` (all kinds' records after the change), or change nothing."""
        await kind.apply(self._resolved_of(kind.kind, records))

    def _checked(self, kind: ExportKind, record: Record) -> None:
        resolved = self._resolve(record)
        if resolved is None:
            self.tree.resource("shares", record["share"])  # 404 for an unknown share
            raise Unprocessable(f"share {record['share']} is not mounted", code="not_mounted")
        others = [self._view(r) for r in self.records.values()
                  if r["kind"] == kind.kind and r["id"] != record["id"]]
        kind.check(resolved, others)

    async def create(self, kind_name: str, fields: Record) -> Record:
        kind = self.kind(kind_name)
        record = {"id": secrets.token_hex(4), "kind": kind_name, **fields}
        share = self.tree.get(("shares", record["share"]))
        if share is not None:
            record = kind.defaults(record, share)
        self._checked(kind, record)
        async with self.lock:
            await self._commit(kind, {**self.records, record["id"]: record})
            await self.store.set_intent(INTENT, record["id"], record)
            self.records[record["id"]] = record
            self.served = self._present()
        view = self._view(record)
        self.tree.set(("exports", kind_name, record["id"]), view)
        return view

    async def update(self, kind_name: str, export_id: str, changes: Record) -> Record:
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
            changes = self.kinds[record["kind"]].without_user(record, user)
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
