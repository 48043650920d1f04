"""What Samba keeps of a user besides its password: the passdb entry (with the user's SID) and
the idmap cache that maps that SID to a uid (`net cache`, kept a week). Both go when the user
goes, whether rockd deleted it or saw it deleted by hand, so a user made again under the same
name gets a new SID and no stale uid."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from rockd.core.process import run

log = logging.getLogger(__name__)


def samba_there(conf: Path, tool: str) -> bool:
    """Whether Samba's `tool` can work on the passdb of `conf`."""
    return conf.exists() and shutil.which(tool) is not None


async def samba_sid(conf: Path, name: str) -> str | None:
    """The SID the passdb of `conf` gives user `name` (None: no entry)."""
    result = await run(["pdbedit", "-s", str(conf), "-v", "-u", name], check=False, timeout=30)
    for line in result.stdout.splitlines():
        label, _, value = line.partition(":")
        if label.strip() == "User SID" and value.strip().startswith("S-"):
            return value.strip()
    return None


def cache_keys_of(listing: str, sid: str) -> list[str]:
    """The keys of `net cache list` output that map `sid` to an id or an id to `sid`."""
    keys = []
    for line in listing.splitlines():
        fields = dict(part.strip().split(": ", 1) for part in line.split("\t") if ": " in part)
        key, value = fields.get("Key", ""), fields.get("Value", "").strip()
        if key.startswith("IDMAP/") and (key.endswith("/" + sid) or value == sid):
            keys.append(key)
    return keys


async def forget_idmap(conf: Path, sid: str) -> None:
    """Remove the idmap cache entries of `sid` (both directions)."""
    if shutil.which("net") is None:
        return
    listed = await run(["net", "-s", str(conf), "cache", "list"], check=False, timeout=30)
    for key in cache_keys_of(listed.stdout, sid):
        await run(["net", "-s", str(conf), "cache", "del", key], check=False, timeout=30)


async def forget_samba_user(conf: Path, name: str) -> None:
    """Remove user `name`'s passdb entry and its SID's idmap cache entries (never raises for a
    user Samba does not know)."""
    if not samba_there(conf, "pdbedit"):
        return
    sid = await samba_sid(conf, name)
    result = await run(["pdbedit", "-s", str(conf), "-x", "-u", name], check=False, timeout=30)
    if result.returncode != 0 and sid is not None:
        log.warning("the Samba entry of %s stays: %s", name, result.stderr.strip())
    if sid is not None:
        await forget_idmap(conf, sid)
