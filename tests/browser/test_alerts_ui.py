"""The alerts in the browser: a raid1 pool loses a loop disk (detached by hand) and the bell
counts it, the dashboard lists it and the Alerts screen shows it, live; acknowledging it
quiets the bell; the settings form saves an SMTP server and a webhook and its Test button
shows each channel's result. At a phone's width (390 px) and a laptop's (1366 px)."""

from __future__ import annotations

import subprocess

from playwright.sync_api import Page, expect

from tests.browser.conftest import api, first_run, screenshot
from tests.browser.layout import layout_problems
from tests.support.alerting import SmtpServer, text_of

WIDTHS = (390, 1366)


def look(page: Page, name: str) -> None:
    """Screenshots at both widths, with no layout problem at either."""
    for pixels in WIDTHS:
        page.set_viewport_size({"width": pixels, "height": 900})
        assert layout_problems(page) == [], pixels
        assert page.evaluate("document.documentElement.scrollWidth") <= pixels
        screenshot(page, f"alerts-{name}-{pixels}")
    page.set_viewport_size({"width": 1366, "height": 900})


def test_bell_list_acknowledge_and_settings(page: Page, box, traffic):
    pool = first_run(page, box, disks=2, data="raid1")
    bell = page.locator("header a.bell")
    expect(bell).to_have_attribute("aria-label", "Alerts: none")
    expect(page.locator(".alerts-card")).to_contain_text("Nothing is wrong")

    # the browser's notifications, as a user who allowed them sees them (headless Chromium
    # shows none: the page's Notification records what it was asked to show)
    page.evaluate("""() => { window.shown = [];
      window.Notification = class { static permission = 'granted';
        constructor(title, options) { window.shown.push([title, options.body]); } }; }""")
    api(page, "POST", f"/pools/{pool['id']}/unmount")
    lost = box.devices[1]
    subprocess.run(["losetup", "-d", lost], check=True)
    expect(bell).to_have_attribute("aria-label", "1 alert to look at")
    card = page.locator(".alerts-card li.alert[data-kind=pool_degraded]")
    expect(card).to_contain_text("Pool tank is degraded")
    expect(card).to_contain_text(lost)
    ((title, body),) = page.evaluate("window.shown")
    assert title == "rockd: critical" and "Pool tank is degraded" in body
    look(page, "dashboard")

    page.goto("/#/alerts")
    page.get_by_role("heading", name="Alerts", exact=True).wait_for()
    row = page.locator("rockd-alerts li.alert[data-kind=pool_degraded]")
    expect(row).to_contain_text("critical")
    row.get_by_role("button", name="Acknowledge").click()
    expect(row).to_contain_text("acknowledged")
    expect(bell).to_have_attribute("aria-label", "Alerts: none")

    with SmtpServer() as smtp:
        page.get_by_label("SMTP server").fill("127.0.0.1")
        page.get_by_label("Port").fill(str(smtp.port))
        page.get_by_label("Security").select_option("none")
        page.get_by_label("From").fill("rockd@example.org")
        page.get_by_label("To", exact=True).fill("owner@example.org")
        page.get_by_role("button", name="Add a webhook").click()
        page.get_by_label("URL").fill("http://127.0.0.1:9/nothing-listens")
        page.get_by_label("Secret").fill("s3cret")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("rockd-alerts p.ok[role=status]")).to_have_text("Saved.")
        page.get_by_role("button", name="Send a test message").click()
        results = page.locator("ul.test-results")
        expect(results.locator("li.ok")).to_contain_text("Email: sent")
        expect(results.locator("li.error")).to_contain_text("nothing-listens")
        (_, message), = smtp.mailbox.received()
        assert "test message" in text_of(message)
        look(page, "screen")
    saved = api(page, "GET", "/alerts/settings")
    assert saved["webhooks"] == [{"url": "http://127.0.0.1:9/nothing-listens",
                                  "signed": True}]  # the secret is kept, never answered
    assert traffic.errors == []
