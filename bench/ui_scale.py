"""The web UI at scale: a share with 10,000 real snapshots in headless Chromium.

    python bench/ui_scale.py [--snapshots 10000] [--patches 200] [--minutes 60] [--reloads 5]

Makes a pool on a sparse loop device (detached at the end) with `rockd serve`, a share, and
the share's snapshots by hand (`btrfs subvolume snapshot -r`, rockd reading them as they
come), then opens the share's page in
Debian's Chromium (Playwright, as the browser tests do) and prints one JSON object, each figure
beside its limit:
  - first_rows: when the first snapshot rows showed after a reload (ms from the load's start,
    the worst of --reloads);
  - patch: each live patch's apply and re-render in the tab (the store's apply, every view's
    update, the page's layout), p50/p99/max over the patches that --patches snapshots made and
    deleted by hand brought, and over every patch (the 1 Hz metrics among them);
  - heap: the tab's JS heap (CDP Performance.getMetrics, after a garbage collection) at the
    start and after each minute of --minutes on the page with the metrics ticking once a
    second, as a series so that growth shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.browser.many_snapshots import (  # noqa: E402
    FIRST_ROWS,
    delete_snapshot,
    first_rows_ms,
    make_snapshots,
    patch_times,
    store_holds,
    time_patches,
)
from tests.support.client import PASSWORD, Api, free_port  # noqa: E402
from tests.support.host import release, serve, sh, stop, unmount_under  # noqa: E402

FIRST_ROWS_LIMIT_MS = 1000
PATCH_P99_LIMIT_MS = 16
HEAP_LIMIT_MB = 150


async def prepare(port: int, device: str) -> tuple[Path, str]:
    """A pool "tank" of `device` and a share "photos" on it; answers the pool's mount point
    and the share's id."""
    api = Api(f"http://127.0.0.1:{port}")
    try:
        await api.login()
        disk = next(d["id"] for d in (await api.state("/disks"))["value"].values()
                    if d["path"] == device)
        status, pool = await api.call("POST", "/api/v1/pools",
                                      {"name": "tank", "disks": [disk], "data": "single"})
        assert status == 201, pool
        status, share = await api.call("POST", "/api/v1/shares",
                                       {"pool": pool["id"], "name": "photos"})
        assert status == 201, share
        return Path(pool["mount_point"]), share["id"]
    finally:
        await api.close()


async def wait_for_snapshots(port: int, count: int, timeout: float = 600.0) -> None:
    """Until rockd's tree holds `count` snapshots (it reads them as they come)."""
    api = Api(f"http://127.0.0.1:{port}")
    try:
        await api.login()
        deadline = time.monotonic() + timeout
        while len((await api.state("/snapshots"))["value"] or {}) < count:
            assert time.monotonic() < deadline, f"rockd's tree never held {count} snapshots"
            await asyncio.sleep(1)
    finally:
        await api.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))], 2)


def spread(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    return {"count": len(values), "p50_ms": round(statistics.median(values), 2),
            "p99_ms": percentile(values, 0.99), "max_ms": round(max(values), 2)}


def heap_mb(page: Page, cdp) -> float:
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return round(metrics["JSHeapUsedSize"] / 2**20, 1)


def sign_in(page: Page, share_id: str, count: int) -> None:
    page.goto("/")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    page.goto(f"/#/shares/{share_id}")
    page.locator("tr[data-snapshot]").first.wait_for(timeout=60_000)
    assert page.locator("tr[data-snapshot]").count() < count


def browse(url: str, args, mount_point: Path, share_id: str) -> dict:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=url, viewport={"width": 1366, "height": 900})
            context.set_default_timeout(60_000)
            page = context.new_page()
            page.add_init_script(FIRST_ROWS)
            sign_in(page, share_id, args.snapshots)

            first = []
            for _ in range(args.reloads):
                page.reload()
                page.wait_for_function(
                    "() => performance.getEntriesByName('rockd-first-rows').length > 0")
                first.append(first_rows_ms(page))

            # live patches: snapshots made, then deleted, by hand, one at a time
            time_patches(page)
            live = []
            for index in range(args.patches // 2):
                live += make_snapshots(mount_point, "photos", 1, prefix=f"live{index:04d}-")
                store_holds(page, live[-1].name)
            for path in live:
                delete_snapshot(path)
                store_holds(page, path.name, present=False)
            patches = patch_times(page)

            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            series = [heap_mb(page, cdp)]
            seconds = args.minutes * 60
            step = min(60.0, seconds) if seconds > 0 else 0
            started = time.monotonic()
            while step and time.monotonic() - started < seconds - 1:
                page.wait_for_timeout(step * 1000)
                series.append(heap_mb(page, cdp))
            ticks = len(patch_times(page)) - len(patches)
        finally:
            browser.close()
    snapshot_patches = [ms for ms, touched in patches if touched]
    all_patches = [ms for ms, _ in patches]
    return {
        "first_rows_ms": {"p50": round(statistics.median(first), 1), "max": round(max(first), 1),
                          "runs": len(first), "limit": FIRST_ROWS_LIMIT_MS,
                          "ok": max(first) < FIRST_ROWS_LIMIT_MS},
        "snapshot_patch": {**spread(snapshot_patches), "limit_p99_ms": PATCH_P99_LIMIT_MS,
                           "ok": bool(snapshot_patches)
                           and percentile(snapshot_patches, 0.99) < PATCH_P99_LIMIT_MS},
        "any_patch": {**spread(all_patches), "limit_p99_ms": PATCH_P99_LIMIT_MS,
                      "ok": bool(all_patches)
                      and percentile(all_patches, 0.99) < PATCH_P99_LIMIT_MS},
        "heap_mb": {"start": series[0], "end": series[-1], "max": max(series),
                    "per_minute": series, "minutes": args.minutes,
                    "patches_during": ticks, "limit": HEAP_LIMIT_MB,
                    "ok": max(series) < HEAP_LIMIT_MB},
    }


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="rockd-bench-ui-"))
    image = work / "disk.img"
    with image.open("wb") as f:
        f.truncate(16 << 30)
    device = sh("losetup", "--find", "--show", str(image)).strip()
    proc = None
    try:
        port = free_port()
        started = time.perf_counter()
        proc, _ = serve(work / "state", port, [device])
        started = time.perf_counter() - started
        mount_point, share_id = asyncio.run(prepare(port, device))
        made = time.perf_counter()
        make_snapshots(mount_point, "photos", args.snapshots)
        made = time.perf_counter() - made
        read = time.perf_counter()
        asyncio.run(wait_for_snapshots(port, args.snapshots))
        read = time.perf_counter() - read
        figures = browse(f"http://127.0.0.1:{port}", args, mount_point, share_id)
        return {"bench": "ui_scale", "snapshots": args.snapshots,
                "made_in_seconds": round(made, 1), "rockd_start_seconds": round(started, 1),
                "all_in_tree_seconds_after": round(read, 1),
                **figures}
    finally:
        stop(proc)
        unmount_under(work)
        release(device)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--snapshots", type=int, default=10_000)
    parser.add_argument("--patches", type=int, default=200,
                        help="snapshots made and deleted live: half made, then deleted")
    parser.add_argument("--minutes", type=float, default=60.0,
                        help="how long the page stays open with the metrics ticking")
    parser.add_argument("--reloads", type=int, default=5)
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
