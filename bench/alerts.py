"""Alert benchmark: a disk of a raid1 pool detached by hand, to the mail at an SMTP server.

    python bench/alerts.py [--tries 20]

Starts `rockd serve` on two loop devices of its own (a raid1 pool, unmounted) and a real SMTP
server (aiosmtpd) on loopback. Each try detaches the second loop device (`losetup --detach`:
udev -> disk rescan -> pool read again -> the pool_degraded alert -> SMTP) and times until the
mail has arrived; then attaches the same file to the same device again, which clears the alert.
Prints one JSON object with p50/p99 over --tries and whether p99 is within the 5 s limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.latency import figures  # noqa: E402
from rockd.config import Settings  # noqa: E402
from tests.support.alerting import SmtpServer  # noqa: E402
from tests.support.client import Api, free_port  # noqa: E402
from tests.support.host import attach_loop, sh  # noqa: E402
from tests.support.process import Process, serve_argv  # noqa: E402
from tests.support.rig import clean_under  # noqa: E402

LIMIT_MS = 5000.0


def within(samples: list[float]) -> dict:
    """latency.py's figures, and whether p99 is within the limit."""
    shown = figures(samples)
    return {**shown, "limit_ms": LIMIT_MS, "within_limit": shown["p99_ms"] <= LIMIT_MS}


async def mails(smtp: SmtpServer, count: int, timeout: float = 10.0) -> None:
    """Wait until the server has received `count` messages."""
    deadline = time.monotonic() + timeout
    while len(smtp.mailbox.received()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("no mail in time")
        await asyncio.sleep(0.005)


async def run(tries: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="rockd-bench-alerts-"))
    images = [work / "a.img", work / "b.img"]
    devices = [attach_loop(image, 512 << 20) for image in images]
    try:
        with SmtpServer() as smtp:
            settings = Settings(listen=f"127.0.0.1:{free_port()}", state_dir=work / "state",
                                mount_root=work / "state" / "mnt", devices=devices,
                                alert_window=0.01)
            proc = Process(serve_argv(settings), work / "rockd.log", f"http://{settings.listen}")
            proc.start(timeout=120)
            api = Api(f"http://{settings.listen}")
            await api.login()
            disks = [d["id"] for d in (await api.state("/disks"))["value"].values()
                     if d["path"] in devices]
            _, pool = await api.call("POST", "/api/v1/pools",
                                     {"name": "bench", "disks": disks, "data": "raid1"})
            await api.call("POST", f"/api/v1/pools/{pool['id']}/unmount")
            status, _ = await api.call("PUT", "/api/v1/alerts/settings",
                                       {"email": smtp.settings()})
            assert status == 200
            samples = []
            for _ in range(tries):
                before = len(smtp.mailbox.received())
                sh("losetup", "--detach", devices[1])
                made = time.monotonic()
                await mails(smtp, before + 1)
                arrived, message = smtp.mailbox.received()[before]
                assert "degraded" in message["Subject"], message["Subject"]
                samples.append((arrived - made) * 1000)
                sh("losetup", devices[1], str(images[1]))  # the same device again
                await mails(smtp, before + 2)  # cleared
            await api.close()
            proc.stop()
            return {"bench": "alerts", "disk_detached_to_mail": within(samples)}
    finally:
        clean_under(work, remove=True)  # rockd, its mounts, the loops of its images


def main() -> None:
    tries = argparse.ArgumentParser()
    tries.add_argument("--tries", type=int, default=20, help="detaches timed (20)")
    result = asyncio.run(run(tries.parse_args().tries))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
