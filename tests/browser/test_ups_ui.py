"""The UPS screen on a real NUT (rockd runs NUT's dummy-ups driver, upsd and upsmon): the USB
list read from this machine, a bad driver refused at its field, the UPS followed through the
form, its status, charge and runtime live, the power failure's alarm with its countdown, power
back, and "Stop following". At a phone's width (390 px) and a laptop's (1366 px)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import first_run, screenshot, serve_box
from tests.browser.layout import layout_problems
from tests.support.client import free_port
from tests.support.nut import DevFile, NutServer, PoweroffStandIn

WIDTHS = (390, 1366)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("ups-ui")


@pytest.fixture(scope="module")
def poweroff(folder):
    return PoweroffStandIn(folder)


@pytest.fixture(scope="module")
def box(folder, udevd, poweroff):
    root = folder / "rockd"
    root.mkdir()
    yield from serve_box(root, disks=1, nut_listen=f"127.0.0.1:{free_port()}",
                         poweroff_command=poweroff.argv)


def look(page: Page, name: str) -> None:
    """Screenshots at both widths, with no layout problem at either."""
    for pixels in WIDTHS:
        page.set_viewport_size({"width": pixels, "height": 900})
        assert layout_problems(page) == [], pixels
        assert page.evaluate("document.documentElement.scrollWidth") <= pixels
        screenshot(page, f"ups-{name}-{pixels}")
    page.set_viewport_size({"width": 1366, "height": 900})


def test_ups_screen(page: Page, box, folder, poweroff, traffic):
    first_run(page, box)
    dev = DevFile(folder / "ups.dev")
    page.goto("/#/ups")
    page.get_by_role("heading", name="UPS", exact=True).wait_for()
    screen = page.locator("rockd-ups")
    expect(screen).to_contain_text("rockd follows no UPS")
    form = page.locator("form.ups-form")

    # the USB list, from this machine (it has no USB bus)
    form.get_by_role("button", name="Look for USB UPSes").click()
    expect(form).to_contain_text("0 found")
    expect(form).to_contain_text("no USB bus")

    # a driver NUT does not have: refused at its field, nothing changed
    form.get_by_label("Driver").fill("no-such-driver")
    form.get_by_role("button", name="Follow this UPS").click()
    expect(form.locator(".field-error")).to_contain_text("NUT has no driver no-such-driver")
    expect(screen).to_contain_text("rockd follows no UPS")

    form.get_by_label("Driver").fill("dummy-ups")
    form.get_by_label("Port").fill(str(dev.path))
    form.get_by_label("UPS name").fill("rack")
    form.get_by_label("Grace time (seconds)").fill("600")
    form.get_by_role("button", name="Follow this UPS").click()
    status = page.locator(".ups-status")
    expect(status.locator(".ups-state")).to_have_text("online", timeout=20_000)
    expect(status.locator(".ups-charge")).to_have_text("100 %")
    expect(status.locator(".ups-runtime")).to_have_text("30 min 0 s")
    expect(status).to_contain_text("Dummy Rack 1500")

    # live while the screen is open
    dev.write(**{"battery.charge": "97", "battery.runtime": "1500"})
    expect(status.locator(".ups-charge")).to_have_text("97 %", timeout=10_000)
    expect(status.locator(".ups-runtime")).to_have_text("25 min 0 s")
    look(page, "online")

    # the power fails: the alarm, counting down to the shutdown
    dev.write(**{"ups.status": "OB DISCHRG", "battery.charge": "90"})
    alarm = page.locator(".ups-alarm")
    expect(alarm).to_contain_text("Power failed", timeout=10_000)
    expect(alarm).to_contain_text("shuts down in")
    expect(status.locator(".ups-state")).to_have_text("on battery")
    first = alarm.locator(".countdown").inner_text()
    page.wait_for_timeout(1500)
    assert alarm.locator(".countdown").inner_text() != first
    look(page, "on-battery")

    # power back: the alarm goes, nothing was shut down
    dev.write(**{"ups.status": "OL CHRG"})
    expect(alarm).to_have_count(0, timeout=10_000)
    expect(status.locator(".ups-state")).to_have_text("online")
    assert poweroff.calls == []

    # a NUT server on the network instead (its own dummy-ups and upsd)
    with NutServer(folder / "server") as server:
        form.get_by_label("on a NUT server on the network").check()
        form.get_by_label("Server", exact=True).fill("127.0.0.1")
        form.get_by_label("Port").fill(str(server.port))
        form.get_by_label("User", exact=True).fill(server.user)
        form.get_by_label("Password").fill("wrong")
        form.get_by_label("UPS name").fill(server.name)
        form.get_by_role("button", name="Save").click()
        expect(form.locator(".field-error")).to_contain_text("refused the user or password")
        form.get_by_label("Password").fill(server.password)
        form.get_by_role("button", name="Save").click()
        expect(status).to_contain_text(f"the NUT server 127.0.0.1:{server.port}",
                                       timeout=10_000)
        expect(status.locator(".ups-state")).to_have_text("online", timeout=20_000)
        look(page, "network")
        assert server.password not in page.content()

    # stop following: asked first
    screen.get_by_role("button", name="Stop following").click()
    page.locator("dialog.confirm").get_by_role("button", name="Stop following").click()
    expect(screen).to_contain_text("rockd follows no UPS", timeout=10_000)
    look(page, "none")
    assert traffic.errors == []
