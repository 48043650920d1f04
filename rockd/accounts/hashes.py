"""A user's password hashes, for a settings backup taken with secrets: the login hash in
/etc/shadow and Samba's NT hash in the passdb of rockd's smb.conf. Set again as hashes (chpasswd
-e through stdin, pdbedit importing a private smbpasswd file), never through argv."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from rockd.accounts.samba_records import samba_there
from rockd.core.process import run

NT_HASH = re.compile(r"[0-9A-F]{32}")
NO_HASH = ("", "*", "!", "!*", "x")  # a locked or passwordless account: nothing to carry


def shadow_hash(name: str, shadow: Path = Path("/etc/shadow")) -> str | None:
    """The login hash of `name` (None: none, or a locked account)."""
    for line in shadow.read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 1 and fields[0] == name:
            return None if fields[1] in NO_HASH else fields[1]
    return None


async def nt_hash(conf: Path, name: str) -> str | None:
    """Samba's NT hash of `name` in the passdb of `conf` (None: no entry, or no Samba)."""
    if not samba_there(conf, "pdbedit"):
        return None
    result = await run(["pdbedit", "-s", str(conf), "-L", "-w", "-u", name], check=False,
                       timeout=30)
    for line in result.stdout.splitlines():
        fields = line.split(":")
        if len(fields) > 3 and fields[0] == name and NT_HASH.fullmatch(fields[3]):
            return fields[3]
    return None


async def set_shadow_hash(name: str, hashed: str) -> None:
    """Set the login hash of `name` as it is (chpasswd -e, through stdin)."""
    if ":" in hashed or "\n" in hashed:
        raise ValueError("not a shadow hash")
    await run(["chpasswd", "-e"], input=f"{name}:{hashed}\n".encode(), timeout=30)


async def set_nt_hash(conf: Path, name: str, uid: int, hashed: str) -> bool:
    """Give `name` a Samba entry with this NT hash, imported from a private smbpasswd file (a
    hash is as good as the password: never in argv); False when there is no Samba here."""
    if not NT_HASH.fullmatch(hashed):
        raise ValueError("not an NT hash")
    if not samba_there(conf, "pdbedit"):
        return False
    with tempfile.TemporaryDirectory(prefix="rockd-nt-") as folder:
        path = Path(folder) / "smbpasswd"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"{name}:{uid}:{'X' * 32}:{hashed}:[U          ]:LCT-00000000:\n")
        await run(["pdbedit", "-s", str(conf), "-i", f"smbpasswd:{path}"], timeout=30)
    return True
