"""The Network screen on a real NetworkManager (tests/support/networkmanager.py): the
interfaces with their link and traffic; a static address added through the form answers pings
from the other end of its veth; the rollback banner counts down and "Keep these settings"
keeps the change, while one left alone is rolled back; a bridge made with the form; a bad
address refused at its field. At a phone's width (390 px) and a laptop's (1366 px)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import first_run, screenshot, serve_box
from tests.browser.layout import layout_problems
from tests.support.networkmanager import running

WIDTHS = (390, 1366)


@pytest.fixture(scope="module")
def nmbox():
    yield from running()


@pytest.fixture(scope="module")
def box(tmp_path_factory, udevd, nmbox):
    yield from serve_box(tmp_path_factory.mktemp("network-ui"), disks=1,
                         network_bus=nmbox.address, network_confirm=60)


def look(page: Page, name: str) -> None:
    """Screenshots at both widths, with no layout problem at either."""
    for pixels in WIDTHS:
        page.set_viewport_size({"width": pixels, "height": 900})
        assert layout_problems(page) == [], pixels
        assert page.evaluate("document.documentElement.scrollWidth") <= pixels
        screenshot(page, f"network-{name}-{pixels}")
    page.set_viewport_size({"width": 1366, "height": 900})


def add_static(page: Page, interface: str, address: str, within: str = "") -> None:
    form = page.locator("form.network-form")
    form.get_by_label("Kind").select_option("ethernet")
    form.get_by_label("Interface").select_option(interface)
    form.get_by_label("Method").select_option("static")
    form.get_by_label("Addresses").fill(address)
    form.get_by_label("DNS servers").fill("192.0.2.53")
    form.get_by_label("MTU").fill("1400")
    if within:
        form.get_by_label("Confirm within").fill(within)
    form.get_by_role("button", name="Add connection").click()


def test_network_screen(page: Page, box, nmbox, traffic):
    first_run(page, box)
    page.goto("/#/network")
    page.get_by_role("heading", name="Network", exact=True).wait_for()
    screen = page.locator("rockd-network")
    eth1 = screen.locator("tr[data-interface=eth1]").first
    expect(eth1).to_contain_text("up")
    expect(eth1).to_contain_text("10000 Mb/s")
    expect(eth1).to_contain_text("↓")  # traffic, refreshed while the screen is open

    # a bad address: refused at its field, nothing added
    form = page.locator("form.network-form")
    form.get_by_label("Method").select_option("static")
    form.get_by_label("Addresses").fill("300.1.1.1/24")
    form.get_by_role("button", name="Add connection").click()
    expect(form.locator(".field-error")).to_contain_text("address with its prefix")
    expect(screen.locator("tr[data-connection]")).to_have_count(0)

    # a static address, under a rollback timer: the banner counts down; kept, it stays
    nmbox.ip(nmbox.peer, "addr", "add", "192.0.2.1/24", "dev", "p1")
    add_static(page, "eth1", "192.0.2.2/24", within="60")
    banner = page.locator(".rollback-banner")
    expect(banner).to_contain_text("rolled back in")
    first = banner.locator(".countdown").inner_text()
    expect(banner.locator(".countdown")).not_to_have_text(first)  # it counts down
    expect(screen.locator("tr[data-interface=eth1]").first).to_contain_text("192.0.2.2/24",
                                                                            timeout=15_000)
    look(page, "pending")
    banner.get_by_role("button", name="Keep these settings").click()
    expect(banner).to_have_count(0)
    expect(screen.locator("p.ok[role=status]")).to_have_text("Kept.")
    assert nmbox.ping("192.0.2.2")  # set through the UI, reachable from the other end

    # a change left alone: rolled back by NetworkManager at the deadline
    row = screen.locator("tr[data-connection][data-interface=eth1]")
    row.get_by_role("button", name="Change").click()
    edit = screen.locator("tr.network-edit form")
    look(page, "edit")
    edit.get_by_label("Addresses").fill("192.0.2.3/24")
    edit.get_by_label("Confirm within").fill("10")
    edit.get_by_role("button", name="Apply").click()
    expect(banner).to_contain_text("rolled back in")
    expect(screen.locator(".network-rolled-back")).to_contain_text("was not kept in time",
                                                                   timeout=25_000)
    expect(row).to_contain_text("192.0.2.2/24", timeout=10_000)

    # a bridge of two ports, no IP
    form = page.locator("form.network-form")
    form.get_by_label("Kind").select_option("bridge")
    form.get_by_label("Name").fill("br0")
    form.get_by_label("Method").select_option("disabled")
    form.get_by_label("eth3").check()
    form.get_by_label("eth4").check()
    form.get_by_role("button", name="Add connection").click()
    expect(screen.locator("tr[data-connection][data-interface=br0]")).to_contain_text(
        "eth3, eth4")
    expect(screen.locator("tr[data-interface=br0]").first).to_contain_text("bridge",
                                                                           timeout=15_000)
    look(page, "screen")
    assert traffic.errors == []
