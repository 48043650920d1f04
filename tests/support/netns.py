"""Two rockd boxes, each in a network namespace of its own, joined by a link a test can cut.

The topology (n: a /24 `10.231.n.0` that this host does not use, cut into /30s):

        host                      namespace A                       namespace B
                               wire 10.231.n.1/30 ─── veth ─── wire 10.231.n.2/30
    rk…a 10.231.n.5/30 ─ veth ─ ctl  10.231.n.6/30
    rk…b 10.231.n.9/30 ─ veth ──────────────────────────────────── ctl  10.231.n.10/30

- `wire` (a veth pair from A to B) is the only way between the two boxes: ZeroMQ listens on
  it (`--zmq-listen 10.231.n.1:8471` and `.2:8471`); `cut()` sets one end down, `mend()` up.
- `ctl` (a veth pair from the host into each namespace) carries the test's HTTP calls only:
  rockd listens on it (`--listen 10.231.n.6:8470` and `.10:8470`) and the test, on the host,
  reaches it directly. A namespace has routes to its own two /30s and nothing else (no
  default route), so A never reaches B through the host: with `wire` down, not at all.
- `lo` is up in each. Every port is the namespace's own: both boxes use rockd's defaults.

A rockd is started with `ip netns exec NS nsenter --mount=/proc/<this pid>/ns/mnt -- rockd ...`
(`command()`, the rig's `prefix`).
`ip netns exec` puts it in the namespace, and also in a mount namespace of its own (to remount
/sys there), where the pools it mounts would be hidden from the test: the test could neither
write into a share nor list its subvolumes. `nsenter --mount` takes it back into the test's
mount namespace, so that only its network is apart. (rockd there hears no udev events, which
udevd sends in the host's namespace only; the disks it manages are all there when it starts.)

`close()` deletes the veths and the namespaces; `leftovers()` says which of them still exist.
"""

from __future__ import annotations

import fcntl
import os
import random
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.process import ROOT

HTTP_PORT, ZMQ_PORT = 8470, 8471
PREFIX = "rockd-nx"
LOCK = Path(tempfile.gettempdir()) / "rockd-tests-netns.lock"


class Unavailable(Exception):
    """`ip netns` (or nsenter) cannot be used here: the tests skip."""


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    argv = ["ip", *(["netns", "exec", netns, "ip"] if netns else []), *args]
    result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result


def _free_octet() -> int:
    """A third octet n such that nothing on this host is in 10.231.n.0/24."""
    shown = ip("-4", "-o", "addr").stdout + ip("-4", "route", "show", "table", "all").stdout
    for n in random.sample(range(256), 256):
        if f"10.231.{n}." not in shown:
            return n
    raise RuntimeError("no free /24 in 10.231.0.0/16")


class Namespaces:
    """Namespaces "a" and "b", the link between them and a control link from the host to
    each (see the module's docstring)."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.names = {side: f"{PREFIX}-{self.tag}-{side}" for side in "ab"}
        self.host_links = {side: f"rk{self.tag}{side}" for side in "ab"}
        self.link: dict[str, str] = {}
        self.host: dict[str, str] = {}
        self.control: dict[str, str] = {}
        self.made: list[str] = []

    def create(self) -> Namespaces:
        """Make it all; Unavailable if this host cannot make a network namespace at all."""
        for tool in ("ip", "nsenter"):
            if shutil.which(tool) is None:
                raise Unavailable(f"{tool} is not installed")
        if os.geteuid() != 0:
            raise Unavailable("network namespaces need root")
        for side, name in self.names.items():
            result = ip("netns", "add", name, check=False)
            if result.returncode != 0:
                if side == "a":
                    raise Unavailable(f"ip netns add: {result.stderr.strip()}")
                raise RuntimeError(f"ip netns add {name}: {result.stderr.strip()}")
            self.made.append(name)
            ip("link", "set", "lo", "up", netns=name)
        a, b = self.names["a"], self.names["b"]
        ip("link", "add", "name", "wire", "netns", a, "type", "veth", "peer", "name", "wire",
           "netns", b)
        for side, name in self.names.items():
            ip("link", "add", self.host_links[side], "type", "veth", "peer", "name", "ctl",
               "netns", name)
        with LOCK.open("a") as lock:  # two tests at once take two /24s
            fcntl.flock(lock, fcntl.LOCK_EX)
            net = f"10.231.{_free_octet()}"
            self.link = {"a": f"{net}.1", "b": f"{net}.2"}
            self.host = {"a": f"{net}.5", "b": f"{net}.9"}
            self.control = {"a": f"{net}.6", "b": f"{net}.10"}
            for side in self.names:
                ip("addr", "add", f"{self.host[side]}/30", "dev", self.host_links[side])
        for side, name in self.names.items():
            ip("addr", "add", f"{self.link[side]}/30", "dev", "wire", netns=name)
            ip("addr", "add", f"{self.control[side]}/30", "dev", "ctl", netns=name)
            ip("link", "set", self.host_links[side], "up")
            for dev in ("wire", "ctl"):
                ip("link", "set", dev, "up", netns=name)
        self.wait_link()
        return self

    def wait_link(self, timeout: float = 10.0) -> None:
        """Until both ends of every link are up, with their carrier (LOWER_UP)."""
        deadline = time.monotonic() + timeout
        while True:
            states = [ip("-o", "link", "show", "dev", dev, netns=ns).stdout
                      for ns in self.names.values() for dev in ("wire", "ctl")]
            states += [ip("-o", "link", "show", "dev", dev).stdout
                       for dev in self.host_links.values()]
            if all("LOWER_UP" in s and ",UP" in s for s in states):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"links not up: {states}")
            time.sleep(0.05)

    def cut(self, side: str = "b") -> None:
        """Set one end of the link between A and B down: nothing goes either way."""
        ip("link", "set", "wire", "down", netns=self.names[side])

    def mend(self, side: str = "b") -> None:
        ip("link", "set", "wire", "up", netns=self.names[side])
        self.wait_link()

    def command(self, side: str, argv: list[str]) -> list[str]:
        """`argv` run in namespace `side`'s network, in this process's mount namespace."""
        return ["ip", "netns", "exec", self.names[side], "nsenter",
                f"--mount=/proc/{os.getpid()}/ns/mnt", f"--wd={ROOT}", "--", *argv]

    def close(self) -> None:
        """Delete the links and the namespaces (the processes in them must have ended)."""
        for side, host in self.host_links.items():
            ip("link", "del", host, check=False)
            if self.names[side] in self.made:
                ip("link", "del", "wire", netns=self.names[side], check=False)
        for name in self.made:
            ip("netns", "del", name, check=False)
        self.made = []

    def leftovers(self) -> list[str]:
        """Namespaces and host links of ours that still exist."""
        listed = ip("netns", "list").stdout + ip("-o", "link").stdout
        return [name for name in [*self.names.values(), *self.host_links.values()]
                if name in listed]
