"""sd_notify: tell systemd (Type=notify) that rockd is ready or stopping, and keep its
watchdog fed from the event loop.

The protocol is one datagram to the socket named by $NOTIFY_SOCKET; without it this is a no-op.
With WatchdogSec= in the unit, systemd sets $WATCHDOG_USEC (and $WATCHDOG_PID) and restarts
rockd when no "WATCHDOG=1" arrives within that time. The pings come from a task on the event
loop, so a loop that is stuck (a blocking call, a busy handler) stops them, and systemd
restarts a rockd that no longer answers anyone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1") to systemd; False when not run by systemd, or when its
    socket is gone or full: never raises and never blocks the event loop (a stop goes on
    whatever became of systemd)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.send(state.encode(), socket.MSG_DONTWAIT)
    except OSError as exc:
        log.warning("cannot tell systemd %s: %s", state.split("=", 1)[0], exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings (half of systemd's WatchdogSec), or None when systemd
    asks for none of this process."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


async def feed_watchdog(interval: float) -> None:
    """Send WATCHDOG=1 every `interval` seconds for as long as the event loop runs freely."""
    log.info("feeding systemd's watchdog every %.1f s", interval)
    while True:
        notify("WATCHDOG=1")  # systemd gone or behind: tried again next time
        await asyncio.sleep(interval)
