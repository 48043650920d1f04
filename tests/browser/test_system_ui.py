"""The System screen in the browser: rename the box, pick a time zone from the searchable list,
give chrony an NTP server (a real chronyd in its own namespace) and watch the clock become
synchronized, live; reboot with the hostname typed (the final command is a stand-in script);
and a disk's spin-down form, whose refusal by the loop device is shown. At a phone's width
(390 px) and a laptop's (1366 px)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import api, first_run, serve_box
from tests.browser.layout import layout_problems
from tests.support.chrony import Chrony
from tests.support.host import disk_ids

WIDTHS = (390, 1366)
SHOTS = Path(os.environ.get("ROCKD_SYSTEM_SHOTS", "/tmp/issue19/shots"))
STAND_IN = '#!/bin/sh\necho "$@" >> {record}\n'


@pytest.fixture(scope="module")
def chrony(tmp_path_factory):
    with Chrony(tmp_path_factory.mktemp("chrony") / "chrony") as running:
        yield running


@pytest.fixture(scope="module")
def box(tmp_path_factory, udevd, chrony):
    root = tmp_path_factory.mktemp("ui")
    script = root / "power-stand-in"
    script.write_text(STAND_IN.format(record=root / "power-calls"))
    script.chmod(0o755)
    yield from serve_box(root, disks=2, chrony_sources=chrony.sources,
                         chrony_socket=chrony.socket, reboot_command=[str(script), "reboot"],
                         poweroff_command=[str(script), "poweroff"])


def look(page: Page, name: str) -> None:
    """Screenshots at both widths, with no layout problem at either."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for pixels in WIDTHS:
        page.set_viewport_size({"width": pixels, "height": 900})
        assert layout_problems(page) == [], pixels
        assert page.evaluate("document.documentElement.scrollWidth") <= pixels
        page.screenshot(path=str(SHOTS / f"system-{name}-{pixels}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def test_system_screen_names_times_and_reboots(page: Page, box, traffic):
    first_run(page, box)
    page.goto("/#/system")
    page.get_by_role("heading", name="System", exact=True).wait_for()
    time_card = page.locator(".system-time")
    expect(time_card.locator("[data-sync]")).to_have_text("not synchronized")

    name = page.get_by_label("Hostname")
    name.fill("-bad")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator(".field-error")).to_contain_text("letters, digits and hyphens")
    name.fill("nas-ui")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("status")).to_contain_text("The hostname is now nas-ui")
    assert (box.root / "etc" / "hostname").read_text() == "nas-ui\n"

    zone = page.get_by_label("Time zone")
    assert page.locator("#system-zones option").count() > 300  # the list searched as typed
    zone.fill("Mars/Olympus")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".system-time .field-error")).to_contain_text("not a time zone")
    zone.fill("Europe/Paris")
    page.get_by_label("NTP servers").fill("127.0.0.1")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Time zone Europe/Paris")
    expect(time_card.locator("[data-sync]")).to_have_text("synchronized", timeout=45_000)
    expect(time_card).to_contain_text("127.0.0.1")
    look(page, "synchronized")

    # reboot: the hostname typed, else nothing is done
    record = box.root / "power-calls"
    page.get_by_role("button", name="Reboot…").click()
    dialog = page.locator("dialog.confirm")
    confirm = dialog.get_by_role("button", name="Reboot")
    dialog.get_by_role("textbox").fill("nas")
    expect(confirm).to_be_disabled()
    page.set_viewport_size({"width": 390, "height": 900})
    page.screenshot(path=str(SHOTS / "system-reboot-dialog-390.png"))
    page.set_viewport_size({"width": 1366, "height": 900})
    page.screenshot(path=str(SHOTS / "system-reboot-dialog-1366.png"))
    dialog.get_by_role("textbox").fill("nas-ui")
    confirm.click()
    expect(page.locator("[data-pending=reboot]")).to_contain_text("reboot requested by admin")
    expect(page.get_by_role("button", name="Shut down…")).to_be_disabled()
    assert record.read_text() == "reboot\n"
    look(page, "rebooting")
    assert traffic.errors == []


def test_disk_spindown_form_shows_the_refusal(page: Page, box, traffic):
    disks = api(page, "GET", "/state?path=/disks")["value"]
    disk_id = disk_ids(disks, box.devices[1:])[0]
    page.goto(f"/#/disks/{disk_id}")
    card = page.locator(".disk-power")
    expect(card).to_contain_text("Not set")
    card.get_by_label("Spin down after (minutes)").fill("10")
    card.get_by_label("APM level").fill("128")
    card.get_by_role("button", name="Save").click()
    expect(card.locator("[data-applied]")).to_have_text("not applied")
    expect(card.locator(".disk-power-error")).to_contain_text("HDIO_DRIVE_CMD")
    expect(card.get_by_role("alert")).to_contain_text("Kept, but the disk refused them")
    card.scroll_into_view_if_needed()
    look(page, "disk-power")
    assert traffic.errors == []
