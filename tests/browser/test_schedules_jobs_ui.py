"""Schedules, balance and jobs in headless Chromium against a real rockd on loop devices:
the cron picker for the usual cases and a custom expression, cron in words wherever a schedule
shows it, "keep the last N", a full balance that says what it rewrites and asks first, a
balance filter refused at its field, and jobs titled in words.

The tests share one browser page and run in order; each starts where the previous one ended.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Box, api, first_run, screenshot

WIDTHS = {"390": {"width": 390, "height": 844}, "1366": {"width": 1366, "height": 900}}


def shots(page: Page, name: str) -> None:
    """Screenshots at phone and desktop width, then back to the desktop width."""
    for width, size in WIDTHS.items():
        page.set_viewport_size(size)
        page.wait_for_timeout(150)
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size(WIDTHS["1366"])


def test_set_up_an_administrator_a_pool_and_a_share(page: Page, box: Box):
    page.set_viewport_size(WIDTHS["1366"])
    pool = first_run(page, box, disks=2, data="raid1", metadata="raid1")
    assert pool["name"] == "tank"
    api(page, "POST", "/shares", {"pool": pool["id"], "name": "home"})


def test_the_picker_makes_the_usual_cases_and_says_them_in_words(page: Page):
    page.goto("/#/schedules")
    form = page.locator("rockd-schedule-create form")
    picker = form.locator("rockd-cron-picker")
    words = picker.locator(".cron-words")
    cron = picker.locator("input[name=cron]")
    expect(words).to_have_text("At 03:00 (UTC)")  # the default: every day at 03:00
    assert cron.input_value() == "0 3 * * *"

    picker.get_by_label("Repeat").select_option("hourly")
    picker.get_by_label("Minute past the hour").fill("10")
    expect(words).to_have_text("At 10 minutes past the hour (UTC)")
    assert cron.input_value() == "10 * * * *"

    picker.get_by_label("Repeat").select_option("monthly")
    picker.get_by_label("Day of the month").fill("15")
    picker.get_by_label("Time").fill("01:45")
    expect(words).to_have_text("At 01:45, on day 15 of the month (UTC)")
    assert cron.input_value() == "45 1 15 * *"

    picker.get_by_label("Repeat").select_option("weekly")
    picker.get_by_label("Weekday").select_option("Monday")
    picker.get_by_label("Time").fill("04:30")
    expect(words).to_have_text("At 04:30, only on Monday (UTC)")
    assert cron.input_value() == "30 4 * * 1"

    form.get_by_label("Last").fill("5")
    shots(page, "schedule-picker")
    form.get_by_role("button", name="Create schedule").click()
    expect(page.locator("h1", has_text="Snapshots of home")).to_be_visible()
    facts = page.locator("rockd-schedule-detail dl").first
    expect(facts).to_contain_text("At 04:30, only on Monday (UTC)")
    expect(facts).to_contain_text("the last 5, 24 hourly, 7 daily, 4 weekly, 12 monthly")
    schedule = next(iter(api(page, "GET", "/schedules")))
    assert schedule["cron"] == "30 4 * * 1" and schedule["retention"]["last"] == 5
    edit = page.locator("rockd-schedule-detail form.schedule-edit")
    expect(edit.get_by_label("Repeat")).to_have_value("weekly")  # read back from the cron
    expect(edit.get_by_label("Weekday")).to_have_value("1")
    shots(page, "schedule-detail")


def test_a_custom_expression_in_words_and_a_refused_one_at_its_field(page: Page):
    edit = page.locator("rockd-schedule-detail form.schedule-edit")
    picker = edit.locator("rockd-cron-picker")
    picker.get_by_label("Repeat").select_option("custom")
    field = picker.get_by_label("Cron expression")
    field.fill("*/15 * * * *")
    expect(picker.locator(".cron-words")).to_have_text("Every 15 minutes (UTC)")
    edit.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(page.locator("rockd-schedule-detail dl").first).to_contain_text(
        "Every 15 minutes (UTC)")

    field = edit.locator("rockd-cron-picker").get_by_label("Cron expression")
    field.fill("0 0 31 2 *")  # never fires: rockd refuses it
    edit.get_by_role("button", name="Save changes").click()
    error = edit.locator(".field-error")
    expect(error).to_contain_text("never fires")
    expect(page.locator("rockd-schedule-detail p.error")).to_have_count(0)  # said once
    shots(page, "schedule-refused-cron")
    field.fill("0 0 1 2 *")  # typing clears it
    expect(error).to_have_count(0)

    page.goto("/#/schedules")
    row = page.locator("table.schedules tbody tr").first
    expect(row).to_contain_text("Every 15 minutes (UTC)")
    expect(row).to_contain_text("*/15 * * * *")
    expect(row).to_contain_text("the last 5")
    shots(page, "schedules-list")


def test_a_full_balance_says_what_it_rewrites_and_asks_first(page: Page):
    pool = next(p for p in api(page, "GET", "/state?path=/pools")["value"].values())
    page.goto(f"/#/pools/{pool['id']}")
    form = page.locator("form", has=page.get_by_label("Filters"))
    form.get_by_label("Filters").fill("-dusage=500")
    form.get_by_role("button", name="Balance").click()
    error = form.locator(".field-error")
    expect(error).to_contain_text("usage is at most 100")
    assert api(page, "GET", "/state?path=/jobs")["value"] in ({}, None)

    form.get_by_label("Filters").fill("")
    expect(error).to_have_count(0)
    form.get_by_role("button", name="Balance").click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("rewrites every chunk")
    allocation = api(page, "GET", f"/state?path=/pools/{pool['id']}/usage/allocation")["value"]
    total = sum(allocation[k]["total"] for k in ("data", "metadata", "system") if k in allocation)
    shown = page.evaluate("async (n) => (await import('/web/lib/format.js')).bytes(n)", total)
    expect(dialog).to_contain_text(f"{shown} allocated")
    shots(page, "balance-confirm")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert api(page, "GET", "/state?path=/jobs")["value"] in ({}, None)  # nothing started

    form.get_by_role("button", name="Balance").click()
    page.locator("dialog.confirm").get_by_role("button", name="Balance everything").click()
    jobs = page.locator("section[aria-labelledby=pool-jobs]")
    expect(jobs.locator(".job-what").first).to_have_text("Balance all of tank")
    expect(jobs.locator(".job[data-state=succeeded]")).to_have_count(1, timeout=60_000)


def test_jobs_are_titled_in_words(page: Page):
    pool = next(p for p in api(page, "GET", "/state?path=/pools")["value"].values())
    api(page, "POST", f"/pools/{pool['id']}/scrub", {"readonly": False})
    page.goto("/#/jobs")
    titles = page.locator(".job-list .job-what")
    expect(titles.filter(has_text="Scrub tank")).to_have_count(1)
    expect(titles.filter(has_text="Balance all of tank")).to_have_count(1)
    assert not [t for t in titles.all_text_contents() if "·" in t or "_" in t]
    shots(page, "jobs-titled")
    page.get_by_role("link", name="Details of Scrub tank").click()
    expect(page.locator("h1")).to_have_text("Scrub tank")
    # every kind rockd runs, titled from its params the way the tree holds them
    share = next(iter(api(page, "GET", "/state?path=/shares")["value"].values()))
    cases = [
        ({"kind": "app_install", "target": "static-web"}, "Install static-web"),
        ({"kind": "app_update", "target": "static-web"}, "Update static-web"),
        ({"kind": "app_uninstall", "target": "static-web"}, "Uninstall static-web"),
        ({"kind": "app_image_load", "target": "web-1.0"}, "Load the image file web-1.0"),
        ({"kind": "prune", "target": pool["id"], "params": {"paths": ["/a"]}},
         "Delete 1 snapshot on tank"),
        ({"kind": "prune", "target": pool["id"], "params": {"paths": ["/a", "/b"]}},
         "Delete 2 snapshots on tank"),
        ({"kind": "prune", "target": pool["id"], "params": {"paths": ["/a"], "replica": True}},
         "Delete 1 replica on tank"),
        ({"kind": "balance", "target": pool["id"], "params": {"args": ["-dusage=50"]}},
         "Balance tank (-dusage=50)"),
        ({"kind": "balance", "target": pool["id"],
          "params": {"args": ["--force", "-dconvert=raid1", "-mconvert=raid1c3"]}},
         "Convert tank to raid1 data and raid1c3 metadata"),
        ({"kind": "scrub", "target": pool["id"], "params": {"readonly": True}},
         "Check tank (read-only scrub)"),
        ({"kind": "device_remove", "target": pool["id"], "params": {"disks": ["loop7"]}},
         "Remove loop7 from tank"),
        ({"kind": "device_remove", "target": pool["id"], "params": {"disks": []}},
         "Remove the missing disk from tank"),
        ({"kind": "device_replace", "target": pool["id"], "params": {"disks": ["loop8", "loop7"]}},
         "Replace loop7 with loop8 in tank"),
        ({"kind": "resize", "target": pool["id"]}, "Resize tank"),
        ({"kind": "replicate", "target": share["id"]}, "Replicate home"),
        ({"kind": "some_new_kind", "target": "x"}, "Some new kind x"),
    ]
    tree = api(page, "GET", "/state?path=/")["value"]
    titles = page.evaluate("""async ([tree, jobs]) => {
        const { jobTitle } = await import('/web/components/job-title.js');
        return jobs.map((job) => jobTitle(tree, job));
      }""", [tree, [job for job, _ in cases]])
    assert titles == [title for _, title in cases]


@pytest.fixture(autouse=True, scope="module")
def no_script_errors(traffic):
    yield
    assert not traffic.errors, traffic.errors


def test_a_balance_asked_to_pause_says_so_at_once(page: Page):
    """While the kernel ends the chunk it moves, the row says the job is pausing (the tree's
    detail), with no second Pause to press."""
    page.goto("/#/jobs")
    html = page.evaluate("""async () => {
        const { render } = await import('lit');
        const { jobRow } = await import('/web/components/job-row.js');
        const job = { id: 'x', kind: 'balance', target: 'p', state: 'running', progress: 0.4,
          detail: 'pausing: the kernel ends the chunk it is moving first', params: {} };
        const view = { tree: { pools: { p: { name: 'tank' } } }, act: () => {} };
        const box = document.createElement('div');
        render(jobRow(job, view), box);
        return box.innerHTML;
      }""")
    assert "Pausing…" in html and "disabled" in html and "Balance all of tank" in html, html
