"""A new user's first week with rockd, walked end to end in headless Chromium as one person,
through the UI: first run, a raid1 pool, shares, snapshots, a schedule, a scrub and a balance,
a user (made at a phone's width, through the Menu), SMB and SFTP exports that say nobody can
write until the offered fix is clicked (checked with real smbclient and sftp), the Apps page
with the Docker engine down, and pairing a replication peer. Bad input is tried in the forms
along the way: refused at its field, it changes nothing. Every form reached is checked at
390 px and 1366 px for fields that overlap or run past their card, and saved as
`first-week-<step>-<width>.png` in build/screenshots/.

The tests share one browser page and run in order; each starts where the previous one ended.
"""

from __future__ import annotations

import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import zmq
from playwright.sync_api import Page, expect

from rockd.storage import posix_acl
from tests.browser.conftest import Box, Traffic, api, screenshot, serve_box
from tests.browser.layout import layout_problems
from tests.browser.test_capacity_ui import size
from tests.browser.test_exports_ui import export_nobody_writes
from tests.support.client import PASSWORD, free_port
from tests.support.exporting import make_sftp_dir, remove_sftp_dir
from tests.support.replication import fake_peer
from tests.support.rig import clean_under
from tests.support.samba import Accounts, scratch, smbclient

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None
        for tool in ("smbd", "sshd", "smbclient", "sftp")),
    reason="needs Samba (smbd, smbclient) and OpenSSH (sshd, sftp)")

SIZES = {390: {"width": 390, "height": 844}, 1366: {"width": 1366, "height": 900}}
SECRET = "a long secret for the week"


@pytest.fixture(scope="module")
def ports() -> SimpleNamespace:
    """The box's SMB and SFTP ports on 127.0.0.1."""
    return SimpleNamespace(smb_port=free_port(), sftp_port=free_port())


@pytest.fixture(scope="module")
def box(udevd, ports: SimpleNamespace) -> Iterator[Box]:
    """rockd on three fresh disks, serving Samba and SFTP itself on ports of its own, its
    mounts where other users can reach them (its state folder, 0700, is kept apart), and a
    Docker socket where nothing listens: the engine is down and stays so."""
    root, sftp = scratch(), make_sftp_dir()
    try:
        yield from serve_box(root, disks=3, services="rockd", sftp_dir=sftp,
                             state_dir=root / "daemon", docker_socket=root / "no-docker.sock",
                             **vars(ports))
    finally:
        clean_under(sftp)
        remove_sftp_dir(sftp)
        clean_under(root, remove=True)


@pytest.fixture(scope="module")
def person(tmp_path_factory) -> Iterator[dict]:
    """The account the administrator makes in the UI (its name, and an SSH key pair for
    SFTP), removed at the end whatever happened."""
    folder = tmp_path_factory.mktemp("first-week-person")
    key = folder / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    accounts = Accounts()
    try:
        yield {"name": accounts.user(), "key": key,
               "public": key.with_suffix(".pub").read_text().strip()}
    finally:
        accounts.cleanup()


def mount(box: Box) -> Path:
    return box.root / "state" / "mnt" / "home"


def is_subvolume(path: Path) -> bool:
    return subprocess.run(["btrfs", "subvolume", "show", str(path)],
                          capture_output=True).returncode == 0


def both_widths(page: Page, step: str) -> None:
    """At a phone's width and a laptop's: no field of a visible form overlaps another or runs
    past its card, and a screenshot of each; the page is left at 1366 px."""
    found = {}
    for width, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)
        found[width] = layout_problems(page)
        screenshot(page, f"first-week-{step}-{width}")
    page.set_viewport_size(SIZES[1366])
    assert found == {390: [], 1366: []}, found


def field_error(form):
    return form.locator(".field-error")


def go(page: Page, section: str) -> None:
    """To a section by its link, as a person does (the Menu first on a narrow screen)."""
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible():
        menu.click()
    page.get_by_role("navigation", name="Screens").get_by_role("link", name=section).click()
    expect(page.get_by_role("heading", level=1).first).to_be_visible()


def share_id(page: Page, name: str) -> str:
    return next(s["id"] for s in api(page, "GET", "/shares") if s["name"] == name)


def usage_line(page: Page, pool_id: str) -> None:
    """The pool's usage line reads the tree's figures (as test_capacity_ui writes them); the
    page follows the stream, so it may be a moment behind the API."""
    line = page.locator(".usage-figures").first
    deadline = time.monotonic() + 10
    while True:
        usage = api(page, "GET", f"/pools/{pool_id}")["usage"]
        used, capacity = usage["stored"], usage["capacity"]
        expected = (f"{size(used)} used of {size(capacity)} "
                    f"({used / capacity * 100:.0f} %) · {size(usage['free_estimate'])} free")
        shown = " ".join(line.inner_text().split())
        if shown == expected:
            return
        assert time.monotonic() < deadline, (shown, expected)
        page.wait_for_timeout(200)


# -- day one: the administrator, a pool, shares and a snapshot ----------------------------------

def test_first_run_makes_the_administrator(page: Page, box: Box):
    page.set_viewport_size(SIZES[1366])
    page.goto("/")
    expect(page.get_by_role("heading", name="Create the administrator")).to_be_visible()
    page.get_by_label("User name").fill("admin")
    password = page.get_by_label("Password")
    password.fill("short")
    page.get_by_role("button", name="Set up").click()
    expect(field_error(page.locator("form"))).to_have_text(
        "A password is at least 8 characters.")  # the rule in words, at its field
    expect(password).to_have_attribute("aria-invalid", "true")
    both_widths(page, "setup")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Set up").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_raid1_pool_of_two_disks(page: Page, box: Box):
    go(page, "Pools")
    page.get_by_role("link", name="Create pool").click()
    form = page.locator("form.pool-create")
    for device in box.devices[:2]:
        form.locator("label", has_text=device).get_by_role("checkbox").check()
    expect(form.get_by_label("Data profile")).to_have_value("raid1")
    expect(form.locator(".pool-capacity-preview dd strong")).to_be_visible()
    form.get_by_label("Name", exact=True).fill("my pool")  # a space: refused at the field
    form.get_by_role("button", name="Create pool").click()
    expect(field_error(form)).to_contain_text("A pool's name is 1 to 64 letters")
    both_widths(page, "new-pool")
    assert api(page, "GET", "/pools") == []

    form.get_by_label("Name", exact=True).fill("home")
    expect(field_error(form)).to_have_count(0)
    form.get_by_role("button", name="Create pool").click()
    expect(page.get_by_role("heading", name="home", exact=True)).to_be_visible()
    (pool,) = api(page, "GET", "/pools")
    assert mount(box).is_mount()
    assert Path(f"/sys/fs/btrfs/{pool['id']}/allocation/data/raid1").exists()
    assert len(list(Path(f"/sys/fs/btrfs/{pool['id']}/devices").iterdir())) == 2
    usage_line(page, pool["id"])
    both_widths(page, "pool")  # its scrub, balance, disks and settings forms
    go(page, "Dashboard")
    usage_line(page, pool["id"])


def test_two_shares_after_a_refused_name(page: Page, box: Box):
    go(page, "Shares")
    form = page.locator("form.share-create")
    form.get_by_label("Name", exact=True).fill("family photos")
    form.get_by_role("button", name="Create share").click()
    expect(field_error(form)).to_contain_text("A share's name is 1 to 64 letters")
    both_widths(page, "new-share")
    assert api(page, "GET", "/shares") == []

    for name in ("drop", "photos"):  # the page of the new share opens: back to the list
        form.get_by_label("Name", exact=True).fill(name)
        form.get_by_role("button", name="Create share").click()
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        assert is_subvolume(mount(box) / name)
        if name == "drop":
            go(page, "Shares")
    (mount(box) / "photos" / "beach.jpg").write_bytes(b"waves" * 1000)


def test_a_bad_snapshot_name_is_refused_at_its_field(page: Page):
    snapshots = page.locator("form.snapshot-create")
    snapshots.get_by_label("Snapshot name").fill("day one")
    snapshots.get_by_role("button", name="Create snapshot").click()
    expect(field_error(snapshots)).to_contain_text("A snapshot's name is")
    expect(snapshots.get_by_label("Snapshot name")).to_have_attribute("aria-invalid", "true")
    both_widths(page, "share-refused")
    assert api(page, "GET", "/state?path=/snapshots")["value"] in ({}, None)


def test_the_bad_snapshot_name_is_said_once(page: Page):
    expect(page.locator("main .field-error")).to_have_count(1)
    expect(page.locator("main [aria-invalid=true]")).to_have_count(1)


def test_a_snapshot_of_the_share(page: Page, box: Box):
    snapshots = page.locator("form.snapshot-create")
    snapshots.get_by_label("Snapshot name").fill("day-one")
    snapshots.get_by_role("button", name="Create snapshot").click()
    expect(page.locator("tr[data-snapshot]", has_text="day-one")).to_be_visible()
    both_widths(page, "share")
    taken = mount(box) / ".snapshots" / "photos" / "day-one"
    assert is_subvolume(taken) and (taken / "beach.jpg").read_bytes() == b"waves" * 1000

    go(page, "Shares")  # the count shown is the tree's
    photos = share_id(page, "photos")
    every = api(page, "GET", "/state?path=/snapshots")["value"].values()
    expect(page.locator(f'tr[data-share="{photos}"] td[data-label="Snapshots"]')).to_have_text(
        str(sum(s["share"] == photos for s in every)))


# -- day two: a schedule, a scrub and a balance -------------------------------------------------

def test_a_daily_snapshot_schedule_keeping_the_last_seven(page: Page):
    go(page, "Schedules")
    form = page.locator("rockd-schedule-create form")
    form.get_by_label("Share").select_option(label="home / photos")
    picker = form.locator("rockd-cron-picker")
    picker.get_by_label("Repeat").select_option("custom")
    picker.get_by_label("Cron expression").fill("0 0 31 2 *")  # never fires
    form.get_by_role("button", name="Create schedule").click()
    expect(field_error(form)).to_contain_text("never fires")
    both_widths(page, "new-schedule")
    assert api(page, "GET", "/schedules") == []

    picker.get_by_label("Repeat").select_option("daily")
    picker.get_by_label("Time").fill("02:30")
    expect(picker.locator(".cron-words")).to_have_text("At 02:30 (UTC)")
    form.get_by_label("Last").fill("7")
    form.get_by_role("button", name="Create schedule").click()
    expect(page.locator("h1", has_text="Snapshots of photos")).to_be_visible()
    facts = page.locator("rockd-schedule-detail dl").first
    expect(facts).to_contain_text("At 02:30 (UTC)")
    expect(facts).to_contain_text("the last 7")
    (schedule,) = api(page, "GET", "/schedules")
    assert schedule["cron"] == "30 2 * * *" and schedule["retention"]["last"] == 7
    assert schedule["target"] == share_id(page, "photos") and schedule["next_run"]
    both_widths(page, "schedule")


def test_a_scrub_then_a_balance_refused_then_asked_then_done(page: Page):
    go(page, "Pools")
    page.get_by_role("link", name="home", exact=True).click()
    (pool,) = api(page, "GET", "/pools")
    jobs = page.locator("section[aria-labelledby=pool-jobs]")
    page.get_by_role("button", name="Scrub").click()
    scrub = jobs.locator(".job", has_text="Scrub home")
    expect(scrub).to_have_attribute("data-state", "succeeded", timeout=60_000)

    balance = page.locator("form", has=page.get_by_label("Filters"))
    balance.get_by_label("Filters").fill("-dusage=500")
    balance.get_by_role("button", name="Balance").click()
    expect(field_error(balance)).to_contain_text("usage is at most 100")
    both_widths(page, "balance-refused")
    kinds = [job["kind"] for job in api(page, "GET", "/state?path=/jobs")["value"].values()]
    assert kinds == ["scrub"]

    balance.get_by_label("Filters").fill("")
    balance.get_by_role("button", name="Balance").click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_contain_text("rewrites every chunk")
    both_widths(page, "balance-confirm")
    dialog.get_by_role("button", name="Balance everything").click()
    done = jobs.locator(".job", has_text="Balance all of home")
    expect(done).to_have_attribute("data-state", "succeeded", timeout=60_000)
    ended = [job for job in api(page, "GET", "/state?path=/jobs")["value"].values()
             if job["kind"] == "balance"]
    assert [(job["target"], job["state"]) for job in ended] == [(pool["id"], "succeeded")]


# -- day three: a user, made on the phone -------------------------------------------------------

def test_a_user_made_on_a_phone(page: Page, person: dict):
    page.set_viewport_size(SIZES[390])
    page.goto("/#/dashboard")
    go(page, "Users")
    expect(page.get_by_role("button", name="Menu")).to_contain_text("Users")
    form = page.locator("form.user-create")
    form.get_by_label("User name").fill(person["name"])
    form.get_by_label("Password").fill("short")
    form.get_by_role("button", name="Create user").click()
    expect(field_error(form)).to_have_text("A password is at least 8 characters.")
    with pytest.raises(KeyError):
        pwd.getpwnam(person["name"])
    both_widths(page, "new-user")

    page.set_viewport_size(SIZES[390])
    form.get_by_label("Password").fill(SECRET)
    form.get_by_label("SSH public keys").fill(person["public"])
    form.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name=person["name"], exact=True)).to_be_visible()
    assert pwd.getpwnam(person["name"]).pw_shell == "/usr/sbin/nologin"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    both_widths(page, "user")


# -- day four: SMB and SFTP exports that nobody can write to, until the fix ---------------------

def smb(ports: SimpleNamespace, user: str, command: str) -> str:
    """smbclient's words for `command` on share photos, as `user` (retried while smbd starts)."""
    deadline = time.monotonic() + 15
    while True:
        done = smbclient(ports, "photos", user, SECRET, command)
        said = done.stdout + done.stderr
        if "NT_STATUS_CONNECTION_REFUSED" not in said or time.monotonic() > deadline:
            return said
        time.sleep(0.2)


def sftp(ports: SimpleNamespace, user: dict, commands: str) -> subprocess.CompletedProcess:
    """OpenSSH's sftp as the person, by key, running `commands` (retried while sshd starts)."""
    argv = ["sftp", "-F", "/dev/null", "-P", str(ports.sftp_port), "-i", str(user["key"]),
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
            "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-b", "-",
            f"{user['name']}@127.0.0.1"]
    deadline = time.monotonic() + 15
    while True:
        done = subprocess.run(argv, input=commands, capture_output=True, text=True, timeout=60)
        if "Connection refused" not in done.stderr or time.monotonic() > deadline:
            return done
        time.sleep(0.2)


def test_an_smb_export_says_nobody_can_write_and_its_fix_lets_them(
        page: Page, box: Box, ports: SimpleNamespace, person: dict, tmp_path):
    name = person["name"]
    go(page, "Exports")
    section = page.locator('section[data-kind="smb"]')
    form = section.locator("form.new-smb")
    form.locator("select[name=share]").select_option(label="photos (home)")
    form.get_by_label("Valid users").fill("nobody-by-that-name")
    form.get_by_role("button", name="Export over SMB").click()
    expect(field_error(form)).to_have_text("There is no user nobody-by-that-name")
    both_widths(page, "smb-refused")
    assert api(page, "GET", "/exports/smb") == []

    row, warning = export_nobody_writes(section, "photos", "home", name)
    both_widths(page, "smb-nobody-writes")
    page.set_viewport_size(SIZES[390])  # the warning takes the card's width, not a column's
    assert warning.bounding_box()["width"] >= 0.8 * row.bounding_box()["width"]
    page.set_viewport_size(SIZES[1366])
    note = tmp_path / "note.txt"
    note.write_text("written over SMB\n")
    assert "NT_STATUS_ACCESS_DENIED" in smb(ports, name, f"put {note} note.txt")
    assert not (mount(box) / "photos" / "note.txt").exists()

    warning.locator(f'[data-user="{name}"]').get_by_role("button",
                                                        name="Add an ACL entry").click()
    expect(row).to_contain_text(f"writable by {name}")
    expect(row.locator(".writers")).to_have_count(0)
    uid = pwd.getpwnam(name).pw_uid
    acl = posix_acl.read_acl(str(mount(box) / "photos")) or []
    assert posix_acl.Entry(posix_acl.USER, 7, uid) in acl
    said = smb(ports, name, f"put {note} note.txt")
    assert "NT_STATUS" not in said, said
    written = mount(box) / "photos" / "note.txt"
    assert written.read_text() == "written over SMB\n" and written.stat().st_uid == uid


def test_an_sftp_export_says_nobody_can_write_and_its_fix_lets_them(
        page: Page, box: Box, ports: SimpleNamespace, person: dict, tmp_path):
    name = person["name"]
    section = page.locator('section[data-kind="sftp"]')
    form = section.locator("form.new-sftp")
    form.locator("select[name=share]").select_option(label="drop (home)")
    form.get_by_label(name).check()
    form.get_by_role("button", name="Export over SFTP").click()
    row = section.locator("tr[data-export]", has_text="drop")
    expect(row).to_contain_text("no one can write")
    both_widths(page, "sftp-nobody-writes")
    upload = tmp_path / "upload.txt"
    upload.write_text("written over SFTP\n")
    refused = sftp(ports, person, f"put {upload} /drop/upload.txt\n")
    assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused.stderr

    row.locator(f'[data-user="{name}"]').get_by_role("button", name="Make owner").click()
    expect(row).to_contain_text(f"writable by {name}")
    expect(page.get_by_role("status").filter(has_text="can now write")).to_be_visible()
    done = sftp(ports, person, f"put {upload} /drop/upload.txt\n")
    assert done.returncode == 0, done.stderr
    landed = mount(box) / "drop" / "upload.txt"
    assert landed.read_text() == "written over SFTP\n"
    assert pwd.getpwuid(landed.stat().st_uid).pw_name == name


# -- day five: apps, and a replication peer -----------------------------------------------------

def test_the_apps_page_says_the_engine_is_down_with_a_start_button(page: Page):
    go(page, "Apps")
    # seen, never pressed: this box's engine would be the machine's own dockerd
    engine = page.locator(".engine-state")
    expect(engine).to_contain_text("The Docker engine is not running.")
    expect(engine.get_by_role("button", name="Start the Docker engine")).to_be_enabled()
    card = page.locator("[data-catalog-app]", has_text="Static web site")
    card.get_by_role("button", name="Install…").click()
    needed = card.locator(".engine-needed")
    expect(needed).to_contain_text("The Docker engine is not running.")
    expect(needed.get_by_role("button", name="Start the Docker engine")).to_be_enabled()
    expect(card.get_by_role("button", name="Install Static web site")).to_be_disabled()
    both_widths(page, "apps-install")
    card.get_by_role("button", name="Cancel").click()
    assert api(page, "GET", "/state?path=/services/docker")["value"]["active"] != "active"


def test_an_address_that_does_not_read_is_refused_at_its_field(page: Page):
    go(page, "Replication")
    form = page.locator("form.pair")
    form.get_by_label("Peer name").fill("offsite")
    form.get_by_label("Address").fill("nowhere")
    form.get_by_label("Public key").fill(zmq.curve_keypair()[0].decode())
    form.get_by_role("button", name="Pair").click()
    expect(page.locator("rockd-replication [role=alert]").first).to_contain_text("nowhere")
    screenshot(page, "first-week-pair-bad-address-1366")
    assert api(page, "GET", "/state?path=/replication/peers")["value"] in ({}, None)
    expect(form.get_by_label("Address")).to_have_attribute("aria-invalid", "true")


def test_pairing_a_peer_and_a_task_keeping_five(page: Page):
    go(page, "Replication")
    form = page.locator("form.pair")
    with fake_peer() as other:  # pairing makes a test connection: one that answers
        form.get_by_label("Peer name").fill("offsite")
        form.get_by_label("Address").fill(other["address"])
        form.get_by_label("Public key").fill(zmq.curve_keypair()[0].decode())  # not its key
        form.get_by_role("button", name="Pair").click()
        expect(field_error(form)).to_contain_text("not with that public key", timeout=20_000)
        expect(form.get_by_label("Public key")).to_have_attribute("aria-invalid", "true")
        both_widths(page, "pair-refused")
        assert api(page, "GET", "/state?path=/replication/peers")["value"] in ({}, None)

        form.get_by_label("Public key").fill(other["public_key"])
        form.get_by_role("button", name="Pair").click()
        row = page.locator('tr[data-peer="offsite"]')
        expect(row).to_contain_text(other["public_key"], timeout=20_000)
    task = page.locator("form.task")
    task.locator("select[name=share]").select_option(label="photos (home)")
    task.get_by_label("Snapshots kept here").fill("5")
    task.get_by_label("Peer").select_option("offsite")
    task.get_by_label("Pool there").fill("tank")
    task.get_by_label("Run on a schedule").check()
    picker = task.locator("rockd-cron-picker")
    picker.get_by_label("Repeat").select_option("weekly")
    picker.get_by_label("Weekday").select_option("Sunday")
    picker.get_by_label("Time").fill("04:15")
    expect(picker.locator(".cron-words")).to_have_text("At 04:15, only on Sunday (UTC)")
    both_widths(page, "replication")
    task.get_by_role("button", name="Create task").click()
    row = page.locator("tr[data-task]")
    expect(row.locator(".keeps")).to_have_text("keeps its last 5 snapshots here")
    expect(row.locator(".cron-words")).to_have_text("At 04:15, only on Sunday (UTC)")
    (made,) = api(page, "GET", "/state?path=/replication/tasks")["value"].values()
    assert made["keep_last"] == 5 and made["share"] == share_id(page, "photos"), made
    assert made["cron"] == "15 4 * * 0" and made["next_run"], made


def test_the_week_logged_no_script_error(traffic: Traffic):
    assert traffic.errors == [], "\n".join(traffic.errors)
