"""This box's CurveZMQ key pair, made at first start and kept in the state directory.

The secret key is written once, 0600, and never logged or served; the public key is what a
peer pairs with (`GET /api/v1/replication/identity`).
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

import zmq
from zmq.utils import z85

log = logging.getLogger(__name__)

SECRET_FILE = "curve.secret"  # noqa: S105 (a file name)
Z85_KEY = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")


def check_public_key(text: str) -> str:
    """A CurveZMQ public key in Z85 (40 characters, 32 bytes); ValueError otherwise."""
    if not isinstance(text, str) or not Z85_KEY.fullmatch(text):
        raise ValueError("a public key is 40 characters of Z85 (as GET "
                         "/api/v1/replication/identity shows it)")
    if len(z85.decode(text.encode())) != 32:
        raise ValueError("a public key is 32 bytes")
    return text


def load_or_create(folder: Path) -> tuple[bytes, bytes]:
    """(public, secret), both Z85; made and saved (secret 0600) the first time."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / SECRET_FILE
    try:
        secret = path.read_bytes().strip()
    except FileNotFoundError:
        public, secret = zmq.curve_keypair()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secret + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        log.info("made this box's replication key pair; public key %s", public.decode())
        return public, secret
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %04o): made 0600", path, mode)
        os.chmod(path, 0o600)
    if len(secret) != 40:
        raise RuntimeError(f"{path} does not hold a CurveZMQ secret key")
    return zmq.curve_public(secret), secret
