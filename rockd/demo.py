"""Demo mode: sparse files attached as loop devices, served with --devices set to exactly them,
and a private Docker engine for the apps.

The engine is rockd's own "docker" service (enabled on the demo's first run, so rockd starts it
with its other services, and the Apps page can start it again when stopped), told to keep to
itself: its socket and exec root under /run/rockd-demo-*, its data under the state dir, a
bridge the demo makes, and no change to the host's firewall or forwarding. Once the engine
answers, the apps make the demo's offline image (rockd.apps.images), so that the catalog's
static-web installs and serves with no registry. On exit, what the engine left (processes,
mounts) goes with the bridge and its run folder; its images stay for the next demo.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os
import shutil
import signal
import time
from pathlib import Path

from rockd.app import serve
from rockd.config import Settings
from rockd.core.process import CommandError, run
from rockd.core.store import Store
from rockd.services.units import CATALOGUE
from rockd.storage import loops

log = logging.getLogger(__name__)


def _mounted_from(devices: list[str]) -> list[str]:
    mounts = [line.split()[:2] for line in Path("/proc/self/mounts").read_text().splitlines()]
    return [target for source, target in mounts if source in devices]


def _mounted_under(folders: list[Path]) -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if any(p.startswith(f"{folder}/") for folder in folders)]


async def _unmount(targets: list[str], *options: str) -> None:
    """Unmount each of `targets`, deepest first."""
    for target in sorted(targets, key=len, reverse=True):
        try:
            await run(["umount", *options, target.encode().decode("unicode_escape")])
        except CommandError as exc:
            log.warning("could not unmount %s: %s", target, exc)


def _free_network(used: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
                  ) -> ipaddress.IPv4Network:
    """A /24 of 10.200-249.x.0 that no address of the host is in."""
    for b in range(200, 250):
        for c in range(256):
            network = ipaddress.IPv4Network(f"10.{b}.{c}.0/24")
            if not any(network.overlaps(u) for u in used):
                return network
    raise RuntimeError("no free 10.200-249.x.0/24 network for the demo's Docker bridge")


class DemoEngine:
    """The demo's private Docker engine: where it keeps its files, and its bridge."""

    def __init__(self, state_dir: Path):
        key = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]
        self.run_dir = Path(f"/run/rockd-demo-{key}")  # short: sockets' paths are limited
        self.data_root = state_dir / "docker"
        self.bridge = f"rkdemo{key[:6]}"
        self.bridge_made = False

    def available(self) -> bool:
        return next(s for s in CATALOGUE if s.name == "docker").available()

    async def prepare(self, settings: Settings) -> None:
        """Make the bridge and point the settings at the private engine."""
        await self._make_bridge()
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        settings.docker_socket = self.run_dir / "docker.sock"
        settings.docker_args = [
            "--data-root", str(self.data_root), "--exec-root", str(self.run_dir / "exec"),
            "--pidfile", str(self.run_dir / "dockerd.pid"), "--bridge", self.bridge,
            "--iptables=false", "--ip-forward=false", "--ip-masq=false",
            "--shutdown-timeout", "3", "--log-level", "warn"]
        store = Store(settings.database)
        await store.open()
        try:
            if "docker" not in await store.intents("service"):  # the user's choice after
                await store.set_intent("service", "docker", {"enabled": True})
        finally:
            await store.close()

    async def _make_bridge(self) -> None:
        addresses = (await run(["ip", "-4", "-o", "addr"])).stdout
        network = _free_network([ipaddress.ip_interface(line.split()[3]).network
                                 for line in addresses.splitlines() if " inet " in line])
        with contextlib.suppress(CommandError):
            await run(["ip", "link", "delete", self.bridge])  # a demo killed before its end
        await run(["ip", "link", "add", self.bridge, "type", "bridge"])
        self.bridge_made = True
        await run(["ip", "addr", "add", f"{network[1]}/24", "dev", self.bridge])
        await run(["ip", "link", "set", self.bridge, "up"])

    def _left(self) -> list[int]:
        """Processes the engine left (containerd, its shims): those naming its folders."""
        markers = (str(self.run_dir).encode(), str(self.data_root).encode())
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                with contextlib.suppress(OSError):
                    if any(m in (entry / "cmdline").read_bytes() for m in markers):
                        pids.append(int(entry.name))
        return pids

    def _end_left(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self._left()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 3
            while pids and time.monotonic() < deadline and set(pids) & set(self._left()):
                time.sleep(0.05)

    async def close(self) -> None:
        """After rockd stopped the engine: end what it left, its mounts, bridge and folder."""
        self._end_left()
        await _unmount(_mounted_under([self.run_dir, self.data_root]), "-l")
        if self.bridge_made:
            with contextlib.suppress(CommandError):
                await run(["ip", "link", "delete", self.bridge])
        shutil.rmtree(self.run_dir, ignore_errors=True)


async def demo(settings: Settings, disks: int, disk_size: int) -> int:
    """Attach the demo's disks, serve until a signal, then unmount and detach them."""
    images = [settings.state_dir / "disks" / f"disk{i}.img" for i in range(disks)]
    attached: list[str] = []
    engine = DemoEngine(settings.state_dir)
    try:
        for image in images:
            loops.make_sparse(image, disk_size)
            attached.append(await loops.attach(image))
        log.info("demo disks: %s", ", ".join(attached))
        settings.devices = attached
        settings.demo = True
        if engine.available():
            await engine.prepare(settings)
        return await serve(settings)
    finally:
        await engine.close()
        await _unmount(_mounted_from(attached))
        for device in attached:
            try:
                await loops.detach(device)
            except CommandError as exc:
                log.warning("could not detach %s: %s", device, exc)


def default_state_dir() -> Path:
    return Path("/var/lib/rockd/demo")
