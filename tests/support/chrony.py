"""A real chronyd for tests, never touching this machine's clock or network: a network
namespace of its own holding an NTP server (a chronyd serving its local clock at stratum 8 on
127.0.0.1) and the chronyd under test, both with `-x` (the system clock is never adjusted),
their own configuration, pid files, drift files and a command socket in the test's folder.

    with Chrony(tmp_path / "chrony") as chrony:
        chrony.sources    # the sources file the client reads (`sourcedir`): rockd writes it
        chrony.socket     # the client's command socket: chronyc -h chrony.socket
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

SERVER = """port 123
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 8
cmdport 0
bindcmdaddress {dir}/server.sock
pidfile {dir}/server.pid
driftfile {dir}/server.drift
"""
CLIENT = """port 0
cmdport 0
bindcmdaddress {dir}/chronyd.sock
pidfile {dir}/client.pid
driftfile {dir}/client.drift
sourcedir {dir}/sources.d
"""


class Chrony:
    """The NTP server and the chronyd under test, in a namespace; stopped and removed on exit."""

    def __init__(self, folder: Path):
        self.dir = folder
        self.netns = f"rockd-chrony-{secrets.token_hex(4)}"
        self.sources = folder / "sources.d" / "rockd.sources"
        self.socket = folder / "chronyd.sock"
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Chrony:
        (self.dir / "sources.d").mkdir(parents=True)
        self.dir.chmod(0o700)  # chronyd refuses a socket folder others may enter
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        try:
            subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
            for name, text in (("server", SERVER), ("client", CLIENT)):
                conf = self.dir / f"{name}.conf"
                conf.write_text(text.format(dir=self.dir))
                self.procs.append(subprocess.Popen(
                    ["ip", "netns", "exec", self.netns, "chronyd", "-n", "-x", "-u", "root",
                     "-f", str(conf), "-L", "0", "-l", str(self.dir / f"{name}.log")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            deadline = time.monotonic() + 10
            while not self.socket.exists():
                assert time.monotonic() < deadline, "chronyd did not open its command socket"
                time.sleep(0.05)
        except BaseException:
            self.__exit__()
            raise
        return self

    def chronyc(self, *args: str) -> str:
        return subprocess.run(["chronyc", "-h", str(self.socket), *args], check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        subprocess.run(["ip", "netns", "del", self.netns], check=False)
