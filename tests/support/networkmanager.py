"""A real NetworkManager of a test's own: in a network namespace, on a private D-Bus, managing
veths whose other ends are in a second namespace (the "peer", which pings and serves DHCP).

        namespace "nm" (NetworkManager, dbus-daemon)        namespace "peer"
            eth1 ───────────── veth ──────────────────────── p1
            eth2 ───────────── veth ──────────────────────── p2   (udhcpd when asked)
            eth3 … eth4 ────── veth ──────────────────────── p3 … p4
            ctl ──── veth ──── host (only when asked: a rockd in the namespace, reached from
                               the test)

What NetworkManager needs to run without systemd, here:
- its system bus: a `dbus-daemon` with a config the test writes (root may own and call
  anything), at a socket in the test's folder; NetworkManager finds it in
  DBUS_SYSTEM_BUS_ADDRESS and rockd through `--network-bus`;
- a read-only /sys: with a writable one NetworkManager uses udev, and udev never announces
  devices of another network namespace, so every device would stay unmanaged ("platform-init");
- its own /run/NetworkManager and /var/lib/NetworkManager (bind mounts in a mount namespace of
  its own, `unshare --mount`), a config file with `plugins=keyfile` and a keyfile folder in the
  test's folder, `auth-polkit=false` (no polkit), `dns=none` (leaves /etc/resolv.conf alone)
  and the internal DHCP client.

`python -m tests.support.networkmanager FOLDER` is that last step (mounts, then exec).
`close()` stops both daemons and deletes the namespaces (and so every veth); `leftovers()`
says what of it still exists.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import LOCK
from tests.support.netns import _free_octet as free_octet
from tests.support.process import ROOT

PREFIX = "rockd-nm"
VETHS = 4

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy user="root">
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

NM_CONF = """[main]
plugins=keyfile
auth-polkit=false
dhcp=internal
dns=none
rc-manager=unmanaged
no-auto-default=*
[keyfile]
path={keyfiles}
[logging]
level=INFO
"""


class Unavailable(Exception):
    """A part is missing here (NetworkManager, dbus-daemon, ip netns): the tests skip."""


def run(argv: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result


class NetworkBox:
    """The two namespaces, the veths, the bus and NetworkManager (see the module)."""

    def __init__(self, control: bool = False) -> None:
        self.control = control
        self.host_link: str | None = None
        self.control_net = ""  # with `control`: a /24 whose .1 is the host's end, .2 ctl's
        self.tag = secrets.token_hex(3)
        self.ns = f"{PREFIX}-{self.tag}"
        self.peer = f"{PREFIX}-{self.tag}-peer"
        self.dir = Path(tempfile.mkdtemp(prefix="rockd-nm-"))
        self.socket = self.dir / "bus.sock"
        self.address = f"unix:path={self.socket}"
        self.made: list[str] = []
        self.procs: list[subprocess.Popen] = []
        self.dhcp: subprocess.Popen | None = None

    # -- making it ----------------------------------------------------------------------

    def create(self) -> NetworkBox:
        for tool in ("ip", "unshare", "dbus-daemon", "NetworkManager", "busybox"):
            if shutil.which(tool) is None:
                raise Unavailable(f"{tool} is not installed")
        if os.geteuid() != 0:
            raise Unavailable("network namespaces need root")
        for name in (self.ns, self.peer):
            result = run(["ip", "netns", "add", name], check=False)
            if result.returncode != 0:
                raise Unavailable(f"ip netns add: {result.stderr.strip()}")
            self.made.append(name)
            self.ip(name, "link", "set", "lo", "up")
        for n in range(1, VETHS + 1):
            run(["ip", "link", "add", f"rk{self.tag}{n}", "netns", self.ns, "type", "veth",
                 "peer", "name", f"p{n}", "netns", self.peer])
            self.ip(self.ns, "link", "set", f"rk{self.tag}{n}", "name", f"eth{n}")
            self.ip(self.peer, "link", "set", f"p{n}", "up")
        if self.control:
            self._control_link()
        for part in ("keyfiles", "state", "run"):
            (self.dir / part).mkdir()
        (self.dir / "bus.conf").write_text(BUS_CONF.format(socket=self.socket))
        (self.dir / "nm.conf").write_text(NM_CONF.format(keyfiles=self.dir / "keyfiles"))
        self._start(["dbus-daemon", "--nofork", f"--config-file={self.dir / 'bus.conf'}"],
                    "dbus.log")
        self._wait(self.socket.exists, "the bus's socket")
        self.start_networkmanager()
        return self

    def start_networkmanager(self) -> None:
        self._start(["unshare", "--mount", "--propagation", "private", "--",
                     sys.executable, "-m", "tests.support.networkmanager", str(self.dir)],
                    "nm.log")
        self._wait(lambda: "eth1:" in self.nmcli("-t", "-f", "DEVICE,STATE", "device",
                                                 check=False), "NetworkManager")

    def stop_networkmanager(self) -> None:
        """Stop NetworkManager (it leaves the devices as they are)."""
        proc = self.procs.pop()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)

    def _control_link(self) -> None:
        """A veth from the host (`host_link`, .1) to "ctl" in the namespace (.2), through
        which the test reaches a rockd running in the namespace."""
        self.host_link = f"rk{self.tag}c"
        run(["ip", "link", "add", self.host_link, "type", "veth", "peer", "name", "ctl",
             "netns", self.ns])
        with LOCK.open("a") as lock:  # the /24 is taken once it is on the host's end
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.control_net = f"10.231.{free_octet()}"
            run(["ip", "addr", "add", f"{self.control_net}.1/24", "dev", self.host_link])
        run(["ip", "link", "set", self.host_link, "up"])
        self.ip(self.ns, "addr", "add", f"{self.control_net}.2/24", "dev", "ctl")
        self.ip(self.ns, "link", "set", "ctl", "up")

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run in the namespace's network, in this process's mount namespace."""
        return ["ip", "netns", "exec", self.ns, "nsenter", f"--mount=/proc/{os.getpid()}/ns/mnt",
                f"--wd={ROOT}", "--", *argv]

    def _start(self, argv: list[str], log: str) -> None:
        with (self.dir / log).open("ab") as out:
            self.procs.append(subprocess.Popen(
                ["ip", "netns", "exec", self.ns, *argv], stdout=out, stderr=out, cwd=ROOT,
                env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address},
                start_new_session=True))

    def _wait(self, ready, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"{what}: a daemon ended; see {self.dir}/*.log:\n"
                                   + self.log())
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready in {timeout} s:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return "".join((self.dir / name).read_text(errors="replace")[-3000:]
                       for name in ("dbus.log", "nm.log") if (self.dir / name).exists())

    # -- using it -----------------------------------------------------------------------

    def ip(self, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["ip", "-n", ns, *args], check=check)

    def nmcli(self, *args: str, check: bool = True) -> str:
        result = run(["nmcli", *args], check=check,
                     env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address})
        return result.stdout

    def checkpoints(self) -> list[str]:
        """NetworkManager's checkpoints now (each a rollback still to come), read on its bus."""
        result = run(["dbus-send", f"--bus={self.address}", "--print-reply",
                      "--dest=org.freedesktop.NetworkManager", "/org/freedesktop/NetworkManager",
                      "org.freedesktop.DBus.Properties.Get",
                      "string:org.freedesktop.NetworkManager", "string:Checkpoints"])
        return re.findall(r'object path "([^"]+)"', result.stdout)

    def ping(self, address: str) -> bool:
        """Whether `address` answers a ping from the peer namespace."""
        return run(["ip", "netns", "exec", self.peer, "busybox", "ping", "-c", "1", "-W", "1",
                    address], check=False).returncode == 0

    def addresses(self, dev: str) -> str:
        return self.ip(self.ns, "-o", "addr", "show", "dev", dev).stdout

    def kernel_has(self, kind: str) -> bool:
        """Whether this kernel makes links of `kind` (bond, vlan, bridge): this one may lack
        the module and be unable to load any."""
        extra = ["link", "eth1", "type", "vlan", "id", "9"] if kind == "vlan" else ["type", kind]
        made = self.ip(self.ns, "link", "add", "name", "rkprobe", *extra, check=False)
        self.ip(self.ns, "link", "del", "rkprobe", check=False)
        return made.returncode == 0

    def serve_dhcp(self, dev: str, net: str) -> None:
        """udhcpd on the peer's `dev` (given `net`.1/24), leasing `net`.100 to .150."""
        self.ip(self.peer, "addr", "add", f"{net}.1/24", "dev", dev)
        conf = self.dir / "udhcpd.conf"
        conf.write_text(f"start {net}.100\nend {net}.150\ninterface {dev}\n"
                        f"lease_file {self.dir / 'udhcpd.leases'}\n"
                        f"option subnet 255.255.255.0\noption lease 600\n")
        (self.dir / "udhcpd.leases").touch()
        with (self.dir / "udhcpd.log").open("ab") as out:
            self.dhcp = subprocess.Popen(["ip", "netns", "exec", self.peer, "busybox",
                                          "udhcpd", "-f", str(conf)], stdout=out, stderr=out,
                                         start_new_session=True)

    # -- taking it down -----------------------------------------------------------------

    def close(self) -> None:
        for proc in [p for p in (self.dhcp, *reversed(self.procs)) if p is not None]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        if self.host_link is not None:
            run(["ip", "link", "del", self.host_link], check=False)
        for name in self.made:
            run(["ip", "netns", "del", name], check=False)
        self.made = []
        shutil.rmtree(self.dir, ignore_errors=True)

    def leftovers(self) -> list[str]:
        listed = run(["ip", "netns", "list"]).stdout
        left = [name for name in (self.ns, self.peer) if name in listed]
        if self.host_link and self.host_link in run(["ip", "-o", "link"]).stdout:
            left.append(self.host_link)
        left += [str(p.pid) for p in (self.dhcp, *self.procs) if p is not None
                 and p.poll() is None]
        return left + ([str(self.dir)] if self.dir.exists() else [])


def running(control: bool = False) -> Iterator[NetworkBox]:
    """A fixture's body: a NetworkBox made (the test skipped where NetworkManager cannot run),
    then closed, with nothing of it left."""
    box = NetworkBox(control=control)
    try:
        try:
            box.create()
        except Unavailable as exc:
            pytest.skip(f"NetworkManager cannot run here: {exc}")
        yield box
    finally:
        box.close()
        assert box.leftovers() == []


def _exec_networkmanager(folder: Path) -> None:
    """In a mount namespace of its own: /sys read-only, NetworkManager's run and state
    folders from `folder`; then NetworkManager in the foreground."""
    run(["mount", "-o", "remount,ro", "/sys"])
    run(["mount", "-t", "tmpfs", "-o", "mode=0755", "rockd-nm", "/run"])  # not the host's /run
    for target, source in (("/run/NetworkManager", "run"), ("/var/lib/NetworkManager", "state")):
        Path(target).mkdir(parents=True, exist_ok=True)
        run(["mount", "--bind", str(folder / source), target])
    os.execvp("NetworkManager", [
        "NetworkManager", "--no-daemon", f"--config={folder / 'nm.conf'}",
        f"--config-dir={folder / 'conf.d'}", f"--state-file={folder / 'state' / 'nm.state'}",
        f"--pid-file={folder / 'run' / 'nm.pid'}"])


if __name__ == "__main__":
    _exec_networkmanager(Path(sys.argv[1]))
