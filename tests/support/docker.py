"""A real Docker engine and registry for the apps tests, and an in-process rockd with the apps
wired in (where app.py does not wire them yet).

`DockerHarness` starts Debian's dockerd with its own data root, exec root, pid file and socket
under a temporary folder, on a bridge of its own (made here, so the host's networking is left
alone: `--iptables=false`, `--ip-forward=false`, `--ip-masq=false`; published ports work through
docker-proxy, which listens on the host's own loopback). Beside it runs Debian's
docker-registry on 127.0.0.1:<free port> with its own storage; images are made from
busybox-static (`docker import` of a tar with the busybox binary and its applet links) and
pushed there, then removed from the engine so that an install does a real pull.

`close` removes everything the harness made, whatever happened: the containers, the engine and
every process it left (found by its exec or data root in their command line, ended by pid), its
mounts, the bridge, the registry and the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.client import free_port

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "httpd", "wget", "sleep", "cat", "ls", "echo", "true", "env")
HTTPD = ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]


def _used_subnets() -> set[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    return {line.split()[3].rsplit(".", 1)[0] for line in out.splitlines() if "inet" in line}


class DockerHarness:
    """dockerd + docker-registry of a test session, and the images pushed to the registry."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="rockd-docker-"))
        self.socket = self.base / "run" / "docker.sock"
        self.exec_root = self.base / "exec"
        self.data_root = self.base / "data"
        self.bridge = f"rkd{secrets.token_hex(4)}"
        self.dockerd: subprocess.Popen | None = None
        self.registry: subprocess.Popen | None = None
        self.registry_port = free_port()
        self.registry_host = f"127.0.0.1:{self.registry_port}"
        self.bridge_made = False

    # -- the engine --------------------------------------------------------------------------

    def start(self) -> DockerHarness:
        for tool in ("dockerd", "docker", "docker-registry"):
            if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin") is None:
                raise RuntimeError(f"{tool} is not installed (scripts/setup.sh installs it)")
        self._make_bridge()
        self.start_engine()
        self._start_registry()
        return self

    def _make_bridge(self) -> None:
        used = _used_subnets()
        prefix = next(f"10.{a}.{b}" for a in range(200, 250) for b in range(0, 250)
                      if f"10.{a}.{b}" not in used)
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        self.bridge_made = True
        subprocess.run(["ip", "addr", "add", f"{prefix}.1/24", "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)

    def start_engine(self, timeout: float = 60.0) -> None:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        log = (self.base / "dockerd.log").open("ab")
        self.dockerd = subprocess.Popen(
            ["dockerd", "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
             "--pidfile", str(self.base / "dockerd.pid"), "--host", f"unix://{self.socket}",
             "--bridge", self.bridge, "--iptables=false", "--ip-forward=false",
             "--ip-masq=false", "--log-level", "warn"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.dockerd.poll() is not None:
                raise RuntimeError(f"dockerd exited {self.dockerd.returncode}:\n{self.log()}")
            if self.socket.exists() and self.docker("version", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"dockerd did not start:\n{self.log()}")

    def stop_engine(self, timeout: float = 30.0) -> None:
        """Stop dockerd as its service would (SIGTERM; containers are stopped with it)."""
        if self.dockerd is None:
            return
        if self.dockerd.poll() is None:
            self.dockerd.send_signal(signal.SIGTERM)
            try:
                self.dockerd.wait(timeout)
            except subprocess.TimeoutExpired:
                self.dockerd.kill()
                self.dockerd.wait()
        self.dockerd = None
        self._end_leftovers()

    def log(self) -> str:
        path = self.base / "dockerd.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def docker(self, *args: str, check: bool = True, input: bytes | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(["docker", "-H", f"unix://{self.socket}", *args],
                                capture_output=True, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.decode()}")
        return result

    def inspect(self, name: str) -> dict | None:
        result = self.docker("inspect", name, check=False)
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)[0]

    def containers(self) -> list[str]:
        out = self.docker("ps", "-a", "--format", "{{.Names}}").stdout.decode()
        return [line for line in out.splitlines() if line]

    def remove_all_containers(self) -> None:
        if self.dockerd is None or self.dockerd.poll() is not None:
            return
        ids = self.docker("ps", "-aq", check=False).stdout.decode().split()
        if ids:
            self.docker("rm", "-f", *ids, check=False)
        out = self.docker("network", "ls", "--filter", "label=rockd.app", "-q",
                          check=False).stdout.decode().split()
        if out:
            self.docker("network", "rm", *out, check=False)

    # -- the registry and its images ---------------------------------------------------------

    def _start_registry(self) -> None:
        folder = self.base / "registry"
        folder.mkdir()
        config = folder / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {folder / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.registry_host}\n")
        log = (folder / "log").open("ab")
        self.registry = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                         stderr=log, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        log.close()
        import urllib.request

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.registry_host}/v2/", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start:\n" + (folder / "log").read_text())

    def push_image(self, repository: str, tag: str, files: dict[str, str] | None = None,
                   cmd: list[str] | None = None) -> str:
        """A busybox image with `files` (path -> text) made, pushed to the registry and
        removed from the engine again; answers the repository as a definition names it."""
        root = self.base / f"rootfs-{secrets.token_hex(3)}"
        (root / "bin").mkdir(parents=True)
        shutil.copy2(BUSYBOX, root / "bin" / "busybox")
        for applet in APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        for folder in ("www", "tmp", "etc"):
            (root / folder).mkdir()
        (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
        for path, text in (files or {}).items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        archive = self.base / f"{root.name}.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "."], check=True)
        shutil.rmtree(root)
        ref = f"{self.registry_host}/{repository}"
        self.docker("import", "-c", f"CMD {json.dumps(cmd or HTTPD)}", str(archive),
                    f"{ref}:{tag}")
        archive.unlink()
        self.docker("push", f"{ref}:{tag}")
        self.docker("rmi", f"{ref}:{tag}")
        return ref

    # -- the end -----------------------------------------------------------------------------

    def _ours(self) -> list[int]:
        """Processes the engine left: those whose command line names its exec root or data
        root (containerd, its shims). A client given only the socket (rockd) is not one."""
        pids = []
        markers = (str(self.exec_root).encode(), str(self.data_root).encode())
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if any(marker in cmdline for marker in markers):
                pids.append(int(entry.name))
        return pids

    def _end_leftovers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self._ours()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(
                    p in self._ours() for p in pids):
                time.sleep(0.05)

    def _unmount(self) -> None:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for point in sorted((p for p in points if p.startswith(str(self.base))),
                            key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.remove_all_containers()
        with contextlib.suppress(Exception):
            self.stop_engine()
        if self.registry is not None:
            self.registry.terminate()
            try:
                self.registry.wait(10)
            except subprocess.TimeoutExpired:
                self.registry.kill()
                self.registry.wait()
        self._end_leftovers()
        self._unmount()
        if self.bridge_made:
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
