"""The web UI with a share of 2,000 real snapshots: the table shows a page of them, not 2,000
rows; the pager, the search and the sorting headers find any of them; a snapshot made by hand
shows up live at the top; and the page holds its look at 390 px and 1366 px.

The tests share one browser page and run in order; each starts where the previous one ended.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Box, Traffic, api, first_run
from tests.browser.layout import look
from tests.browser.many_snapshots import make_snapshots, store_holds

COUNT = 2000
PAGE = 50


@pytest.fixture(scope="module")
def share(page: Page, box: Box) -> dict:
    """The pool "tank", its share "photos" and the share's COUNT snapshots, made by hand (the
    share, with the pool's mount point as "mount_point")."""
    pool = first_run(page, box)
    made = api(page, "POST", "/shares", {"pool": pool["id"], "name": "photos"})
    make_snapshots(Path(pool["mount_point"]), "photos", COUNT)
    store_holds(page, f"s{COUNT - 1:05d}", timeout=120_000)
    return {**made, "mount_point": pool["mount_point"]}


def rows(page: Page):
    return page.locator("rockd-snapshots tbody tr[data-snapshot]")


def status(page: Page):
    return page.get_by_role("navigation", name="Pages of snapshots").get_by_role("status")


def test_the_table_shows_one_page_of_the_snapshots(page: Page, share: dict):
    page.goto(f"/#/shares/{share['id']}")
    table = page.get_by_role("table").filter(has=page.locator("tr[data-snapshot]"))
    expect(table).to_be_visible()
    expect(rows(page)).to_have_count(PAGE)
    expect(status(page)).to_have_text(f"Snapshots 1 to {PAGE} of {COUNT}")
    # newest first, as before: the last one made is on top
    expect(rows(page).first).to_contain_text(f"s{COUNT - 1:05d}")
    created = page.get_by_role("columnheader", name="Created")
    expect(created).to_have_attribute("aria-sort", "descending")
    # the rollback form offers the newest, not a choice of 2,000
    assert page.locator("select[name=snapshot] option").count() == 50


def test_the_pager_turns_with_the_keyboard(page: Page):
    pager = page.get_by_role("navigation", name="Pages of snapshots")
    expect(pager.get_by_role("button", name="Previous")).to_be_disabled()
    pager.get_by_role("button", name="Next").focus()
    page.keyboard.press("Enter")
    expect(status(page)).to_have_text(f"Snapshots {PAGE + 1} to {2 * PAGE} of {COUNT}")
    expect(rows(page).first).to_contain_text(f"s{COUNT - 1 - PAGE:05d}")
    expect(rows(page)).to_have_count(PAGE)
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # Previous
    expect(status(page)).to_have_text(f"Snapshots 1 to {PAGE} of {COUNT}")


def test_the_search_finds_one_snapshot_by_name(page: Page):
    search = page.get_by_label("Search snapshots")
    search.fill("s01234")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("s01234")
    expect(status(page)).to_have_text(f"Found 1 of {COUNT} snapshots, showing 1 to 1")
    search.fill("no such snapshot")
    expect(rows(page)).to_have_count(0)
    expect(page.get_by_text("No snapshot's name holds")).to_be_visible()
    search.fill("")
    expect(rows(page)).to_have_count(PAGE)


def test_sorting_by_date_and_by_name(page: Page):
    created = page.get_by_role("columnheader", name="Created")
    created.get_by_role("button").click()
    expect(created).to_have_attribute("aria-sort", "ascending")
    expect(rows(page).first).to_contain_text("s00000")
    created.get_by_role("button").click()
    expect(created).to_have_attribute("aria-sort", "descending")
    expect(rows(page).first).to_contain_text(f"s{COUNT - 1:05d}")
    name = page.get_by_role("columnheader", name="Name")
    name.get_by_role("button").click()
    expect(name).to_have_attribute("aria-sort", "ascending")
    expect(created).to_have_attribute("aria-sort", "none")
    expect(rows(page).first).to_contain_text("s00000")
    expect(rows(page).nth(1)).to_contain_text("s00001")
    created.get_by_role("button").click()
    created.get_by_role("button").click()
    expect(created).to_have_attribute("aria-sort", "descending")


def test_a_snapshot_made_by_hand_shows_up_live_on_top(page: Page, box: Box, share: dict,
                                                      traffic: Traffic):
    asked = len(traffic.requests)
    # (named to be on top also when made in the same second as the last: names break ties)
    make_snapshots(Path(share["mount_point"]), "photos", 1, prefix="z-live-")
    expect(rows(page).first).to_contain_text("z-live-00000", timeout=10_000)
    expect(status(page)).to_have_text(f"Snapshots 1 to {PAGE} of {COUNT + 1}")
    expect(rows(page)).to_have_count(PAGE)
    assert traffic.since(asked) == []  # the stream brought it
    assert traffic.errors == []


def test_the_shares_table_counts_them(page: Page, share: dict):
    page.goto("/#/shares")
    expect(page.locator(f'tr[data-share="{share["id"]}"] td[data-label="Snapshots"]')).to_have_text(
        str(COUNT + 1))
    quota = page.get_by_role("columnheader", name="Quota")
    quota.get_by_role("button").click()
    expect(quota).to_have_attribute("aria-sort", "ascending")


def test_the_look_at_390_and_1366_px(page: Page, share: dict, traffic: Traffic):
    page.goto(f"/#/shares/{share['id']}")
    expect(rows(page)).to_have_count(PAGE)
    page.get_by_label("Search snapshots").scroll_into_view_if_needed()
    look(page, "snapshots-2000", widths=(390,))
    # the headers are hidden on a narrow screen: the order is a choice there
    sort_by = page.get_by_label("Sort by")
    expect(sort_by).to_be_visible()
    sort_by.select_option("name:true")
    expect(rows(page).first).to_contain_text("z-live-00000")
    # (the header, hidden at this width, says the same order)
    expect(page.locator("rockd-snapshots th", has_text="Name")).to_have_attribute(
        "aria-sort", "descending")
    look(page, "snapshots-2000", widths=(1366,))
    expect(sort_by).to_be_hidden()
    assert traffic.errors == []


def test_the_disks_sort_by_their_headers(page: Page):
    page.goto("/#/disks")
    path = page.get_by_role("columnheader", name="Path")
    expect(path).to_have_attribute("aria-sort", "none")  # managed ones first, at first
    path.get_by_role("button").click()
    expect(path).to_have_attribute("aria-sort", "ascending")
    cells = page.locator("rockd-disks tbody td[data-label=Path]")
    shown = cells.all_inner_texts()
    assert shown == sorted(shown, key=natural) and len(shown) >= 3
    path.get_by_role("button").click()
    expect(path).to_have_attribute("aria-sort", "descending")
    expect(cells.first).to_have_text(shown[-1])


def natural(text: str) -> list:
    """"/dev/loop10" after "/dev/loop9", as the page orders them."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
