"""How a rockd is started as a real process for the tests (the rig's processes, the browser
tests' and the benchmarks'): settings of its own (folders under one root, free ports on
127.0.0.1), its `rockd serve` command line, and the process with its log."""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import fields
from pathlib import Path
from typing import Any

from rockd.config import Settings
from tests.support.client import PASSWORD, free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NOT_OPTIONS = ("max_body", "web_root", "demo")
"""Settings that `rockd serve` takes no option for: an in-process daemon's only."""


def private_services(root: Path) -> dict[str, Any]:
    """Settings that keep a rockd's Samba, NFS and SFTP configuration and ports its own: never
    /etc/samba, /etc/exports.d or a standard port."""
    return {"samba_dir": root / "samba", "smb_port": free_port(),
            "nfs_exports": root / "exports.d" / "rockd.exports", "sftp_port": free_port(),
            # the host: never this machine's hostname, time zone, chrony, or power
            "host_control": "files", "host_etc": root / "etc",
            "chrony_sources": root / "chrony" / "rockd.sources",
            "chrony_socket": root / "chrony" / "chronyd.sock",
            "reboot_command": ["true"], "poweroff_command": ["true"],
            "network_bus": "off"}  # a test that wants NetworkManager names its own bus


def private_service_args(root: Path) -> list[str]:
    """The same as `rockd serve` options (bench/stream_flood.py starts rockd with them)."""
    return options(private_services(root))


def options(values: dict[str, Any]) -> list[str]:
    """Settings as the long options of `rockd serve` (field names match the options)."""
    argv: list[str] = []
    for name, value in values.items():
        if name in NOT_OPTIONS:
            raise ValueError(f"`rockd serve` has no option for {name}")
        option = f"--{name.replace('_', '-')}"
        if isinstance(value, bool):
            argv += [option] if value else []
        elif isinstance(value, list):
            argv += [option, ",".join(value)]
        else:
            argv += [option, str(value)]
    return argv


def serve_argv(settings: Settings, args: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`rockd serve` with every setting that is not the default, then `args`."""
    default = Settings()
    changed = {f.name: getattr(settings, f.name) for f in fields(Settings)
               if getattr(settings, f.name) != getattr(default, f.name)}
    return [str(VENV_BIN / "rockd"), "serve", *options(changed), *args]


def settings_for(root: Path, devices: list[str] | None = None, **overrides: Any) -> Settings:
    """A rockd of its own under `root`: state, mounts and service files there, free ports on
    127.0.0.1 (replication too), managing exactly `devices`."""
    return Settings(**{"listen": f"127.0.0.1:{free_port()}", "state_dir": root / "state",
                       "mount_root": root / "mnt", "devices": devices or [],
                       "zmq_listen": f"127.0.0.1:{free_port(span=2)}",
                       **private_services(root), **overrides})


# -- a rockd process ----------------------------------------------------------------------------

class Process:
    """A rockd process (`rockd serve`, `rockd demo` or tests.support.loaded) with its output
    kept in a file; a restart on the same port appends to it."""

    def __init__(self, argv: list[str], log: Path, url: str, env: dict | None = None,
                 stdin: bool = False):
        self.argv, self.log, self.url = argv, log, url
        self.port = int(url.rsplit(":", 1)[1])
        self.env = {**os.environ, "ROCKD_ADMIN_PASSWORD": PASSWORD, **(env or {})}
        self.stdin = stdin
        self.proc: subprocess.Popen | None = None
        self.log_start = 0  # where this process's output begins in the log

    def launch(self) -> Process:
        """Started, not waited for."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log_start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE if self.stdin else log, stderr=log,
                stdin=subprocess.PIPE if self.stdin else subprocess.DEVNULL, env=self.env,
                cwd=ROOT)
        return self

    def start(self, timeout: float = 20.0) -> Process:
        """Started, and waited for until it serves."""
        self.launch()
        if self.stdin:
            assert self.readline() == "ready", self.output()
        else:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        """Until it answers its health check and has reconciled ("rockd serving on")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"rockd exited {self.proc.returncode}:\n{self.output()}")
            with (contextlib.suppress(OSError),
                  urllib.request.urlopen(self.url + "/api/v1/health", timeout=1,
                                         context=ssl._create_unverified_context()) as r):
                if r.status == 200 and "rockd serving on" in self.own_output():
                    return
            time.sleep(0.05)
        raise AssertionError(f"rockd did not become healthy:\n{self.output()}")

    def command(self, line: str) -> str:
        """A command to tests.support.loaded; answers its reply where it gives one."""
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self.readline() if line.split()[0] in ("burst", "rev", "rss") else ""

    def readline(self) -> str:
        return self.proc.stdout.readline().decode().strip()

    def output(self) -> str:
        """The whole log (of every process that ran on this port)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def own_output(self) -> str:
        """The output of this process alone."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as f:
            f.seek(self.log_start)
            return f.read().decode(errors="replace")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
