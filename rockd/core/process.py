"""Running external commands: argv lists only, never a shell, with a timeout and clear errors;
and `dies_with`, which ends a long-running child with rockd however rockd ends."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PRCTL = ctypes.CDLL(None, use_errno=True).prctl
PRCTL.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]
PRCTL.restype = ctypes.c_int


def dies_with(parent: int) -> Callable[[], None]:
    """What a child runs between fork and exec: the kernel sends it SIGTERM when the thread
    that forked it (rockd's event loop) ends, however rockd ends (kill -9 too), and if rockd is
    gone already it does not exec at all. Two system calls through a function resolved
    beforehand: nothing that takes a lock another thread of rockd could have held at the
    fork."""
    term = int(signal.SIGTERM)

    def preexec() -> None:
        if PRCTL(PR_SET_PDEATHSIG, term, 0, 0, 0) != 0 or os.getppid() != parent:
            raise OSError("rockd is gone")

    return preexec


class CommandError(RuntimeError):
    """A command that could not run, failed, or took too long."""

    def __init__(self, argv: list[str], returncode: int | None, stderr: str):
        self.argv, self.returncode, self.stderr = argv, returncode, stderr.strip()
        super().__init__(f"{argv[0]} exited {returncode}: {self.stderr or 'no message'}")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


async def _spawn(argv: list[str], stdin: bool = False) -> asyncio.subprocess.Process:
    """Start `argv` (a list, never a shell string) with its output piped back (and its input
    piped in, with `stdin`)."""
    if isinstance(argv, str) or not argv:
        raise TypeError("commands are argv lists")
    log.debug("run %s", argv)
    try:
        return await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        raise CommandError(argv, None, str(exc)) from exc


def _result(proc: asyncio.subprocess.Process, out: bytes, err: bytes) -> Result:
    return Result(proc.returncode or 0, out.decode(errors="replace"),
                  err.decode(errors="replace"))


async def run(argv: list[str], *, timeout: float = 60.0,  # noqa: ASYNC109
              check: bool = True, input: bytes | None = None) -> Result:
    """Run `argv` (a list, never a shell string) and collect its output. `input` goes to its
    standard input: the one way secrets reach a command (argv is visible to every process)."""
    proc = await _spawn(argv, stdin=input is not None)
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(input)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise CommandError(argv, None, f"timed out after {timeout} s") from None
    except asyncio.CancelledError:
        # a probe nobody waits for any more (shutdown): end it rather than leave it behind
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    result = _result(proc, out, err)
    if check and result.returncode != 0:
        raise CommandError(argv, result.returncode, result.stderr)
    return result


async def supervise(argv: list[str], tick: Callable[[], None], *, interval: float = 1.0
                    ) -> Result:
    """Run a long command, calling `tick()` every `interval` seconds while it runs (to read
    progress), and collect its output. Never raises for the exit status."""
    proc = await _spawn(argv)
    output = asyncio.ensure_future(proc.communicate())
    while True:
        done, _ = await asyncio.wait({output}, timeout=interval)
        if done:
            break
        tick()
    return _result(proc, *output.result())


async def stream(argv: list[str], line: Callable[[str], None],
                 stop: asyncio.Event | None = None, *, grace: float = 5.0) -> int:
    """Run a long command, handing each line it prints (stdout and stderr, as they come) to
    `line`; answer its exit status. Setting `stop` ends it: SIGTERM, then SIGKILL after
    `grace` seconds. A caller that is cancelled (shutdown) ends it the same way, and a rockd
    killed outright ends it too (`dies_with`): nothing of a job goes on unseen."""
    if isinstance(argv, str) or not argv:
        raise TypeError("commands are argv lists")
    log.debug("stream %s", argv)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, preexec_fn=dies_with(os.getpid()))
    except OSError as exc:
        raise CommandError(argv, None, str(exc)) from exc
    assert proc.stdout is not None

    async def reading() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line(raw.decode(errors="replace").rstrip("\n"))

    async def ending() -> None:
        if stop is not None:
            await stop.wait()
            await _end(proc, grace)

    reader, stopper = asyncio.ensure_future(reading()), asyncio.ensure_future(ending())
    try:
        await reader
        return await proc.wait()
    except BaseException:
        await _end(proc, grace)
        raise
    finally:
        stopper.cancel()
        reader.cancel()


async def _end(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after `grace` seconds."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
