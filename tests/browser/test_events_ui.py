"""The Events screen: the log newest first, new entries arriving live from the stream (no
request asks for them), a loop disk detached by hand shown as it happens, the filters by kind
and by words, the export link, at a phone's width (390 px) and a laptop's (1366 px)."""

from __future__ import annotations

import subprocess

import orjson
from playwright.sync_api import Page, expect

from tests.browser.conftest import api, first_run
from tests.browser.layout import look


def rows(page: Page):
    return page.locator("rockd-events table.events tbody tr")


def test_the_log_newest_first_live_filtered_and_exported(page: Page, box, traffic):
    pool = first_run(page, box)
    page.goto("/#/events")
    page.get_by_role("heading", name="Events").wait_for()
    newest = rows(page).first
    expect(newest).to_have_attribute("data-kind", "audit")
    expect(newest).to_contain_text("POST /api/v1/pools")
    expect(newest).to_contain_text("201")

    # a change made elsewhere arrives through the stream: no request asks for it
    before = len(traffic.requests)
    share = api(page, "POST", "/shares", {"pool": pool["id"], "name": "photos"})
    expect(rows(page).first).to_contain_text(share["id"])
    asked = [r for r in traffic.since(before) if "/api/v1/events" in r]
    assert asked == [], asked

    # a loop disk detached by hand: said in words, as it happens
    spare = box.devices[2]
    subprocess.run(["losetup", "-d", spare], check=True)
    gone = page.locator("rockd-events tr[data-kind=disk_gone]").first
    expect(gone).to_contain_text(f"Disk {spare.rsplit('/', 1)[1]} is gone")
    expect(rows(page).nth(1)).to_contain_text(share["id"])  # still there, below it
    look(page, "events-all")

    page.get_by_label("Kind").select_option("audit")
    expect(page.locator("rockd-events tr[data-kind=disk_gone]")).to_have_count(0)
    expect(rows(page).first).to_have_attribute("data-kind", "audit")
    page.get_by_label("Words").fill("photos")
    page.get_by_role("button", name="Filter").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("POST /api/v1/shares")
    look(page, "events-filtered")

    link = page.get_by_role("link", name="Export (JSON lines)")
    assert link.get_attribute("href") == "/api/v1/events/export?kind=audit&text=photos"
    answer = page.request.get(link.get_attribute("href"))
    assert answer.status == 200
    exported = [orjson.loads(line) for line in answer.text().splitlines()]
    assert [e["resource"] for e in exported] == [share["id"]]
    assert traffic.errors == []
