"""The Backup screen: the settings backup downloaded as a file, a file that is not a backup
refused at its field, and a restore from a file listing what it applied and what it skipped
(a share whose pool this box lacks), at a phone's width (390 px) and a laptop's (1366 px)."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import api, first_run
from tests.browser.layout import look


def test_download_then_restore_lists_applied_and_skipped(page: Page, box, tmp_path: Path):
    pool = first_run(page, box)
    share = api(page, "POST", "/shares", {"pool": pool["id"], "name": "docs",
                                          "quota": 64 << 20})
    api(page, "POST", "/schedules", {"kind": "config_backup", "target": share["id"],
                                     "cron": "0 4 * * *", "retention": {"last": 5}})
    page.goto("/#/backup")
    page.get_by_role("heading", name="Backup and restore").wait_for()
    look(page, "backup-empty")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download backup").click()
    download = info.value
    assert download.suggested_filename.startswith("rockd-config-"), download.suggested_filename
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    doc = json.loads(saved.read_text())
    assert doc["format"] == "rockd-config" and doc["secrets"] is False
    assert [s["name"] for s in doc["shares"]] == ["docs"]
    expect(page.get_by_role("status")).to_contain_text(f"Saved {saved.name}")

    junk = tmp_path / "notes.json"
    junk.write_text("these are not settings")
    page.get_by_label("Backup file").set_input_files(junk)
    page.get_by_role("button", name="Restore").click()
    expect(page.locator("#rockd-settings-backup-document-error")).to_contain_text(
        "notes.json is not a rockd settings backup")

    # the file, with a share on a pool this box does not have (and without the machine's
    # accounts: other tests' come and go meanwhile, and are not this test's to make again)
    doc = {**doc, "users": [], "groups": []}
    doc["pools"].append({"name": "elsewhere", "uuid": "0" * 32, "compression": None,
                         "mount_options": ""})
    doc["shares"].append({**doc["shares"][0], "id": "1" * 32, "pool": "elsewhere",
                          "name": "archive"})
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    page.get_by_label("Backup file").set_input_files(edited)
    page.get_by_role("button", name="Restore").click()
    skipped = page.locator("rockd-settings-backup ul.skipped li")
    expect(skipped).to_have_count(2)
    expect(skipped.nth(1)).to_contain_text("share elsewhere/archive")
    expect(skipped.nth(1)).to_contain_text("its pool elsewhere is not on this box")
    applied = page.locator("rockd-settings-backup ul.applied")
    expect(applied).to_contain_text("share tank/docs")
    expect(applied).to_contain_text("config_backup schedule of tank/docs")
    expect(page.get_by_role("status")).to_contain_text("2 skipped")
    look(page, "backup-restored")


def test_a_settings_backup_schedule_is_made_from_the_schedules_screen(page: Page):
    page.goto("/#/schedules")
    form = page.locator("rockd-schedule-create form")
    form.get_by_label("Kind").select_option("config_backup")
    expect(form.get_by_label("Share")).to_contain_text("tank / docs")
    form.get_by_label("Keep the last").fill("3")
    look(page, "backup-schedule-form")
    form.get_by_role("button", name="Create schedule").click()
    expect(page.locator("h1", has_text="Settings backups into docs")).to_be_visible()
    facts = page.locator("rockd-schedule-detail dl").first
    expect(facts).to_contain_text("the last 3 backup files")
    expect(facts).to_contain_text("Share")
    made = [s for s in api(page, "GET", "/schedules") if (s["retention"] or {}).get("last") == 3]
    assert [s["kind"] for s in made] == ["config_backup"], made
    page.locator("p.crumbs").get_by_role("link", name="Schedules").click()
    row = page.locator("rockd-schedules tr", has_text="the last 3 backup files")
    expect(row).to_contain_text("docs")
    look(page, "backup-schedules")
