"""What an account has on disk besides its entry: the home useradd made for it (removed with it,
when it is still the account's own) and its SFTP public keys."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from rockd.accounts.rules import NO_LOGIN_SHELLS
from rockd.config import Settings
from rockd.core import mountinfo

HOMES = Path("/home")  # where useradd --create-home makes a home; rockd removes none elsewhere


def own_home(entry: pwd.struct_passwd, made: str | None, others: Iterable[pwd.struct_passwd],
             homes: Path = HOMES) -> Path | None:
    """The home to remove with the account: the one rockd's useradd made (`made`), if it is
    still the account's home, directly under `homes` with no symlink on the way, a folder the
    account owns, no other account's home nor holding one, and with nothing mounted in it (a
    share bound there by hand). None keeps it."""
    if made is None or entry.pw_dir != made:
        return None
    path = Path(made)
    if path.parent != homes or path.name in ("", ".", "..") or os.path.realpath(path) != made:
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != entry.pw_uid:
        return None
    for other in others:
        for theirs in {os.path.normpath(other.pw_dir), os.path.realpath(other.pw_dir)}:
            if theirs == made or theirs.startswith(made + "/"):
                return None
    return None if mountinfo.targets_under(path) else path


def remove_home(path: Path) -> None:
    """Remove a home and all in it, following no symlink: the folder is taken by name from its
    parent, and shutil.rmtree walks by file descriptors."""
    parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        shutil.rmtree(path.name, dir_fd=parent)
    finally:
        os.close(parent)


def new_home(name: str, shell: str) -> tuple[Path | None, bool]:
    """Where useradd makes a new user's home (None for a no-login shell: no home), and whether
    nothing is there yet: only a home made afresh is rockd's to remove with the user."""
    if shell in NO_LOGIN_SHELLS:
        return None, False
    home = HOMES / name
    return home, not os.path.lexists(home)


def authorized_keys_path(settings: Settings, name: str) -> Path:
    """Where a user's SFTP public keys are: `{sftp root}/keys/{name}`, root-owned, 0644 (the
    SFTP sshd's `AuthorizedKeysFile {sftp root}/keys/%u`)."""
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"not an account name: {name!r}")
    return settings.sftp_root / "keys" / name


def count_keys(path: Path) -> int:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))


def write_keys(settings: Settings, name: str, keys: list[str]) -> None:
    """Replace the user's SFTP keys with `keys` (none: remove the file)."""
    path = authorized_keys_path(settings, name)
    if not keys:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o755)  # noqa: S103 -- sshd reads it as the user
    temp = path.with_name(f".{name}.new")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, "".join(f"{key}\n" for key in keys).encode())
        os.fchmod(fd, 0o644)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
