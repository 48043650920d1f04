"""Backups as the daemon holds them: the document now, a restore (one at a time), and the
scheduled backup (a schedule of kind `config_backup`) written into a share as
`rockd-config-{UTC time}.json`, 0600, keeping the newest N."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from rockd.backup import collect, restore
from rockd.backup.collect import Parts
from rockd.backup.document import Document
from rockd.core.errors import Unprocessable

log = logging.getLogger(__name__)

STAMP = "%Y%m%dT%H%M%SZ"
FILE = re.compile(r"rockd-config-[0-9]{8}T[0-9]{6}Z\.json")


def file_name(when: datetime) -> str:
    return f"rockd-config-{when.astimezone(UTC).strftime(STAMP)}.json"


def write_private(folder: Path, name: str, data: bytes) -> Path:
    """Write `data` to folder/name (0600, root's) through a temporary file, never following a
    link; answer the path."""
    temp = folder / f".{name}.part"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, folder / name)
    return folder / name


def prune(folder: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` backup files in `folder` (0: keep all)."""
    if keep <= 0:
        return []
    files = sorted(p.name for p in folder.iterdir() if FILE.fullmatch(p.name))
    doomed = files[:-keep]
    for name in doomed:
        (folder / name).unlink(missing_ok=True)
    return doomed


class Backups:
    """The settings backup of the daemon's `parts` (see the module docstring)."""

    def __init__(self, parts: Parts):
        self.parts = parts
        self.lock = asyncio.Lock()  # one restore at a time

    def restores(self, kind: str, owner: Callable[[str, dict[str, Any]], Awaitable[Any]]
                 ) -> None:
        """Restore intent of `kind` (of the document's "other") through `owner(key, value)`."""
        self.parts.owners[kind] = owner

    async def document(self, secrets: bool = False) -> dict[str, Any]:
        return await collect.backup(self.parts, secrets)

    async def restore(self, doc: Document) -> dict[str, Any]:
        """Restore `doc` (checked whole first: 400 and nothing changed)."""
        restore.check(self.parts, doc)
        async with self.lock:
            return await restore.Restore(self.parts, doc).run()

    async def write_backup(self, share_id: str, keep: int, when: datetime) -> str:
        """Write the backup (without secrets) into the share's folder, named for `when`, keep
        the newest `keep` (0: all); answer the file's path. 422 when the share is not mounted."""
        share = self.parts.shares.get(share_id)
        folder = Path(share["path"])
        if not await asyncio.to_thread(folder.is_dir):
            raise Unprocessable(f"share {share['name']} is not mounted", code="not_mounted")
        data = orjson.dumps(await self.document(), option=orjson.OPT_INDENT_2)
        name = file_name(when)
        path = await asyncio.to_thread(write_private, folder, name, data)
        gone = await asyncio.to_thread(prune, folder, keep)
        log.info("settings backup written to %s%s", path,
                 f"; {len(gone)} older ones deleted" if gone else "")
        return str(path)
