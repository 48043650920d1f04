"""Every form of the web UI at a phone's width (390 px) and a laptop's (1366 px): no two
fields, labels or hints overlap and none runs past its card; the sections menu on a narrow
screen; a page for an unknown address; the charts' legend; and messages that belong to the
action that made them, shown at the field they are about, in words.

The tests share one browser page and run in order; each starts where the previous one ended.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Box, Traffic, api, screenshot
from tests.browser.layout import layout_problems
from tests.support.client import PASSWORD
from tests.support.exporting import users
from tests.support.host import disk_ids

WIDTHS = (390, 1366)
# a share with the longest name there is: it is an option of several forms' selects
TURN_ON = "Turn on quotas and set the quota"
LONG = "a-share-with-the-longest-name-rockd-takes-so-forms-must-wrap-it-x"[:64]


@pytest.fixture(scope="module")
def person():
    """A Unix user whose page the forms test opens (removed afterwards)."""
    with users(1) as made:
        yield made[0]


def width(page: Page, pixels: int) -> None:
    page.set_viewport_size({"width": pixels, "height": 900})


def test_set_up_an_administrator_a_pool_and_shares(page: Page, box: Box):
    page.goto("/")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Set up").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    disks = api(page, "GET", "/state?path=/disks")["value"]
    pool = api(page, "POST", "/pools", {"name": "tank", "disks": disk_ids(disks, box.devices[:1]),
                                        "data": "single"})
    for name in ("docs", LONG):
        api(page, "POST", "/shares", {"pool": pool["id"], "name": name})


def open_forms(page: Page, person: str) -> list[tuple[str, str]]:
    """Each form screen: its name, then the address that shows it (after the clicks some
    need)."""
    shares = api(page, "GET", "/shares")
    docs = next(s for s in shares if s["name"] == "docs")
    return [("new-pool", "#/pools/new"), ("new-share", "#/shares"),
            ("share-settings", f"#/shares/{docs['id']}"), ("users", "#/users"),
            ("user-page", f"#/users/{person}"), ("schedules", "#/schedules"),
            ("exports", "#/exports"), ("replication", "#/replication"),
            ("tokens", "#/tokens"), ("apps", "#/apps")]


def test_no_form_overlaps_or_runs_past_its_card(page: Page, person: str):
    found = {}
    for pixels in WIDTHS:
        width(page, pixels)
        for name, address in open_forms(page, person):
            page.goto(f"/{address}")
            if name == "apps":  # the install form opens from a catalog card
                page.get_by_role("button", name="Install…").first.click()
            expect(page.locator("main form").first).to_be_visible()
            page.wait_for_timeout(300)
            problems = layout_problems(page)
            if problems:
                found[f"{name} at {pixels} px"] = problems
            screenshot(page, f"forms-{name}-{pixels}")
    assert found == {}


def test_the_sections_are_a_menu_on_a_narrow_screen(page: Page):
    width(page, 390)
    page.goto("/#/dashboard")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("link", name="Users")).to_be_hidden()
    menu.focus()
    page.keyboard.press("Enter")  # opens from the keyboard
    expect(menu).to_have_attribute("aria-expanded", "true")
    links = page.locator("nav#screens a")
    expect(links).to_have_count(18)  # every screen of web/lib/router.js
    for index in range(18):
        expect(links.nth(index)).to_be_in_viewport()
    screenshot(page, "menu-open-390")
    page.keyboard.press("Tab")
    expect(links.first).to_be_focused()
    page.keyboard.press("Escape")  # closes, and the focus goes back to the button
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    menu.click()
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")  # a choice closes it
    expect(menu).to_contain_text("Users")  # and it says where one is

    width(page, 1366)
    expect(menu).to_be_hidden()
    expect(page.get_by_role("link", name="API tokens")).to_be_visible()
    screenshot(page, "menu-1366")


def test_an_unknown_address_says_so_with_a_way_home(page: Page):
    page.goto("/#/nonsense")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("heading", name="Dashboard")).to_have_count(0)
    screenshot(page, "not-found-1366")
    page.get_by_role("link", name="Go to the dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_charts_have_a_legend_readable_on_a_phone(page: Page):
    width(page, 390)
    page.goto("/#/dashboard")
    network = page.locator("rockd-chart", has_text="Network")
    legend = network.get_by_role("list", name="Network legend")
    expect(legend).to_be_visible()
    expect(legend.locator("li")).to_have_count(2)
    expect(legend).to_contain_text("received")
    expect(legend).to_contain_text("sent")
    chart = network.bounding_box()
    for item in legend.locator("li").all():
        box = item.bounding_box()
        assert chart["x"] - 1 <= box["x"]
        assert box["x"] + box["width"] <= chart["x"] + chart["width"] + 1
        swatch = item.locator(".swatch").bounding_box()
        assert swatch["width"] > 4 and swatch["height"] > 1  # the line's colour is shown
    network.scroll_into_view_if_needed()
    screenshot(page, "dashboard-legend-390")


def share_page(page: Page, name: str) -> None:
    share = next(s for s in api(page, "GET", "/shares") if s["name"] == name)
    page.goto(f"/#/shares/{share['id']}")
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()


def test_a_note_belongs_to_its_action_and_its_page(page: Page):
    width(page, 1366)
    share_page(page, "docs")
    page.get_by_label("Snapshot name").fill("before-edit")
    page.get_by_role("button", name="Create snapshot").click()
    made = page.get_by_text("Snapshot before-edit is made.")
    expect(made).to_be_visible()
    page.locator("tr", has_text="before-edit").get_by_role("button", name="Clone…").click()
    page.get_by_label("Name of the new share (from before-edit)").fill("docs-copy")
    page.locator("form.clone-form").get_by_role("button", name="Clone", exact=True).click()
    expect(page.get_by_role("heading", name="docs-copy", exact=True)).to_be_visible()
    expect(page.get_by_text("No snapshots yet.")).to_be_visible()
    expect(page.get_by_text("is made.")).to_have_count(0)
    screenshot(page, "clone-page-1366")


def field_error(page: Page, form: str, name: str):
    """The error shown at field `name` of the form of class `form`."""
    return page.locator(f"form.{form} :is(label, .field)", has=page.locator(f"[name={name}]")) \
        .locator(".field-error")


def quota_error(page: Page):
    return field_error(page, "share-settings", "quota")


def test_a_quota_needs_a_unit_and_its_error_shows_at_the_field_until_edited(page: Page):
    share_page(page, "docs")
    quota = page.locator("form.share-settings input[name=quota]")
    quota.fill("1")
    page.get_by_role("button", name="Save changes").click()
    expect(quota_error(page)).to_contain_text('"1" has no unit: write the quota as')
    expect(quota).to_have_attribute("aria-invalid", "true")
    expect(page.locator("main p.error")).to_have_count(0)  # not at the bottom, nor the top
    screenshot(page, "quota-error-1366")
    quota.press_sequentially("G")
    expect(quota_error(page)).to_have_count(0)  # the input changed: the error is done with
    expect(quota).to_have_attribute("aria-invalid", "false")


def test_the_first_quota_asks_before_turning_quotas_on_and_a_huge_one_is_refused(
        page: Page, traffic: Traffic):
    share_page(page, "docs")
    pool = next(p for p in api(page, "GET", "/pools") if p["name"] == "tank")
    assert not pool["quotas"]
    quota = page.locator("form.share-settings input[name=quota]")
    quota.fill("97.7P")
    sent = len(traffic.requests)
    page.get_by_role("button", name="Save changes").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Turn on quotas for pool tank?")
    expect(dialog).to_contain_text("making a snapshot takes")
    screenshot(page, "quota-cost-1366")
    dialog.get_by_role("button", name="Cancel").click()
    assert [r for r in traffic.since(sent) if "/api/" in r] == []  # nothing was asked

    page.get_by_role("button", name="Save changes").click()
    page.get_by_role("dialog").get_by_role("button", name=TURN_ON).click()
    expect(quota_error(page)).to_contain_text("Quota 97.7 PiB is larger than pool tank")
    assert not next(p for p in api(page, "GET", "/pools") if p["name"] == "tank")["quotas"]
    traffic.failures.clear()

    quota.fill("64M")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_role("dialog").get_by_role("button", name=TURN_ON).click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(page.locator("dd", has_text="64.0 MiB")).to_be_visible()


def test_a_pattern_field_says_its_rule_in_words(page: Page):
    page.goto("/#/shares")
    name = page.locator("form.share-create input[name=name]")
    name.fill("-bad")
    page.get_by_role("button", name="Create share").click()
    rule = ("A share's name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit.")
    assert name.evaluate("(el) => el.validationMessage") == rule
    error = field_error(page, "share-create", "name")
    expect(error).to_have_text(rule)
    width(page, 390)
    assert layout_problems(page) == []
    screenshot(page, "name-rule-390")
    width(page, 1366)
    name.fill("good-name")
    expect(error).to_have_count(0)


def test_an_edit_in_another_form_of_the_page_clears_the_last_note(page: Page):
    share_page(page, "docs-copy")
    page.get_by_label("Snapshot name").fill("second")
    page.get_by_role("button", name="Create snapshot").click()
    expect(page.get_by_text("Snapshot second is made.")).to_be_visible()
    page.locator("form.share-settings input[name=owner]").press_sequentially("x")
    expect(page.get_by_text("is made.")).to_have_count(0)


def test_turning_quotas_on_in_the_pool_settings_says_what_they_cost(page: Page, traffic: Traffic):
    pool = next(p for p in api(page, "GET", "/pools") if p["name"] == "tank")
    api(page, "PATCH", f"/pools/{pool['id']}", {"quotas": False})
    page.goto(f"/#/pools/{pool['id']}")
    switch = page.locator("input[name=quotas]")
    expect(switch).not_to_be_checked()
    switch.check()
    sent = len(traffic.requests)
    page.get_by_role("button", name="Save settings").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Turn on quotas for pool tank?")
    expect(dialog).to_contain_text("making a snapshot takes")
    dialog.get_by_role("button", name="Cancel").click()
    assert [r for r in traffic.since(sent) if "/api/" in r] == []
    assert not next(p for p in api(page, "GET", "/pools") if p["name"] == "tank")["quotas"]

    page.get_by_role("button", name="Save settings").click()
    page.get_by_role("dialog").get_by_role("button", name="Turn on quotas").click()
    expect(page.locator("dt:text-is('Quotas') + dd")).to_have_text("on")
    assert next(p for p in api(page, "GET", "/pools") if p["name"] == "tank")["quotas"]
