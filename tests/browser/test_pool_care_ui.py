"""SSD care and deduplication in headless Chromium against a real rockd on loop devices: the
pool's devices with their rotational and discard flags, "Trim now" and "Deduplicate" (of a
chosen share) running as jobs whose results show on the pool, the recommended mount options
applied from the pool's settings (seen in the mount table), and schedules of the new kinds
made from the schedule form.

The tests share one browser page and run in order; each starts where the previous one ended.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, Box, api, first_run
from tests.browser.layout import look

STATE: dict = {}


def card_shots(page: Page, selector: str, name: str) -> None:
    """The card alone at phone and desktop width (`{name}-card-{width}`), to look at closely."""
    for pixels in (390, 1366):
        page.set_viewport_size({"width": pixels, "height": 900})
        page.wait_for_timeout(100)
        page.locator(selector).first.screenshot(path=str(SCREENSHOTS / f"{name}-card-{pixels}.png"))


def test_a_pool_with_duplicated_data(page: Page, box: Box):
    page.set_viewport_size({"width": 1366, "height": 900})
    pool = first_run(page, box, mount_options="nodiscard")
    share = api(page, "POST", "/shares", {"pool": pool["id"], "name": "media"})
    folder = Path(share["path"])
    (folder / "take1").write_bytes(os.urandom(16 << 20))
    for i in range(2, 5):
        subprocess.run(["cp", "--reflink=never", str(folder / "take1"), str(folder / f"take{i}")],
                       check=True)
    subprocess.run(["sync"], check=True)
    STATE.update(pool=pool, share=share)


def test_trim_now_and_its_result(page: Page):
    pool = STATE["pool"]
    page.goto(f"/#/pools/{pool['id']}")
    care = page.locator("rockd-pool-care")
    expect(care.get_by_role("heading", name="SSD care and deduplication")).to_be_visible()
    row = care.locator("table.care-devices tbody tr").first
    expect(row).to_contain_text("rotational")  # a loop device, as the kernel says
    expect(row.locator("td[data-label=Discard]")).to_have_text("yes")
    expect(care.locator(".care-recommended")).to_contain_text("discard=async")
    expect(care.locator(".care-recommended")).to_contain_text("not in force")
    care.get_by_role("button", name="Trim now").click()
    jobs = page.locator("section[aria-labelledby=pool-jobs]")
    expect(jobs.locator(".job[data-state=succeeded]", has_text="Trim")).to_be_visible()
    expect(care.locator(".care-last[data-kind=trim]")).to_contain_text("trimmed")


def test_deduplicate_a_chosen_share(page: Page):
    care = page.locator("rockd-pool-care")
    care.get_by_label("media").check()
    care.get_by_role("button", name="Deduplicate").click()
    jobs = page.locator("section[aria-labelledby=pool-jobs]")
    done = jobs.locator(".job[data-state=succeeded]", has_text="Dedup")
    expect(done).to_be_visible(timeout=60_000)
    expect(done).to_contain_text("deduplicated")
    last = care.locator(".care-last[data-kind=dedup]")
    expect(last).to_contain_text("freed")
    job = next(j for j in api(page, "GET", "/jobs") if j["kind"] == "dedup")
    assert job["params"]["shares"] == [STATE["share"]["id"]], job
    assert job["result"]["bytes_deduplicated"] >= 40 << 20, job  # 3 of 4 copies of 16 MiB
    care.scroll_into_view_if_needed()
    look(page, "pool-care")
    card_shots(page, "rockd-pool-care section", "pool-care")


def test_recommended_options_applied_from_the_settings(page: Page):
    pool = STATE["pool"]
    settings = page.locator("rockd-pool-settings")
    hint = settings.locator(".recommended-options")
    expect(hint).to_contain_text("discard=async")
    hint.get_by_role("button", name="Use recommended options").click()
    expect(settings.get_by_label("Mount options")).to_have_value("discard=async")
    settings.locator("form").filter(has_text="Save settings") \
        .get_by_role("button", name="Save settings").click()
    expect(hint).to_contain_text("(in force)")
    expect(page.locator("rockd-pool-care .care-recommended .badge.good")).to_have_text(
        "in force")
    table = Path("/proc/self/mountinfo").read_text()
    line = next(m for m in table.splitlines() if f" {pool['mount_point']} " in m)
    assert "discard=async" in line, line
    hint.scroll_into_view_if_needed()
    look(page, "pool-settings-recommended")
    card_shots(page, "rockd-pool-settings section", "pool-settings")


def test_schedules_of_trim_dedup_and_smart_tests(page: Page):
    pool, share = STATE["pool"], STATE["share"]
    page.goto("/#/schedules")
    form = page.locator("rockd-schedule-create form")
    kinds = form.get_by_label("Kind")
    for label in ("Trim (SSD)", "Deduplicate", "SMART self-test"):
        expect(kinds.locator("option", has_text=label)).to_have_count(1)

    kinds.select_option("dedup")
    expect(form.get_by_label("Pool")).to_have_value(pool["id"])
    form.locator("fieldset.dedup-shares").get_by_label("media").check()
    look(page, "schedule-dedup-form")
    card_shots(page, "rockd-schedule-create section", "schedule-dedup-form")
    form.get_by_role("button", name="Create schedule").click()
    expect(page.locator("h1", has_text="Deduplication of tank")).to_be_visible()
    facts = page.locator("rockd-schedule-detail dl").first
    expect(facts).to_contain_text("shares media")

    page.goto("/#/schedules")
    form = page.locator("rockd-schedule-create form")
    form.get_by_label("Kind").select_option("smart_test")
    form.locator("select[name=test_type]").select_option("long")
    form.get_by_role("button", name="Create schedule").click()
    expect(page.locator("h1", has_text="Long self-tests of")).to_be_visible()

    page.goto("/#/schedules")
    form = page.locator("rockd-schedule-create form")
    form.get_by_label("Kind").select_option("trim")
    form.get_by_role("button", name="Create schedule").click()
    expect(page.locator("h1", has_text="Trims of tank")).to_be_visible()
    made = {s["kind"]: s for s in api(page, "GET", "/schedules")}
    assert made["dedup"]["options"] == {"shares": [share["id"]]}, made
    assert made["smart_test"]["options"] == {"type": "long"}, made
    assert made["trim"]["target"] == pool["id"] and "options" not in made["trim"], made
    page.goto("/#/schedules")
    expect(page.locator("table.schedules tbody tr")).to_have_count(3)
    kinds = page.locator("table.schedules tbody tr td:first-child")
    expect(kinds).to_have_text(["Deduplicate", "SMART self-test", "Trim (SSD)"])
    look(page, "schedules-care")
