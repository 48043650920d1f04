"""The rules for users and groups, with no effect on the machine: names, shells, passwords, SSH
keys, system accounts, groups that grant privilege, the uid of a new user, and what a shadow
tool's failure means for the API."""

from __future__ import annotations

import base64
import binascii
import grp
import re
from collections.abc import Iterable
from pathlib import Path

from rockd.accounts.privilege import PRIVILEGED_NAMES, Named
from rockd.core.errors import BadRequest, Conflict, Forbidden, InvalidName, Unprocessable
from rockd.core.process import CommandError

FIRST_ID = 1000  # below it: system accounts (login.defs UID_MIN/GID_MIN)
LAST_ID = 60000  # above it: nobody/nogroup (65534) and other reserved ids (UID_MAX)
NOLOGIN = "/usr/sbin/nologin"
NO_LOGIN_SHELLS = frozenset({"/usr/sbin/nologin", "/sbin/nologin", "/bin/false",
                             "/usr/bin/false"})
MAX_GID = 2**32 - 1
# what the shadow tools read as a gid rather than a name (strtoll, base 10)
NUMBER = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")
# rockd.core.names' rule, narrowed to what useradd and Samba take without surprises: lower
# case (Samba matches user names case-insensitively), at most 32 characters, not all digits
ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
MAX_PASSWORD = 254
"""Bytes (UTF-8) of a password: smbpasswd reads at most 254 from a line (chpasswd, through PAM,
511)."""
MAX_KEY = 16384
KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
})


def is_system(account_id: int) -> bool:
    """A system account or group: listed, never changed through rockd."""
    return account_id < FIRST_ID or account_id > LAST_ID


def resolve_group(ref: str) -> grp.struct_group | None:
    """The group `ref` names, read as useradd and usermod read it: a decimal number that fits a
    gid is that gid (a group named "27" by hand is no way around gid 27), anything else a
    name."""
    if NUMBER.fullmatch(ref) and 0 <= int(ref) <= MAX_GID:
        try:
            return grp.getgrgid(int(ref))
        except KeyError:
            return None
    try:
        return grp.getgrnam(ref)
    except KeyError:
        return None


def refuse_privileged(field: str, name: str, gid: int | None, named: Named) -> None:
    """403 system_group for a group rockd must neither put a user in nor make: a system gid, a
    name that grants privilege, or a group that sudoers or polkit names."""
    system = gid is not None and is_system(gid)
    if system or name in PRIVILEGED_NAMES or name in named.names or gid in named.gids:
        what = f"a system group (gid {gid})" if system else "a group that grants privilege"
        raise Forbidden(f"{name} is {what}: rockd puts no user in it", code="system_group",
                        detail={"field": field, "group": name})


def next_uid(in_use: Iterable[int], given: Iterable[int]) -> int:
    """The uid of a new user that asks for none: above every uid in use and every uid rockd
    ever gave or deleted, so no one inherits a deleted account's files; past LAST_ID, the
    lowest uid that is neither."""
    used = {uid for uid in (*in_use, *given) if not is_system(uid)}
    top = max(used, default=FIRST_ID - 1) + 1
    if top <= LAST_ID:
        return top
    for uid in range(FIRST_ID, LAST_ID + 1):
        if uid not in used:
            return uid
    raise Unprocessable(f"every uid from {FIRST_ID} to {LAST_ID} is used or was",
                        code="no_free_uid")


def check_account_name(name: str, what: str = "user") -> str:
    if not ACCOUNT_NAME.fullmatch(name) or name.isdigit():
        raise InvalidName(f"{what} name {name!r} must be 1 to 32 lower-case letters, digits, "
                          "'.', '_' or '-', start with a letter or digit and not be all "
                          "digits", detail={"field": "name", "pattern": ACCOUNT_NAME.pattern})
    return name


def login_shells(path: Path = Path("/etc/shells")) -> set[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return set()
    return {line.strip() for line in lines if line.strip().startswith("/")}


def check_shell(shell: str | None, shells: Iterable[str] | None = None) -> str:
    """The shell to set: nologin by default; else one of /etc/shells or a no-login shell."""
    if shell is None:
        return NOLOGIN
    allowed = set(login_shells() if shells is None else shells) | NO_LOGIN_SHELLS
    if shell not in allowed:
        raise BadRequest(f"shell {shell!r} is not in /etc/shells (nor a no-login shell)",
                         code="invalid_field", detail={"field": "shell"})
    return shell


def check_password(password: str) -> str:
    """A password that chpasswd and smbpasswd take as one line of their input."""
    if not password or len(password.encode()) > MAX_PASSWORD:
        raise BadRequest(f"a password has 1 to {MAX_PASSWORD} bytes (UTF-8)",
                         code="invalid_field", detail={"field": "password"})
    if any(c in password for c in "\n\r\0"):
        raise BadRequest("a password cannot hold a line break or a NUL", code="invalid_field",
                         detail={"field": "password"})
    return password


def _key_error(index: int | None, problem: str) -> BadRequest:
    where = "ssh_keys" if index is None else f"ssh_keys.{index}"
    return BadRequest(f"{where}: {problem}", code="invalid_field", detail={"field": where})


def parse_ssh_key(line: str, index: int | None = None) -> str:
    """One public key as `type base64 [comment]`, checked: a known type, base64 whose blob
    names that same type, a printable comment. No options (`command=...`, `from=...`), no line
    breaks: a key can grant nothing but itself."""
    if len(line) > MAX_KEY:
        raise _key_error(index, "too long")
    if any(c in line for c in "\n\r\0"):
        raise _key_error(index, "a key is one line")
    parts = line.strip().split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise _key_error(index, "must be 'TYPE BASE64 [comment]' with TYPE one of "
                         + ", ".join(sorted(KEY_TYPES)) + " (options are not accepted)")
    kind, data = parts[0], parts[1]
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _key_error(index, "the key is not base64") from None
    size = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if size != len(kind) or blob[4:4 + size] != kind.encode():
        raise _key_error(index, f"the key's data is not a {kind} key")
    comment = parts[2].strip() if len(parts) == 3 else ""
    if comment and not comment.isprintable():
        raise _key_error(index, "the comment must be printable")
    return " ".join(p for p in (kind, data, comment) if p)


def account_error(exc: CommandError, name: str) -> Exception:
    """A shadow tool's exit status as the API's error (see useradd(8), userdel(8)...)."""
    tool = exc.argv[0]
    if tool in ("useradd", "usermod", "groupadd") and exc.returncode in (4, 9):
        return Conflict(f"{name}: {exc.stderr}", code="exists")
    if tool in ("useradd", "usermod") and exc.returncode == 6:
        return Unprocessable(f"{name}: {exc.stderr}", code="unknown_group")
    if tool == "userdel" and exc.returncode == 8:
        return Conflict(f"user {name} is logged in or runs processes", code="busy")
    if tool == "usermod" and exc.returncode == 8:
        return Conflict(f"user {name} is logged in or runs processes", code="busy")
    if tool == "groupdel" and exc.returncode == 8:
        return Conflict(f"group {name} is a user's primary group", code="in_use")
    return exc
