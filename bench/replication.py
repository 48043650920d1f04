"""Replication benchmark: a share replicated between two rockd daemons over loopback, against
the local pipe `btrfs send | btrfs receive` of the same snapshot, in the same run.

    python bench/replication.py [--size-mib 1024] [--files 16]

Starts two `rockd serve` processes (each with its own state dir, ports and loop device,
detached at the end), pairs them, fills a share on the first with --size-mib of random data,
and prints one JSON object: the pipe's and replication's times and throughputs (MB/s, 10^6
bytes, over the bytes of the send stream), their ratio, and both daemons' resident memory
(peak, sampled every 20 ms while the transfer ran, and before), and the CPU seconds both
daemons and their btrfs commands used. The page cache is dropped before each measured
transfer, so both read the share from the disk image. A replica is acknowledged only once it
is on disk (its head snapshot commits it), so the pipe is also timed to a `sync -f` of its
target: `ratio_to_synced_pipe` compares like with like; `ratio` compares with the bare pipe.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rockd.transfer import protocol  # noqa: E402
from tests.support.client import PASSWORD, Api, free_port  # noqa: E402
from tests.support.host import disk_ids_of, release, rss, sh, stop, unmount_under  # noqa: E402
from tests.support.replication import command  # noqa: E402


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(the process's own CPU time, its waited-for children's), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return ((int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick)


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


class Daemon:
    def __init__(self, work: Path, name: str, device: str):
        self.state = work / name
        self.state.mkdir()
        self.port, self.zmq = free_port(), free_port()
        self.device = device
        self.log = self.state / "rockd.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                command(self.state, self.port, self.zmq, [device]), cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=out,
                env={**os.environ, "ROCKD_ADMIN_PASSWORD": PASSWORD})
        deadline = time.monotonic() + 60
        while "rockd serving on" not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(self.log.read_text())
            time.sleep(0.05)
        self.api = Api(f"http://127.0.0.1:{self.port}")

    async def call(self, method: str, path: str, body=None, status: int = 200):
        got, answer = await self.api.call(method, path, body)
        assert got == status, (method, path, got, answer)
        return answer


async def wait_job(daemon: Daemon, job_id: str, samples: dict[str, list[int]],
                   pids: dict[str, int]) -> dict:
    """Wait for the job's end, sampling RSS every 20 ms (from /proc: the daemons are asked
    only four times a second, so that asking costs them next to nothing)."""
    while True:
        for _ in range(12):
            for name, pid in pids.items():
                samples[name].append(rss(pid))
            await asyncio.sleep(0.02)
        job = await daemon.call("GET", f"/api/v1/jobs/{job_id}")
        if job["state"] not in ("queued", "running"):
            return job


async def run(size_mib: int, files: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="rockd-bench-replication-"))
    devices: list[str] = []
    daemons: list[Daemon] = []
    try:
        for name in ("a", "b"):
            image = work / f"{name}.img"
            with image.open("wb") as f:
                f.truncate((size_mib * 3 + 1024) << 20)
            devices.append(sh("losetup", "--find", "--show", str(image)).strip())
        a, b = Daemon(work, "a", devices[0]), Daemon(work, "b", devices[1])
        daemons = [a, b]
        pools = {}
        for daemon in daemons:
            await daemon.api.login()
            ids = await disk_ids_of(daemon.api, [daemon.device])
            pools[daemon] = await daemon.call("POST", "/api/v1/pools", {
                "name": "tank", "disks": ids, "data": "single"}, status=201)
        for one, other, name in ((a, b, "b"), (b, a, "a")):
            ident = await other.call("GET", "/api/v1/replication/identity")
            await one.call("POST", "/api/v1/replication/peers", {
                "name": name, "address": ident["address"],
                "public_key": ident["public_key"]}, status=201)
        share = await a.call("POST", "/api/v1/shares", {"pool": pools[a]["id"], "name": "data"},
                             status=201)
        per_file = (size_mib << 20) // files
        for i in range(files):
            with open(Path(share["path"]) / f"f{i}", "wb") as f:
                for _ in range(per_file >> 20):
                    f.write(os.urandom(1 << 20))
        os.sync()

        # the local pipe: btrfs send | btrfs receive, from a's pool into b's
        snap = await a.call("POST", f"/api/v1/shares/{share['id']}/snapshots",
                            {"name": "pipe"}, status=201)
        target = Path(pools[b]["mount_point"]) / "pipe-target"
        target.mkdir()
        drop_caches()
        started = time.perf_counter()
        send = subprocess.Popen(["btrfs", "send", "-q", snap["path"]], stdout=subprocess.PIPE)
        receive = subprocess.Popen(["btrfs", "receive", str(target)], stdin=send.stdout,
                                   stderr=subprocess.DEVNULL)
        send.stdout.close()
        assert receive.wait() == 0 and send.wait() == 0
        pipe_seconds = time.perf_counter() - started
        sh("sync", "-f", str(target))  # what a replica's commit waits for: the data on disk
        synced_seconds = time.perf_counter() - started
        sh("btrfs", "subvolume", "delete", "-c", str(target / "pipe"))
        target.rmdir()
        await a.call("DELETE", f"/api/v1/snapshots/{snap['id']}", status=204)

        # replication: the task's run, from the request to the job's end
        task = await a.call("POST", "/api/v1/replication/tasks", {
            "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}]}, status=201)
        pids = {"sender": a.proc.pid, "receiver": b.proc.pid}
        idle = {name: rss(pid) for name, pid in pids.items()}
        samples: dict[str, list[int]] = {name: [] for name in pids}
        drop_caches()
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.perf_counter()
        job = (await a.call("POST", f"/api/v1/replication/tasks/{task['id']}/run",
                            status=202))["job"]
        job = await wait_job(a, job["id"], samples, pids)
        seconds = time.perf_counter() - started
        cpu = {name: [round(after - before, 2) for after, before
                      in zip(cpu_seconds(pid), cpu_before[name], strict=True)]
               for name, pid in pids.items()}
        assert job["state"] == "succeeded", job
        stream = job["bytes"]

        # and an incremental run after 1/16 of the data changed
        for i in range(max(1, files // 16)):
            with open(Path(share["path"]) / f"f{i}", "r+b") as f:
                f.write(os.urandom(per_file))
        os.sync()
        drop_caches()
        started = time.perf_counter()
        job = (await a.call("POST", f"/api/v1/replication/tasks/{task['id']}/run",
                            status=202))["job"]
        job = await wait_job(a, job["id"], samples, pids)
        incremental_seconds = time.perf_counter() - started
        assert job["state"] == "succeeded" and "incremental" in job["detail"], job

        def mbps(n: int, s: float) -> float:
            return round(n / s / 1e6, 1)

        return {
            "share_bytes": size_mib << 20, "stream_bytes": stream,
            "pipe": {"seconds": round(pipe_seconds, 2), "MB_per_s": mbps(stream, pipe_seconds)},
            "pipe_then_sync": {"seconds": round(synced_seconds, 2),
                               "MB_per_s": mbps(stream, synced_seconds)},
            "replication": {"seconds": round(seconds, 2), "MB_per_s": mbps(stream, seconds)},
            "ratio": round(pipe_seconds / seconds, 3),
            "ratio_to_synced_pipe": round(synced_seconds / seconds, 3),
            "cpu_seconds": {name: {"daemon": c[0], "btrfs": c[1]} for name, c in cpu.items()},
            "incremental": {"stream_bytes": job["bytes"],
                            "seconds": round(incremental_seconds, 2),
                            "MB_per_s": mbps(job["bytes"], incremental_seconds)},
            "sender_log": [line.split(": ", 1)[1] for line in a.log.read_text().splitlines()
                           if "replication: sent" in line],
            "rss_bytes": {name: {"idle": idle[name], "peak": max(samples[name])}
                          for name in pids},
            "chunk_bytes": protocol.CHUNK, "window_chunks": protocol.WINDOW,
            "encryption": "CurveZMQ", "checksum": "xxh3-128",
            "target": {"ratio_min": 0.9, "rss_max_bytes": 200 << 20},
        }
    finally:
        for daemon in daemons:
            await daemon.api.close()
            stop(daemon.proc)
        unmount_under(work)
        for device in devices:
            release(device)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=16)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.size_mib, args.files)), indent=2))


if __name__ == "__main__":
    main()
