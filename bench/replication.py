"""Replication benchmark: a share replicated between two rockd daemons over loopback, against the
local pipe `btrfs send | btrfs receive` of the same data, in the same run.

    python bench/replication.py [--size-mib 1024] [--files 16] [--rounds 3]

Starts two `rockd serve` processes (each with its own state dir, ports and loop device,
detached at the end), pairs them, fills a share on the first with --size-mib of random data,
then, each round, times the pipe and a full replication (a new task and replica each round),
one after the other; then an incremental run after 1/16 of the data changed. It prints one
JSON object: each round's times and throughputs (MB/s, 10^6 bytes, over the bytes of the send
stream), the medians, and the median of the rounds' ratios; both daemons' resident memory
(peak, sampled every 20 ms while a transfer ran, and before); the CPU seconds both daemons and
their btrfs commands used; and, for each phase, the whole machine's busy and stolen CPU
seconds (from /proc/stat: on a shared host, time stolen by other guests slows a phase and
says why two rounds differ; `cpu_floor_s` is the least time all the cores could have done the
phase's CPU work in). The page cache is dropped before each measured transfer, so
all read the share from the disk image. A replica is acknowledged only once it is on disk (its
head snapshot commits it), so the pipe is also timed to a `sync -f` of its target:
`ratio_to_synced_pipe` compares like with like; `ratio` compares with the bare pipe.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
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
        self.port, self.zmq = free_port(), free_port(span=2)
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
    """Wait for the job's end, sampling RSS every 20 ms (from /proc: the daemon is asked ten
    times a second, so that asking costs it next to nothing and the end is seen within 0.1 s)."""
    while True:
        for _ in range(5):
            for name, pid in pids.items():
                samples[name].append(rss(pid))
            await asyncio.sleep(0.02)
        job = await daemon.call("GET", f"/api/v1/jobs/{job_id}")
        if job["state"] not in ("queued", "running"):
            return job


def machine_cpu() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine so far, over all cores."""
    with open("/proc/stat") as f:
        fields = [int(n) for n in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


class Phase:
    """Wall time and the machine's busy and stolen CPU over a `with` block."""

    def __enter__(self) -> Phase:
        self.cpu = machine_cpu()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        busy, stolen = machine_cpu()
        self.busy, self.stolen = busy - self.cpu[0], stolen - self.cpu[1]

    def figures(self, stream: int) -> dict:
        return {"seconds": round(self.seconds, 2), "MB_per_s": mbps(stream, self.seconds),
                "machine_busy_cpu_s": round(self.busy, 2),
                "machine_stolen_cpu_s": round(self.stolen, 2),
                "cpu_floor_s": round(self.busy / (os.cpu_count() or 1), 2)}


def mbps(n: int, s: float) -> float:
    return round(n / s / 1e6, 1)


async def pipe_round(a: Daemon, share: dict, target_root: Path, name: str) -> dict:
    """`btrfs send | btrfs receive` of a fresh snapshot of the share, from a's pool into b's;
    timed bare and to a `sync -f` of the target (what a replica's commit waits for)."""
    snap = await a.call("POST", f"/api/v1/shares/{share['id']}/snapshots", {"name": name},
                        status=201)
    target = target_root / f"{name}-target"
    target.mkdir()
    drop_caches()
    with Phase() as bare:
        send = subprocess.Popen(["btrfs", "send", "-q", snap["path"]], stdout=subprocess.PIPE)
        receive = subprocess.Popen(["btrfs", "receive", str(target)], stdin=send.stdout,
                                   stderr=subprocess.DEVNULL)
        send.stdout.close()
        assert receive.wait() == 0 and send.wait() == 0
    with Phase() as flush:
        sh("sync", "-f", str(target))
    sh("btrfs", "subvolume", "delete", "-c", str(target / name))
    target.rmdir()
    await a.call("DELETE", f"/api/v1/snapshots/{snap['id']}", status=204)
    return {"bare": bare, "sync": flush}


async def run(size_mib: int, files: int, rounds: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="rockd-bench-replication-"))
    devices: list[str] = []
    daemons: list[Daemon] = []
    try:
        for name in ("a", "b"):
            image = work / f"{name}.img"
            with image.open("wb") as f:  # sparse: room for every round's replica
                f.truncate((size_mib * (rounds + 3) + 1024) << 20)
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

        pids = {"sender": a.proc.pid, "receiver": b.proc.pid}
        idle = {name: rss(pid) for name, pid in pids.items()}
        samples: dict[str, list[int]] = {name: [] for name in pids}
        cpu = {name: [0.0, 0.0] for name in pids}
        results, stream, task = [], 0, None
        for n in range(rounds):
            pipe = await pipe_round(a, share, Path(pools[b]["mount_point"]), f"pipe{n}")
            # replication: a new task and replica, so that each round sends in full
            task = await a.call("POST", "/api/v1/replication/tasks", {
                "share": share["id"],
                "targets": [{"peer": "b", "pool": "tank", "name": f"data{n}"}]}, status=201)
            drop_caches()
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            with Phase() as replication:
                job = (await a.call("POST", f"/api/v1/replication/tasks/{task['id']}/run",
                                    status=202))["job"]
                job = await wait_job(a, job["id"], samples, pids)
            for name, pid in pids.items():
                for i, (after, before) in enumerate(zip(cpu_seconds(pid), cpu_before[name],
                                                        strict=True)):
                    cpu[name][i] += (after - before) / rounds
            assert job["state"] == "succeeded", job
            stream = job["bytes"]
            bare, flush = pipe["bare"], pipe["sync"]
            results.append({
                "pipe": bare.figures(stream),
                "pipe_then_sync": {"seconds": round(bare.seconds + flush.seconds, 2),
                                   "MB_per_s": mbps(stream, bare.seconds + flush.seconds),
                                   "sync_busy_cpu_s": round(flush.busy, 2)},
                "replication": replication.figures(stream),
                "ratio": round(bare.seconds / replication.seconds, 3),
                "ratio_to_synced_pipe": round((bare.seconds + flush.seconds)
                                              / replication.seconds, 3)})

        # and an incremental run of the last task after 1/16 of the data changed
        for i in range(max(1, files // 16)):
            with open(Path(share["path"]) / f"f{i}", "r+b") as f:
                f.write(os.urandom(per_file))
        os.sync()
        drop_caches()
        with Phase() as incremental:
            job = (await a.call("POST", f"/api/v1/replication/tasks/{task['id']}/run",
                                status=202))["job"]
            job = await wait_job(a, job["id"], samples, pids)
        assert job["state"] == "succeeded" and "incremental" in job["detail"], job

        def median(key: str, field: str = "seconds") -> float:
            return statistics.median(r[key][field] for r in results)

        return {
            "share_bytes": size_mib << 20, "stream_bytes": stream, "rounds": results,
            "median": {"pipe_seconds": median("pipe"),
                       "pipe_then_sync_seconds": median("pipe_then_sync"),
                       "replication_seconds": median("replication"),
                       "replication_MB_per_s": mbps(stream, median("replication")),
                       "ratio": statistics.median(r["ratio"] for r in results),
                       "ratio_to_synced_pipe": statistics.median(
                           r["ratio_to_synced_pipe"] for r in results)},
            "cpu_seconds_per_run": {name: {"daemon": round(c[0], 2), "btrfs": round(c[1], 2)}
                                    for name, c in cpu.items()},
            "incremental": {"stream_bytes": job["bytes"], **incremental.figures(job["bytes"])},
            "sender_log": [line.split(": ", 1)[1] for line in a.log.read_text().splitlines()
                           if "replication: sent" in line],
            "rss_bytes": {name: {"idle": idle[name], "peak": max(samples[name])}
                          for name in pids},
            "chunk_bytes": protocol.CHUNK, "window_chunks": protocol.WINDOW,
            "encryption": "CurveZMQ (metadata), AES-256-GCM (data)", "checksum": "xxh3-128",
            "cores": os.cpu_count(),
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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.size_mib, args.files, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
