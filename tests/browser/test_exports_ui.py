"""The Exports screen in headless Chromium against a real rockd on loop devices: one person
exporting several shares in a row without a reload, and the page saying who can really write
to an export, with the fix it offers applied through the API.

The tests share one browser page and run in order; each starts where the previous one ended.
"""

from __future__ import annotations

import pwd
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from rockd.storage import posix_acl
from tests.browser.conftest import Box, api, first_run, screenshot
from tests.browser.layout import layout_problems
from tests.support.exporting import users


def mount(box: Box) -> Path:
    return box.root / "state" / "mnt" / "tank"


def smb_conf(box: Box) -> str:
    return (box.root / "samba" / "smb.conf").read_text()


def section_of(conf: str, name: str) -> str:
    """The lines of one [share] section of smb.conf."""
    return conf.split(f"[{name}]", 1)[1].split("\n[", 1)[0]


def test_set_up_an_administrator_a_pool_and_three_shares(page: Page, box: Box):
    pool = first_run(page, box)
    assert pool["name"] == "tank"
    for name in ("alpha", "beta", "gamma"):
        api(page, "POST", "/shares", {"pool": pool["id"], "name": name})
    page.goto("/#/exports")
    smb = page.locator('section[data-kind="smb"]')
    expect(smb.locator("select[name=share] option")).to_have_count(3)


def test_the_smb_form_keeps_its_defaults_after_an_export(page: Page, box: Box):
    """Two exports in a row from the same form: the second gets the same defaults as the
    first (browseable, previous versions), not the unticked boxes a form reset leaves."""
    smb = page.locator('section[data-kind="smb"]')
    for name in ("alpha", "beta"):
        smb.locator("select[name=share]").select_option(label=f"{name} (tank)")
        expect(smb.get_by_label("Browseable")).to_be_checked()
        expect(smb.get_by_label("Snapshots as previous versions")).to_be_checked()
        expect(smb.get_by_label("Read-only")).not_to_be_checked()
        smb.get_by_role("button", name="Export over SMB").click()
        expect(smb.locator("tr[data-export]", has_text=name)).to_contain_text(
            "previous versions")
        section = section_of(smb_conf(box), name)
        assert "browseable = yes" in section and "shadow_copy2" in section
    screenshot(page, "exports-two-smb")


def test_an_unknown_valid_user_is_said_at_its_field_and_goes_once_it_is_edited(page: Page):
    smb = page.locator('section[data-kind="smb"]')
    smb.locator("select[name=share]").select_option(label="gamma (tank)")
    smb.get_by_label("Valid users").fill("rt-nobody-here")
    smb.get_by_role("button", name="Export over SMB").click()
    error = smb.locator("form.new-smb .field-error")
    expect(error).to_have_text("There is no user rt-nobody-here")
    expect(smb.get_by_label("Valid users")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("rockd-exports > p.error")).to_have_count(0)  # not at the top too
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"exports-field-error-{width}")
        assert layout_problems(page) == []
    page.set_viewport_size({"width": 1280, "height": 900})
    smb.get_by_label("Valid users").fill("")
    expect(error).to_have_count(0)


def export_nobody_writes(smb: Locator, share: str, pool: str, user: str) -> tuple[Locator,
                                                                                  Locator]:
    """Export `share` over SMB to `user` from the Exports page's SMB section (`smb`): its row,
    and the warning it shows, checked to say that `user` cannot write."""
    smb.locator("select[name=share]").select_option(label=f"{share} ({pool})")
    smb.get_by_label("Valid users").fill(user)
    smb.get_by_role("button", name="Export over SMB").click()
    row = smb.locator("tr[data-export]", has_text=share)
    expect(row).to_contain_text("no one can write")
    warning = row.locator(".writers")
    expect(warning).to_contain_text(f"{user} signs in but cannot write to {share}")
    return row, warning


def test_an_export_no_one_can_write_to_says_so_and_offers_the_fix(page: Page, box: Box):
    """gamma is root's (0755): an SMB export of it to a user warns that they cannot write,
    and "Add an ACL entry" lets them (a real ACL entry on the share's folder)."""
    with users(1, "a long secret") as (name,):
        page.reload()  # the new account, in the page's tree
        smb = page.locator('section[data-kind="smb"]')
        row, warning = export_nobody_writes(smb, "gamma", "tank", name)
        expect(warning).to_contain_text("root:root")
        for width in (1366, 390):
            page.set_viewport_size({"width": width, "height": 900})
            screenshot(page, f"exports-writers-{width}")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            assert layout_problems(page) == []
        page.set_viewport_size({"width": 1280, "height": 900})

        warning.locator(f'[data-user="{name}"]').get_by_role(
            "button", name="Add an ACL entry").click()
        expect(row).to_contain_text(f"writable by {name}")
        expect(row.locator(".writers")).to_have_count(0)
        expect(page.get_by_role("status").filter(has_text="can now write")).to_be_visible()
        folder = str(mount(box) / "gamma")
        uid = pwd.getpwnam(name).pw_uid
        assert posix_acl.Entry(posix_acl.USER, 7, uid) in (posix_acl.read_acl(folder) or [])
        screenshot(page, "exports-writers-fixed")
        smb.locator("tr[data-export]", has_text="gamma").get_by_role(
            "button", name="Stop exporting").click()
        page.get_by_role("dialog").get_by_role("button", name="Stop exporting").click()
        expect(smb.locator("tr[data-export]", has_text="gamma")).to_have_count(0)
