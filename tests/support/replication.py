"""Replication test support: file trees to send, their checksums, and the `rockd serve`
command of a replicating box, and a fake peer that pairing accepts."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import zmq

from tests.support.process import serve_argv, settings_for


def checksums(root: Path) -> dict[str, str]:
    """Every file under `root` (relative path -> sha256), and every folder and link."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = "link:" + os.readlink(path)
                continue
            digest = hashlib.sha256()
            with path.open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
            found[rel] = digest.hexdigest()
        for name in dirs:
            found[str((Path(folder) / name).relative_to(root)) + "/"] = "dir"
    return found


def write_files(root: Path, count: int, size: int, seed: str = "") -> None:
    """`count` files of `size` random bytes in a few folders under `root`."""
    for i in range(count):
        folder = root / f"d{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{seed}{i}").write_bytes(os.urandom(size))
    os.sync()


def command(state: Path, port: int, zmq_port: int, devices: list[str]) -> list[str]:
    """`rockd serve` replicating from `zmq_port`, with its own Samba, NFS and SFTP settings (as
    bench/replication.py starts it)."""
    return serve_argv(settings_for(state, devices, listen=f"127.0.0.1:{port}",
                                   state_dir=state, mount_root=state / "mnt",
                                   zmq_listen=f"127.0.0.1:{zmq_port}"))


@contextlib.contextmanager
def fake_peer() -> Iterator[dict[str, str]]:
    """A CurveZMQ endpoint that completes the handshake with anyone and answers nothing: a
    peer that pairing's test connection accepts ({"address", "public_key"})."""
    context = zmq.Context()
    public, secret = zmq.curve_keypair()
    router = context.socket(zmq.ROUTER)
    router.curve_server = True
    router.curve_secretkey = secret
    router.linger = 0
    port = router.bind_to_random_port("tcp://127.0.0.1")
    try:
        yield {"address": f"127.0.0.1:{port}", "public_key": public.decode()}
    finally:
        router.close(0)
        context.term()
