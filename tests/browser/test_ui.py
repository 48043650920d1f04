"""The web UI in headless Chromium against a real rockd on loop devices, as one person's
session: first run, login, tokens, a raid1 pool, a share and its snapshots, a scrub, a
snapshot made by hand, and an idle page that keeps current by the stream alone.

The tests share one browser page and run in order; each starts where the previous one ended.
"""

from __future__ import annotations

import json
import pwd
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Box, Traffic, screenshot
from tests.support.client import PASSWORD
from tests.support.host import throttle_scrub, write_pattern
from tests.support.replication import fake_peer


def http(box: Box, method: str, path: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(box.url + path, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            return response.status, json.loads(body) if body else {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def rev(page: Page) -> int:
    return int(page.locator("main#main").get_attribute("data-rev"))


def test_first_run_makes_the_administrator_then_logout_and_login(page: Page, box: Box,
                                                                  traffic: Traffic):
    page.goto("/")
    expect(page.get_by_role("heading", name="Create the administrator")).to_be_visible()
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Set up").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong user name or password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # a reload keeps the session: the page itself carries who is signed in
    page.reload()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert traffic.errors == []
    assert [f.rsplit("/", 1)[1] for f in traffic.failures] == ["login"]  # the wrong password
    traffic.failures.clear()


def test_api_token_is_shown_once_works_and_is_revoked(page: Page, box: Box):
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name", exact=True).fill("backup-script")
    page.get_by_label("Access").select_option("read")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator(".secret").inner_text().strip()
    assert http(box, "GET", "/api/v1/pools", token=secret)[0] == 200
    assert http(box, "POST", "/api/v1/pools/capacity", token=secret)[0] == 403

    row = page.locator("tr", has_text="backup-script")
    row.get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(row).to_have_count(0)
    assert http(box, "GET", "/api/v1/pools", token=secret)[0] == 401


def current_id(page: Page) -> str:
    """The object id in the page's address (#/pools/{id})."""
    return page.url.rsplit("/", 1)[1]


def test_a_raid1_pool_from_two_disks_appears_with_its_usage(page: Page, box: Box):
    page.get_by_role("navigation").get_by_role("link", name="Pools").click()
    page.get_by_role("link", name="Create pool").click()
    page.get_by_label("Name", exact=True).fill("mirror")
    for device in box.devices[:2]:
        page.locator("label", has_text=device).get_by_role("checkbox").check()
    page.get_by_label("Data profile").select_option("raid1")
    page.get_by_role("button", name="Create pool").click()
    expect(page.get_by_role("heading", name="mirror", exact=True)).to_be_visible()
    pool_id = current_id(page)
    # real btrfs: raid1 data chunks on two devices, mounted where rockd said
    assert (box.root / "state" / "mnt" / "mirror").is_mount()
    assert Path(f"/sys/fs/btrfs/{pool_id}/allocation/data/raid1").exists()
    assert len(list(Path(f"/sys/fs/btrfs/{pool_id}/devices").iterdir())) == 2
    expect(page.locator("rockd-pools")).to_contain_text("used")
    page.get_by_role("navigation").get_by_role("link", name="Dashboard").click()
    expect(page.locator(f'[data-pool="{pool_id}"]')).to_contain_text("healthy")
    expect(page.locator(f'[data-pool="{pool_id}"] meter')).to_be_visible()


def mount(box: Box) -> Path:
    return box.root / "state" / "mnt" / "mirror"


def is_subvolume(path: Path) -> bool:
    return subprocess.run(["btrfs", "subvolume", "show", str(path)],
                          capture_output=True).returncode == 0


def test_a_share_and_its_snapshot_made_from_the_page(page: Page, box: Box):
    page.get_by_role("navigation").get_by_role("link", name="Shares").click()
    page.get_by_label("Name", exact=True).fill("photos")
    page.get_by_role("button", name="Create share").click()
    expect(page.get_by_role("heading", name="photos", exact=True)).to_be_visible()
    assert is_subvolume(mount(box) / "photos")
    (mount(box) / "photos" / "beach.jpg").write_bytes(b"waves" * 1000)

    page.get_by_label("Snapshot name").fill("before-trip")
    page.get_by_role("button", name="Create snapshot").click()
    expect(page.locator("tr[data-snapshot]", has_text="before-trip")).to_be_visible()
    snapshot = mount(box) / ".snapshots" / "photos" / "before-trip"
    assert is_subvolume(snapshot)
    assert (snapshot / "beach.jpg").read_bytes() == b"waves" * 1000


def test_a_snapshot_made_by_hand_appears_without_a_reload(page: Page, box: Box,
                                                          traffic: Traffic):
    asked = len(traffic.requests)
    subprocess.run(["btrfs", "-q", "subvolume", "snapshot", "-r", str(mount(box) / "photos"),
                    str(mount(box) / ".snapshots" / "photos" / "by-hand")], check=True)
    start = time.monotonic()
    expect(page.locator("tr[data-snapshot]", has_text="by-hand")).to_be_visible(timeout=2000)
    assert time.monotonic() - start < 2
    assert traffic.since(asked) == []  # the stream brought it: no request, no reload


def test_a_scrub_started_from_the_page_shows_progress_to_done(page: Page, box: Box):
    page.get_by_role("navigation").get_by_role("link", name="Pools").click()
    page.get_by_role("link", name="mirror").click()
    pool_id = current_id(page)
    write_pattern(mount(box) / "data", 192)
    throttle_scrub(pool_id, 48 << 20)  # some seconds per device: the bar has time to move
    page.get_by_role("button", name="Scrub").click()
    row = page.locator(".job", has=page.locator('progress[aria-label^="Scrub"]')).first
    bar = row.locator("progress")
    seen = []
    deadline = time.monotonic() + 90
    while row.get_attribute("data-state") != "succeeded":
        assert time.monotonic() < deadline, seen
        value = bar.get_attribute("value")
        if value is not None and (not seen or seen[-1] != value):
            seen.append(value)
        page.wait_for_timeout(100)
    expect(bar).to_have_attribute("value", "1")
    expect(row).to_contain_text("succeeded")
    moving = [float(v) for v in seen if 0 < float(v) < 1]
    assert len(set(moving)) >= 2, seen  # the bar moved before it ended



def test_an_api_error_is_shown_in_its_own_words(page: Page, box: Box, traffic: Traffic):
    page.get_by_role("navigation").get_by_role("link", name="Shares").click()
    expect(page.get_by_role("heading", name="Shares", exact=True)).to_be_visible()
    name = page.get_by_label("Name", exact=True)
    name.fill("photos")
    expect(name).to_have_value("photos")
    page.get_by_role("button", name="Create share").click()
    expect(page.get_by_role("alert")).to_contain_text("photos exists")
    assert traffic.failures == [f"409 POST {box.url}/api/v1/shares"]
    traffic.failures.clear()


def test_deleting_a_share_asks_for_its_name_typed(page: Page, box: Box):
    page.get_by_label("Name", exact=True).fill("scratch")
    page.get_by_role("button", name="Create share").click()
    expect(page.get_by_role("heading", name="scratch", exact=True)).to_be_visible()
    assert is_subvolume(mount(box) / "scratch")
    page.get_by_role("button", name="Delete share").click()
    dialog = page.get_by_role("dialog")
    confirm = dialog.get_by_role("button", name="Delete")
    expect(confirm).to_be_disabled()
    dialog.get_by_role("textbox").fill("scratc")
    expect(confirm).to_be_disabled()
    dialog.get_by_role("button", name="Cancel").click()
    assert is_subvolume(mount(box) / "scratch")  # cancelled: nothing happened

    page.get_by_role("button", name="Delete share").click()
    dialog.get_by_role("textbox").fill("scratch")
    confirm.click()
    expect(page.get_by_role("heading", name="scratch", exact=True)).to_have_count(0)
    assert not (mount(box) / "scratch").exists()


def test_the_screens_fit_a_phone_and_work_from_the_keyboard(page: Page, box: Box):
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        for screen in ("dashboard", "disks", "pools", "shares", "jobs", "schedules", "users",
                       "exports", "services", "replication", "tokens"):
            page.goto(f"/#/{screen}")
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{screen} is {width} px wide on a 390 px screen"
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    # keyboard alone: Tab to the Pools link, Enter, and the pool's link from there
    page.goto("/#/dashboard")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Pools":
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Pools", exact=True)).to_be_visible()


def test_a_restart_shows_reconnecting_then_carries_on(page: Page, box: Box, traffic: Traffic):
    page.get_by_role("navigation").get_by_role("link", name="Shares").click()
    page.get_by_role("link", name="photos").click()
    box.process.stop()
    expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    box.process.start()
    expect(page.get_by_text("Reconnecting")).to_have_count(0, timeout=30_000)
    # the browser logs each refused reconnection while rockd was down; those were expected
    traffic.errors[:] = [e for e in traffic.errors if "ERR_CONNECTION_REFUSED" not in e]
    subprocess.run(["btrfs", "-q", "subvolume", "snapshot", "-r", str(mount(box) / "photos"),
                    str(mount(box) / ".snapshots" / "photos" / "after-restart")], check=True)
    expect(page.locator("tr[data-snapshot]", has_text="after-restart")).to_be_visible()


def test_a_user_and_a_samba_export_made_from_the_page(page: Page, box: Box):
    name = f"rt-{secrets.token_hex(3)}"
    try:
        page.get_by_role("navigation").get_by_role("link", name="Users").click()
        page.get_by_label("User name").fill(name)
        page.get_by_label("Password").fill("a long secret")
        page.get_by_role("button", name="Create user").click()
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        assert pwd.getpwnam(name).pw_shell == "/usr/sbin/nologin"

        page.get_by_role("navigation").get_by_role("link", name="Exports").click()
        smb = page.locator('section[data-kind="smb"]')
        smb.locator("select[name=share]").select_option(label="photos (mirror)")
        smb.get_by_label("Valid users").fill(name)
        smb.get_by_role("button", name="Export over SMB").click()
        expect(smb.locator("tr[data-export]", has_text="photos")).to_be_visible()
        conf = (box.root / "samba" / "smb.conf").read_text()
        assert "[photos]" in conf and f"valid users = {name}" in conf

        page.get_by_role("navigation").get_by_role("link", name="Services").click()
        expect(page.locator('tr[data-service="smbd"]')).to_have_attribute("data-active",
                                                                          "active")
        smb_pid = int(page.locator('tr[data-service="smbd"] td.num').inner_text())
        assert Path(f"/proc/{smb_pid}").exists()

        page.get_by_role("navigation").get_by_role("link", name="Exports").click()
        smb.locator("tr[data-export]", has_text="photos").get_by_role(
            "button", name="Stop exporting").click()
        page.get_by_role("dialog").get_by_role("button", name="Stop exporting").click()
        expect(smb.locator("tr[data-export]")).to_have_count(0)
        assert "[photos]" not in (box.root / "samba" / "smb.conf").read_text()

        page.goto(f"/#/users/{name}")
        page.get_by_role("button", name="Delete user").click()
        page.get_by_role("dialog").get_by_role("textbox").fill(name)
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        expect(page.get_by_role("heading", name="Users")).to_be_visible()
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
        subprocess.run(["groupdel", name], capture_output=True, check=False)


def test_pairing_a_replication_peer_from_the_page(page: Page, box: Box):
    page.get_by_role("navigation").get_by_role("link", name="Replication").click()
    own = page.locator("dd code.secret").inner_text().strip()
    assert len(own) == 40  # this box's CurveZMQ public key, for the peer to pair with
    with fake_peer() as other:  # pairing makes a test connection: one that answers
        page.get_by_label("Peer name").fill("offsite")
        page.get_by_label("Address").fill(other["address"])
        page.get_by_label("Public key").fill(other["public_key"])
        page.get_by_role("button", name="Pair").click()
        row = page.locator('tr[data-peer="offsite"]')
        expect(row).to_contain_text(other["public_key"])
    row.get_by_role("button", name="Unpair").click()
    page.get_by_role("dialog").get_by_role("button", name="Unpair").click()
    expect(row).to_have_count(0)

def test_an_idle_page_makes_no_requests_and_stays_current(page: Page, box: Box,
                                                          traffic: Traffic):
    page.get_by_role("navigation").get_by_role("link", name="Dashboard").click()
    expect(page.locator("rockd-chart").first).to_be_visible()
    page.wait_for_timeout(1000)  # the charts' one request for the last hour
    asked, before = len(traffic.requests), rev(page)
    page.wait_for_timeout(10_000)
    assert traffic.since(asked) == []
    assert rev(page) > before  # the stream kept it moving: live metrics arrived


def test_screenshots_of_the_dashboard_and_a_pool(page: Page, box: Box, traffic: Traffic):
    page.wait_for_timeout(500)
    shots = [screenshot(page, "dashboard")]
    page.get_by_role("navigation").get_by_role("link", name="Pools").click()
    page.get_by_role("link", name="mirror").click()
    expect(page.get_by_role("heading", name="mirror", exact=True)).to_be_visible()
    shots.append(screenshot(page, "pool"))
    page.set_viewport_size({"width": 390, "height": 844})
    shots.append(screenshot(page, "pool-phone"))
    page.set_viewport_size({"width": 1280, "height": 900})
    for shot in shots:
        assert shot.stat().st_size > 10_000
    assert traffic.errors == [], "\n".join(traffic.errors)
    assert traffic.failures == []
