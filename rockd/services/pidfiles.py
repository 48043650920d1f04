"""The pid file of a service rockd runs itself, `{state dir}/services/{name}.pid`: how the next
rockd finds, and ends, what a killed or crashed one left running, before it starts that service.

A record names the child by its pid, its start time (field 22 of /proc/PID/stat, clock ticks
since boot), the boot and its binary, so a pid the kernel has since given to another process,
or one of another boot, is never taken for the child. The child leads a session of its own
(start_new_session), so what it forked is found by session id, even once the child is gone: its
pid stays taken while a process still has it as session id, and then only processes of the
recorded binary, started since the child, count as its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from pathlib import Path
from typing import NamedTuple

from pydantic import TypeAdapter, ValidationError

log = logging.getLogger(__name__)

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
ROUNDS = 3  # scans of a session while it is being ended (a process may fork meanwhile)


class Identity(NamedTuple):
    """Who the child was: no other process, of this boot or another, has all four."""

    pid: int
    start: int  # clock ticks after boot (field 22 of /proc/PID/stat)
    boot: str
    exe: str


class Stat(NamedTuple):
    state: str
    session: int
    start: int


RECORD = TypeAdapter(Identity)


def stat(pid: int) -> Stat | None:
    """A process's state, session and start time from /proc/PID/stat; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after the command name, which may hold ") "
    return Stat(fields[0], int(fields[3]), int(fields[19]))


def boot_id() -> str:
    return BOOT_ID.read_text().strip()


def identify(pid: int, exe: str) -> Identity | None:
    """The identity of live process `pid`, started from binary `exe`."""
    found = stat(pid)
    if found is None:
        return None
    return Identity(pid, found.start, boot_id(), os.path.realpath(exe))


def write(path: Path, identity: Identity) -> None:
    """Replaced in one rename: a crash leaves the previous record or this one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.part")
    part.write_text(json.dumps(identity._asdict()) + "\n")
    os.replace(part, path)


def read(path: Path) -> Identity | None:
    try:
        return RECORD.validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        log.warning("%s is not a pid file of rockd's; ignored (%s)", path,
                    str(exc).splitlines()[0])
        return None


def remove(path: Path, identity: Identity) -> None:
    """Remove the file if it still records this child."""
    if read(path) == identity:
        path.unlink(missing_ok=True)


def _binary(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except OSError:
        return None


def left_behind(identity: Identity) -> list[tuple[int, int]]:
    """(pid, start time) of each live process of the session the recorded child led; none
    when the record is of another boot, or its pid is now another process's."""
    if identity.boot != boot_id():
        return []
    leader = stat(identity.pid)
    if leader is not None and leader.start != identity.start:
        return []  # the child ended and its pid went to another process since
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        member = stat(int(entry.name))
        if member is None or member.session != identity.pid or member.state == "Z":
            continue
        if leader is None and (member.start < identity.start
                               or _binary(int(entry.name)) != identity.exe):
            continue
        found.append((int(entry.name), member.start))
    return found


def _open(pid: int, start: int) -> int | None:
    """A pidfd of the process `pid` started at `start`, or None if that one is gone (a pidfd
    names one process for good: no signal sent through it reaches a later holder of the pid)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    now = stat(pid)
    if now is None or now.start != start:
        os.close(fd)
        return None
    return fd


async def _settled(waits: dict[int, tuple[int, asyncio.Future]], seconds: float) -> None:
    pending = [ended for _, ended in waits.values() if not ended.done()]
    if pending:
        await asyncio.wait(pending, timeout=seconds)


def _send(fd: int, *signals: int) -> None:
    for sig in signals:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(fd, sig)


async def terminate(processes: list[tuple[int, int]], grace: float) -> tuple[list[int], list[int]]:
    """End these (pid, start time) processes: SIGTERM (and SIGCONT, which a stopped one needs
    to act on it), then SIGKILL to those still there after `grace` seconds. Waits for each
    through its pidfd (nothing polls); answers the pids it signalled, and those of them that
    had not ended `grace` seconds after SIGKILL either."""
    loop = asyncio.get_running_loop()
    waits: dict[int, tuple[int, asyncio.Future]] = {}

    def exited(ended: asyncio.Future) -> None:
        if not ended.done():
            ended.set_result(None)

    try:
        for pid, start in processes:
            fd = _open(pid, start)
            if fd is None:
                continue
            waits[pid] = (fd, loop.create_future())
            loop.add_reader(fd, exited, waits[pid][1])
            _send(fd, signal.SIGTERM, signal.SIGCONT)
        await _settled(waits, grace)
        for pid, (fd, ended) in waits.items():
            if not ended.done():
                log.warning("process %d did not end on SIGTERM; killing it", pid)
                _send(fd, signal.SIGKILL)
        await _settled(waits, grace)
    finally:
        for fd, _ in waits.values():
            loop.remove_reader(fd)  # a pidfd stays readable once its process is gone
            os.close(fd)
    return list(waits), [pid for pid, (_, ended) in waits.items() if not ended.done()]


async def end_left_behind(path: Path, name: str, grace: float) -> None:
    """End what the run of rockd that wrote `path` left of service `name`, then remove the
    file (only then: a crash meanwhile leaves it for the next run)."""
    identity = read(path)
    ended: list[int] = []
    stuck: list[int] = []
    for _ in range(ROUNDS):
        if identity is None:
            break
        found = [p for p in left_behind(identity) if p[0] not in stuck]  # forked meanwhile
        if not found:
            break
        signalled, still = await terminate(found, grace)
        ended += signalled
        stuck += still
    if ended:
        log.warning("ended %s left running by a previous rockd (pids %s)", name,
                    ", ".join(map(str, sorted(set(ended) - set(stuck)))))
    if stuck:
        log.error("%s left running by a previous rockd did not end even on SIGKILL (pids %s)",
                  name, ", ".join(map(str, stuck)))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
