"""The real systemd-hostnamed for tests, on a private D-Bus and in namespaces of its own: a
UTS namespace (the hostname it sets is its own) and a mount namespace where /etc is an overlay
whose writes land in the test's folder (this machine's /etc/hostname is never written).

    with Hostnamed(tmp_path / "hostnamed") as hostnamed:
        hostnamed.address     # the bus: rockd --host-control systemd --host-bus ADDRESS
        hostnamed.written     # the overlay's upper folder: what hostnamed wrote into /etc
        hostnamed.busctl("get-property", ...)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

HOSTNAMED = "/lib/systemd/systemd-hostnamed"
BUS = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""
# mount the overlay, then become hostnamed (an argv for sh: the test's, not rockd's)
INSIDE = "mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc " \
         "&& exec " + HOSTNAMED


class Hostnamed:
    """A dbus-daemon and systemd-hostnamed on it; both stopped on exit."""

    def __init__(self, folder: Path):
        self.dir = folder
        self.socket = folder / "bus.sock"
        self.address = f"unix:path={self.socket}"
        self.written = folder / "upper"
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Hostnamed:
        for name in ("upper", "work"):
            (self.dir / name).mkdir(parents=True)
        (self.dir / "bus.conf").write_text(BUS.format(socket=self.socket))
        log = (self.dir / "log").open("ab")
        try:
            self.procs.append(subprocess.Popen(
                ["dbus-daemon", f"--config-file={self.dir / 'bus.conf'}", "--nofork",
                 "--nopidfile"], stdout=log, stderr=log))
            self._wait(self.socket.exists)
            self.procs.append(subprocess.Popen(
                ["unshare", "--uts", "--mount", "--propagation", "private", "sh", "-c",
                 INSIDE.format(upper=self.written, work=self.dir / "work")],
                stdout=log, stderr=log,
                env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address}))
            self._wait(lambda: self.busctl("status", "org.freedesktop.hostname1",
                                           check=False).returncode == 0)
        except BaseException:
            self.__exit__()
            raise
        finally:
            log.close()
        return self

    @staticmethod
    def _wait(ready, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert time.monotonic() < deadline, "the private bus or hostnamed did not start"
            time.sleep(0.05)

    def busctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["busctl", f"--address={self.address}", *args], check=check,
                              capture_output=True, text=True, timeout=10)

    def property(self, name: str) -> str:
        out = self.busctl("get-property", "org.freedesktop.hostname1",
                          "/org/freedesktop/hostname1", "org.freedesktop.hostname1", name)
        return out.stdout.strip().removeprefix("s ").strip('"')

    def set_static(self, name: str) -> None:
        self.busctl("call", "org.freedesktop.hostname1", "/org/freedesktop/hostname1",
                    "org.freedesktop.hostname1", "SetStaticHostname", "sb", name, "false")

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
