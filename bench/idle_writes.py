"""Idle writes benchmark: what an idle rockd writes to disk, alone and with a browser watching.

    python bench/idle_writes.py [--seconds 60] [--warmup 15] [--disks 2] [--no-browser]

Starts a real `rockd serve` on sparse loop devices (as `rockd demo` does, without its Docker
engine) with a pool on them, lets it settle for `--warmup` seconds, then measures the bytes it
writes to storage (`write_bytes` in /proc/PID/io: its threads, and its children once ended)
over `--seconds` with no client at all, and again as long with headless Chromium showing
the dashboard (its live charts follow /system/metrics once a second). Prints one JSON object:
bytes per minute each way beside the limit of 100 KiB per minute (and the part of it written by the
daemon's own threads, without its child processes), and how much each of its SQLite files
grew. The metrics history is written in a batch every five minutes: a `--seconds` of several
times that counts its batches fairly (`make bench` runs 600). The loop devices, mounts and
files it made are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.client import PASSWORD, Api  # noqa: E402
from tests.support.host import attach_loop, disk_ids_of  # noqa: E402
from tests.support.process import Process, serve_argv, settings_for  # noqa: E402
from tests.support.rig import clean_under  # noqa: E402

LIMIT_KIB_PER_MINUTE = 100
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def write_bytes(io: Path) -> int:
    """`write_bytes` of a /proc io file: the bytes caused to be written to storage so far."""
    for line in io.read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError(f"no write_bytes in {io}")


def written(pid: int) -> tuple[int, int]:
    """What process `pid` wrote so far: in all (with its children that have ended, such as
    btrfs-progs updating libblkid's cache where /run is no tmpfs), and by its threads alone."""
    threads = 0
    for io in Path(f"/proc/{pid}/task").glob("*/io"):
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            threads += write_bytes(io)
    return write_bytes(Path(f"/proc/{pid}/io")), threads


def sqlite_sizes(state: Path) -> dict[str, int]:
    """The size of each SQLite file (with its -wal and -shm) in the state folder."""
    return {path.name: path.stat().st_size for path in sorted(state.iterdir())
            if ".sqlite" in path.name or path.suffix == ".db"}


def measure(pid: int, state: Path, seconds: float) -> dict:
    """Bytes written per minute over `seconds`, and each SQLite file's growth meanwhile."""
    sizes, before, started = sqlite_sizes(state), written(pid), time.monotonic()
    time.sleep(seconds)
    after, elapsed = written(pid), time.monotonic() - started
    bytes_written, by_threads = after[0] - before[0], after[1] - before[1]
    per_minute = bytes_written * 60 / elapsed
    return {
        "seconds": round(elapsed, 1),
        "bytes_written": bytes_written,
        "kib_per_minute": round(per_minute / 1024, 1),
        "limit_kib_per_minute": LIMIT_KIB_PER_MINUTE,
        "within_limit": per_minute <= LIMIT_KIB_PER_MINUTE * 1024,
        "threads_kib_per_minute": round(by_threads * 60 / elapsed / 1024, 1),
        "sqlite_growth_bytes": {name: size - sizes.get(name, 0)
                                for name, size in sqlite_sizes(state).items()},
    }


async def make_pool(url: str, devices: list[str]) -> None:
    api = Api(url)
    try:
        await api.login()
        status, pool = await api.call("POST", "/api/v1/pools", {
            "name": "idle", "disks": await disk_ids_of(api, devices), "data": "single"})
        assert status == 201, pool
    finally:
        await api.close()


def with_browser(url: str, pid: int, state: Path, seconds: float) -> dict:
    """`measure` while headless Chromium shows the dashboard, signed in."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=url)
            answer = context.request.post("/api/v1/auth/login",
                                          data={"username": "admin", "password": PASSWORD})
            assert answer.ok, answer.text()
            page = context.new_page()
            page.goto("/#/dashboard")
            page.get_by_role("heading", name="Dashboard").first.wait_for()
            time.sleep(5)  # the charts' history loaded, the stream subscribed
            figures = measure(pid, state, seconds)
            assert page.get_by_role("heading", name="Dashboard").first.is_visible()
            return figures
        finally:
            browser.close()


def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="rockd-bench-idle-"))
    process = None
    try:
        devices = [attach_loop(work / f"disk{i}.img", 4 << 30) for i in range(args.disks)]
        settings = settings_for(work, devices)
        process = Process(serve_argv(settings), work / "rockd.log",
                          f"http://{settings.listen}").start(timeout=120)
        asyncio.run(make_pool(process.url, devices))
        time.sleep(args.warmup)
        pid = process.proc.pid
        result: dict = {"no_client": measure(pid, settings.state_dir, args.seconds)}
        if not args.no_browser:
            result["browser"] = with_browser(process.url, pid, settings.state_dir, args.seconds)
        result["sqlite_files_bytes"] = sqlite_sizes(settings.state_dir)
        return result
    finally:
        if process is not None:
            process.stop()
        clean_under(work)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="each measurement's length")
    parser.add_argument("--warmup", type=float, default=15.0, help="settling before measuring")
    parser.add_argument("--disks", type=int, default=2)
    parser.add_argument("--no-browser", action="store_true", help="skip the browser's run")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
