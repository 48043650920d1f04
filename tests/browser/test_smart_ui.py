"""SMART on the disk screen in the browser: the self-tests a drive offers as buttons, a running
test's progress live, its result and the drive's log, and the attribute history as charts and
a table. smartctl is stood in for (tests/support/smartctl_standin.py: real drives' captured
reports, ATA and NVMe, with self-tests replayed); `rockd serve` reads it for its loop devices.
At a phone's width (390 px) and a laptop's (1366 px)."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import api, first_run, screenshot, serve_box
from tests.browser.layout import layout_problems
from tests.support.host import disk_ids
from tests.support.smartctl_standin import Smartctl

WIDTHS = (390, 1366)


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return Smartctl(tmp_path_factory.mktemp("smartctl"))


@pytest.fixture(scope="module")
def box(tmp_path_factory, udevd, standin):
    def assign(devices: list[str]) -> None:
        standin.assign(devices[0], "WDC_WD20EFRX-68EUZN0_18.json", step=1.2)
        standin.assign(devices[1], "SAMSUNG_MZVL21T0HCLR-00B00_24.json", step=1.0,
                       result="failed")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{standin.path}:{os.environ['PATH']}")
        yield from serve_box(tmp_path_factory.mktemp("smart-ui"), disks=2, size=256 << 20,
                             prepare=assign, smart_loops=True, smart_poll=0.5,
                             smart_interval=1.0)


def look(page: Page, name: str) -> None:
    """Screenshots at both widths, with no layout problem at either."""
    for pixels in WIDTHS:
        page.set_viewport_size({"width": pixels, "height": 900})
        assert layout_problems(page) == [], pixels
        assert page.evaluate("document.documentElement.scrollWidth") <= pixels
        screenshot(page, f"smart-{name}-{pixels}")
        page.locator("rockd-disk-smart").screenshot(
            path=str(screenshot(page, f"smart-{name}-{pixels}").with_name(
                f"smart-{name}-{pixels}-cards.png")))
    page.set_viewport_size({"width": 1366, "height": 900})


def test_self_tests_progress_log_and_history(page: Page, box, standin, traffic):
    first_run(page, box, disks=1)
    ata, nvme = disk_ids(api(page, "GET", "/state?path=/disks")["value"], box.devices)
    standin.edit(box.devices[0], temperature=38)  # the readings go on every second

    page.goto(f"/#/disks/{ata}")
    tests = page.locator("section.disk-self-tests")
    expect(tests.get_by_role("heading", name="Self-tests")).to_be_visible()
    for kind in ("short", "long", "conveyance"):
        expect(tests.get_by_role("button", name=f"Run a {kind} self-test")).to_be_enabled()
    expect(tests).to_contain_text("No self-test is in the drive's log yet.")
    standin.edit(box.devices[0], temperature=41)

    tests.get_by_role("button", name="Run a short self-test").click()
    job = tests.locator(".job[data-state=running]")
    expect(job).to_contain_text("Short self-test of")
    expect(job).to_contain_text("remaining")
    expect(tests.get_by_role("button", name="Run a long self-test")).to_be_disabled()
    look(page, "running")

    expect(tests.locator(".smart-last")).to_contain_text("passed", timeout=20_000)
    expect(tests.locator(".smart-last")).to_contain_text("Completed without error")
    expect(tests.locator("table.smart-log tbody tr").first).to_contain_text("Short offline")
    expect(tests.get_by_role("button", name="Run a long self-test")).to_be_enabled()
    history = page.locator("section.disk-smart-history")
    expect(history.locator("rockd-smart-chart canvas").first).to_be_visible()
    expect(history.locator("table.smart-readings tbody tr").nth(1)).to_be_visible()
    expect(history.locator("table.smart-readings tbody")).to_contain_text("41")
    look(page, "ata-passed")

    page.goto(f"/#/disks/{nvme}")
    tests = page.locator("section.disk-self-tests")
    expect(tests.get_by_role("button", name="Run a short self-test")).to_be_enabled()
    expect(tests.get_by_role("button", name="Run a conveyance self-test")).to_have_count(0)
    tests.get_by_role("button", name="Run a short self-test").click()
    expect(tests.locator(".smart-last")).to_contain_text("failed", timeout=20_000)
    expect(tests.locator(".smart-last")).to_contain_text("first error at LBA 1234567")
    expect(page.locator("section.disk-smart-history")).to_contain_text("Media errors and wear")
    look(page, "nvme-failed")
    assert traffic.errors == []
