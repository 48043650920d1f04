"""One pool's size, use and free space read the same on the dashboard, the pools list and the
pool's page (one formatter over the same tree fields), and they are the logical bytes the pool
holds: a raid5 pool of three 1 GiB disks shows about 2 GiB, not the 3 GiB its disks add up to.
Screenshots of the three pages at 390 px and 1366 px.

The tests share one browser page and run in order; each starts where the previous one ended.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, Box, Traffic, api, first_run, screenshot

WIDTHS = (390, 1366)
MiB = 1 << 20
WRITTEN = 300 * MiB
UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
LINE = ":is(.usage-figures, .usage small)"  # the usage line of a pool, on every page


def size(n: int) -> str:
    """A size as the pages write it (web/lib/format.js bytes)."""
    value, unit = float(n), 0
    while abs(value) >= 1024 and unit < len(UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:.{1 if unit and value < 100 else 0}f} {UNITS[unit]}"


def test_a_raid5_pool_with_data(page: Page, box: Box):
    pool = first_run(page, box, disks=3, data="raid5")
    block = os.urandom(MiB)
    with (Path(pool["mount_point"]) / "written").open("wb") as f:
        for _ in range(WRITTEN // MiB):
            f.write(block)
    os.sync()


def shown(page: Page, address: str, pool_id: str, expected: str) -> str:
    """The usage line of the pool on the page at `address`, once it names `expected` (the
    page's tree follows the stream: it may be a moment behind the API)."""
    page.goto(f"/{address}")
    line = page.locator(f'[data-pool="{pool_id}"] {LINE}, rockd-pool-detail {LINE}').first
    expect(line).to_contain_text(expected)
    return " ".join(line.inner_text().split())


def test_the_three_pages_show_the_same_usage(page: Page, box: Box, traffic: Traffic):
    (pool,) = api(page, "GET", "/pools")
    pool_id = pool["id"]
    page.goto("/#/pools")  # the stream samples usage while a page follows /pools
    for _ in range(50):
        usage = api(page, "GET", f"/pools/{pool_id}")["usage"]
        if usage["allocation"]["data"]["used"] >= WRITTEN:
            break
        page.wait_for_timeout(200)
    else:
        raise AssertionError(f"the write never showed in the tree: {usage}")
    expected = f"{size(usage['stored'])} used of {size(usage['capacity'])}"
    pages = {"dashboard": "#/", "pools": "#/pools", "pool": f"#/pools/{pool_id}"}
    for pixels in WIDTHS:
        page.set_viewport_size({"width": pixels, "height": 900})
        lines = {}
        for name, address in pages.items():
            lines[name] = shown(page, address, pool_id, expected)
            screenshot(page, f"capacity-{name}-{pixels}")
            card = page.locator(".card", has=page.locator(LINE)).first
            card.screenshot(path=str(SCREENSHOTS / f"capacity-{name}-{pixels}-card.png"))
        assert len(set(lines.values())) == 1, lines
    assert f"{size(usage['free_estimate'])} free" in lines["pool"], (lines, usage)
    # raid5 of three disks: a third of them is parity
    assert usage["capacity"] < usage["size"] * 0.7
    assert traffic.errors == [], "\n".join(traffic.errors)
