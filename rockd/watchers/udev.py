"""udev: block device add/change/remove events become a rescan of that one disk.

Listens to udevd's processed events when udevd runs, else to the kernel's own uevents (a box
without udevd still sees loop devices attached and detached). One netlink socket with a large
receive buffer, read when the event loop says it is readable: no timer.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import pyudev

log = logging.getLogger(__name__)

RECEIVE_BUFFER = 32 << 20
UDEV_CONTROL = "/run/udev/control"


def udevd_running() -> bool:
    """Whether udevd answers on its control socket (a stale socket file does not count)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        try:
            sock.connect(UDEV_CONTROL)
        except OSError:
            return False
    return True


class UdevWatcher:
    """Calls `changed(kernel_name)` for every block disk event (partitions name their disk)."""

    def __init__(self, changed: Callable[[str], None]):
        self.changed = changed
        self.context = pyudev.Context()
        source = "udev" if udevd_running() else "kernel"
        self.monitor = pyudev.Monitor.from_netlink(self.context, source=source)
        self.monitor.filter_by(subsystem="block")
        self.source = source
        self._fd: int | None = None

    def start(self) -> None:
        try:
            self.monitor.set_receive_buffer_size(RECEIVE_BUFFER)
        except OSError as exc:  # needs CAP_NET_ADMIN above rmem_max
            log.debug("udev receive buffer left as it is: %s", exc)
        self.monitor.start()
        self._fd = self.monitor.fileno()
        asyncio.get_running_loop().add_reader(self._fd, self._readable)
        log.info("watching block devices through %s events", self.source)

    def _readable(self) -> None:
        while True:
            device = self.monitor.poll(timeout=0)
            if device is None:
                return
            name = device.sys_name
            if device.device_type == "partition" and device.parent is not None:
                name = device.parent.sys_name
            log.debug("udev %s %s", device.action, name)
            self.changed(name)

    def stop(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            self._fd = None
