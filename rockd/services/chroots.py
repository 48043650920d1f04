"""The SFTP chroots: `{sftp root}/chroot/{user}/{share name}`, each a bind mount of a share, and
the sessions locked inside them.

The mounts are made to match what each user may reach (what is there and right is left alone,
anything else under the folder is unmounted) and all of them are unmounted when rockd stops:
none outlives it. A user who loses a share is disconnected first (their sessions are the
processes whose root is their chroot), so that no session keeps a share it lost through a mount
held busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from rockd.core import mountinfo
from rockd.core.errors import Unprocessable
from rockd.core.process import CommandError, run

log = logging.getLogger(__name__)

Bindings = dict[str, dict[str, str]]
"""user -> {share name -> share path}: what each user reaches in their chroot."""


def shows(target: Path, source: str) -> bool:
    """Whether `target` is the root of `source` (a subvolume has its own st_dev)."""
    try:
        a, b = os.stat(target), os.stat(source)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


async def unmount(target: str) -> None:
    """Unmount `target`; one held busy (a session inside it) is detached lazily instead."""
    try:
        await run(["umount", target])
    except CommandError as exc:
        log.warning("%s is busy (%s); detaching it lazily", target, exc.stderr)
        await run(["umount", "--lazy", target])


def sessions_in(root: Path) -> list[int]:
    """The processes chrooted at or below `root`: SFTP sessions (by /proc/PID/root)."""
    prefix = str(root)
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                where = os.readlink(f"/proc/{entry.name}/root")
            except OSError:
                continue
            if where == prefix or where.startswith(prefix + "/"):
                found.append(int(entry.name))
    return found


async def end_sessions(root: Path, grace: float = 3.0) -> int:
    """End the SFTP sessions chrooted below `root` (SIGTERM, then SIGKILL after `grace` s),
    waiting for each to exit through a pidfd: nothing polls. Answers how many there were."""
    loop = asyncio.get_running_loop()
    waits: list[tuple[int, int, asyncio.Future[None]]] = []
    for pid in sessions_in(root):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue  # gone already
        gone: asyncio.Future[None] = loop.create_future()

        def exited(fd: int = fd, gone: asyncio.Future[None] = gone) -> None:
            loop.remove_reader(fd)  # a pidfd stays readable once its process is gone
            if not gone.done():
                gone.set_result(None)

        loop.add_reader(fd, exited)
        waits.append((pid, fd, gone))
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(fd, signal.SIGTERM)
    try:
        if waits:
            _, pending = await asyncio.wait([g for _, _, g in waits], timeout=grace)
            for pid, fd, gone in waits:
                if gone in pending:
                    log.warning("SFTP session %d did not end on SIGTERM; killing it", pid)
                    with contextlib.suppress(ProcessLookupError):
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
            if pending:
                await asyncio.wait(pending, timeout=grace)
    finally:
        for _, fd, _ in waits:
            loop.remove_reader(fd)
            os.close(fd)
    return len(waits)


def root_dir(path: Path) -> None:
    """`path` as a root-owned 0755 folder (what sshd demands of a chroot)."""
    path.mkdir(mode=0o755, exist_ok=True)
    os.chown(path, 0, 0)
    os.chmod(path, 0o755)  # noqa: S103 -- a chroot must be root's and open to its user


class Chroots:
    """The chroots under `folder` and the shares bound into them."""

    def __init__(self, folder: Path):
        self.folder = folder

    async def bind(self, bindings: Bindings) -> list[str]:
        """Mount each user's shares into their chroot; answers the mounts made (all of them
        undone again if one fails)."""
        added: list[str] = []
        try:
            for user, shares in sorted(bindings.items()):
                home = self.folder / user
                root_dir(home)
                for name, source in sorted(shares.items()):
                    target = home / name
                    present = mountinfo.targets_under(target)
                    if len(present) == 1 and shows(target, source):
                        continue
                    for stale in present:
                        await unmount(stale)
                    if not target.is_dir():
                        target.mkdir(mode=0o755)
                    await run(["mount", "--bind", source, str(target)])
                    added.append(str(target))
        except CommandError as exc:
            await self.undo(added)
            raise Unprocessable(f"a share could not be mounted into a chroot: {exc.stderr}",
                                code="apply_failed") from None
        return added

    @staticmethod
    async def undo(added: list[str]) -> None:
        """Unmount what `bind` made (quietly: this is already a way back)."""
        for target in reversed(added):
            with contextlib.suppress(CommandError):
                await unmount(target)

    async def unbind(self, bindings: Bindings) -> None:
        """Unmount whatever is under the folder and not wanted; remove the emptied folders."""
        if not self.folder.is_dir():
            return
        wanted = {str(self.folder / user / name)
                  for user, shares in bindings.items() for name in shares}
        unwanted = [t for t in mountinfo.targets_under(self.folder) if t not in wanted]
        # whoever loses a share is disconnected first: no session keeps a share it lost
        for user in sorted({Path(t).relative_to(self.folder).parts[0] for t in unwanted
                            if Path(t) != self.folder}):
            ended = await end_sessions(self.folder / user)
            if ended:
                log.info("ended %d SFTP sessions of %s, who lost a share", ended, user)
        for target in unwanted:
            await unmount(target)
        for home in self.folder.iterdir():
            if not home.is_dir() or home.is_symlink():
                continue
            for entry in home.iterdir():
                if str(entry) not in wanted and entry.is_dir() and not entry.is_mount():
                    with contextlib.suppress(OSError):
                        entry.rmdir()  # only ever an empty mount point: never a recursive rm
            if home.name not in bindings:
                with contextlib.suppress(OSError):
                    home.rmdir()

    async def release(self) -> None:
        """End every session and unmount every share: nothing of it outlives rockd."""
        await end_sessions(self.folder)
        for target in mountinfo.targets_under(self.folder):
            try:
                await unmount(target)
            except CommandError as exc:
                log.error("could not unmount %s: %s", target, exc.stderr)
