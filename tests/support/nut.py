"""NUT for the UPS tests: a `.dev` file that NUT's real `dummy-ups` driver follows (the test
changes it to replay a power failure: OL → OB DISCHRG → OB DISCHRG LB), a stand-in for the
final poweroff command (a script that only records that it was called), and a NUT server of
the test's own (dummy-ups and upsd as plain processes, with their own NUT_CONFPATH and
NUT_STATEPATH, `-u root`, a free port on 127.0.0.1) for rockd's network mode.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.client import free_port

NUT_BIN = Path("/lib/nut")
ONLINE = {"ups.status": "OL", "battery.charge": "100", "battery.runtime": "1800",
          "ups.mfr": "Dummy", "ups.model": "Rack 1500"}


class DevFile:
    """The variables dummy-ups reports, in a .dev file it re-reads when it changes."""

    def __init__(self, path: Path, **values: str):
        self.path = path
        self.values = {**ONLINE, **values}
        self.write()

    def write(self, **changes: str) -> float:
        """Change variables; answers the time (monotonic) the file was replaced."""
        self.values.update(changes)
        text = "".join(f"{key}: {value}\n" for key, value in self.values.items())
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.path)
        return time.monotonic()


class PoweroffStandIn:
    """The final poweroff command: a script that records each call (and powers nothing off)."""

    def __init__(self, folder: Path):
        self.script = folder / "poweroff"
        self.record = folder / "poweroff.called"
        self.script.write_text(f'#!/bin/sh\necho "$(date +%s.%N) $*" >> {self.record}\n')
        self.script.chmod(0o755)

    @property
    def argv(self) -> list[str]:
        return [str(self.script)]

    @property
    def calls(self) -> list[str]:
        try:
            return self.record.read_text().splitlines()
        except FileNotFoundError:
            return []


class NutServer:
    """dummy-ups and upsd of the test's own: UPS `name` on 127.0.0.1:`port`, user `user`."""

    def __init__(self, folder: Path, name: str = "shared", user: str = "watcher",
                 password: str = "s3cret pass\"word"):
        self.folder, self.name, self.user, self.password = folder, name, user, password
        self.port = free_port()
        self.conf, self.state = folder / "conf", folder / "state"
        self.dev = None
        self.procs: list[subprocess.Popen] = []

    def start(self) -> NutServer:
        for folder in (self.conf, self.state):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dev = DevFile(self.conf / "ups.dev")
        escaped = self.password.replace("\\", "\\\\").replace('"', '\\"')
        files = {
            "nut.conf": "MODE=netserver\n",
            "ups.conf": f"[{self.name}]\n\tdriver = dummy-ups\n\tport = {self.dev.path}\n"
                        "\tpollinterval = 1\n",
            "upsd.conf": f"LISTEN 127.0.0.1 {self.port}\n",
            "upsd.users": f'[{self.user}]\n\tpassword = "{escaped}"\n\tupsmon secondary\n',
        }
        for name, text in files.items():
            (self.conf / name).write_text(text)
            (self.conf / name).chmod(0o600)
        env = {**os.environ, "NUT_CONFPATH": str(self.conf), "NUT_STATEPATH": str(self.state),
               "NUT_ALTPIDPATH": str(self.state)}
        for argv in ([str(NUT_BIN / "dummy-ups"), "-a", self.name, "-u", "root", "-F"],
                     [str(NUT_BIN / "upsd"), "-u", "root", "-F"]):
            with (self.folder / f"{Path(argv[0]).name}.log").open("ab") as out:
                self.procs.append(subprocess.Popen(argv, env=env, stdout=out, stderr=out,
                                                   stdin=subprocess.DEVNULL,
                                                   start_new_session=True))
            time.sleep(0.3)
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.procs.clear()

    def __enter__(self) -> NutServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def nut_processes(folder: Path) -> list[int]:
    """The pids of NUT's programs whose environment names `folder` (rockd's children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            exe = os.readlink(entry / "exe")
        except OSError:
            continue
        if exe.startswith(str(NUT_BIN.resolve())) and f"NUT_CONFPATH={folder}".encode() in environ:
            found.append(int(entry.name))
    return found
