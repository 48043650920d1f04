"""NUT's programs as rockd's own children: each in the foreground (-F), in its own session,
told its folders through the environment, ended with rockd (PR_SET_PDEATHSIG), and started
again with growing pauses when it dies while wanted. Its output goes to a log file in NUT's
folder; its exit is reported (the owner shows it as `last_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from rockd.core.process import dies_with
from rockd.core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0
BACKOFF_FIRST, BACKOFF_MAX, STEADY = 1.0, 30.0, 60.0
CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 4096, 16384, 1 << 18
_LIBC = ctypes.CDLL(None, use_errno=True)
_UNSHARE, _MOUNT = _LIBC.unshare, _LIBC.mount
_UNSHARE.argtypes, _UNSHARE.restype = [ctypes.c_int], ctypes.c_int
_MOUNT.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                   ctypes.c_void_p]
_MOUNT.restype = ctypes.c_int


def _dies_with(parent: int, bind: tuple[bytes, bytes] | None) -> Callable[[], None]:
    """Between fork and exec: SIGTERM when rockd's thread ends; no exec if it is gone. With
    `bind` (a folder, and where), the child sees that folder there, in a mount namespace of
    its own. System calls through functions resolved beforehand only."""
    ends = dies_with(parent)

    def preexec() -> None:
        ends()
        if bind is not None and (
                _UNSHARE(CLONE_NEWNS) != 0
                or _MOUNT(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0
                or _MOUNT(bind[0], bind[1], None, MS_BIND, None) != 0):
            raise OSError(ctypes.get_errno(), f"cannot mount {bind[0]!r} on {bind[1]!r}")

    return preexec


class Child:
    """One of NUT's programs, kept running while wanted."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path,
                 exited: Callable[[str, str], None], bind: tuple[Path, Path] | None = None):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.bind = (bytes(bind[0]), bytes(bind[1])) if bind else None
        self.exited = exited  # (name, its last words) when it died unasked
        self.proc: asyncio.subprocess.Process | None = None
        self.task: asyncio.Task[None] | None = None
        self.wanted = False

    async def start(self) -> None:
        if self.wanted:
            return
        self.wanted = True
        self.proc = await self._spawn()
        self.task = asyncio.create_task(self._watch(), name=f"nut-{self.name}")

    async def _spawn(self) -> asyncio.subprocess.Process:
        with self.log_path.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                env=self.env, start_new_session=True,
                preexec_fn=_dies_with(os.getpid(), self.bind))
        log.info("started %s (pid %d)", self.name, proc.pid)
        return proc

    def tail(self, lines: int = 3) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace").splitlines()
            return " / ".join(line for line in text[-lines:] if line.strip())
        return ""

    async def _watch(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            assert self.proc is not None
            started = time.monotonic()
            code = await self.proc.wait()
            self._signal(signal.SIGKILL)  # what it left behind in its session
            if not self.wanted:
                return
            log.warning("%s exited %s; starting it again in %.0f s", self.name, code, backoff)
            self.exited(self.name, f"{self.name} exited {code}: {self.tail()}")
            if time.monotonic() - started > STEADY:
                backoff = BACKOFF_FIRST
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
            try:
                self.proc = await self._spawn()
            except OSError as exc:
                self.exited(self.name, f"{self.name} could not be started: {exc}")
                self.wanted = False
                return

    async def stop(self) -> None:
        self.wanted = False
        await cancel_and_wait(self.task)
        self.task = None
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self._signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT):
                await proc.wait()
        self._signal(signal.SIGKILL)
        await proc.wait()

    def _signal(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)


class Children:
    """The programs of one configuration, started in order and stopped in reverse."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    async def start(self, children: list[Child]) -> None:
        await self.stop()
        self.children = children
        for child in children:
            await child.start()

    async def add(self, child: Child) -> None:
        self.children.append(child)
        await child.start()

    async def stop(self) -> None:
        for child in reversed(self.children):
            await child.stop()
        self.children = []
