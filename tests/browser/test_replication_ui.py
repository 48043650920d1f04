"""The Replication screen in headless Chromium against two real rockd processes: "This box"
shows addresses a peer can use (never the wildcard it listens on) with copy buttons, pairing
refuses a key that does not answer at its field, and each peer's state (offline and why,
online) changes live as the other box pairs back and is then killed.

The tests share one browser page and run in order; each starts where the previous one ended.
"""

from __future__ import annotations

import re
import signal
import socket
from collections.abc import Iterator

import pytest
import zmq
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Box, Traffic, api, first_run, screenshot, serve_box
from tests.browser.layout import layout_problems
from tests.support.client import PASSWORD, free_port
from tests.support.process import Process, serve_argv, settings_for
from tests.support.rig import clean_under

WIDTHS = (390, 1366)


@pytest.fixture(scope="module")
def box(tmp_path_factory, udevd) -> Iterator[Box]:
    """The box of the page, listening for peers on every interface (0.0.0.0)."""
    yield from serve_box(tmp_path_factory.mktemp("replication-ui"), disks=1,
                         zmq_listen=f"0.0.0.0:{free_port(span=2)}")


@pytest.fixture(scope="module")
def peer(tmp_path_factory) -> Iterator[Process]:
    """A second rockd (no disks), to pair with."""
    root = tmp_path_factory.mktemp("replication-peer")
    settings = settings_for(root)
    process = Process(serve_argv(settings), root / "rockd.log", f"http://{settings.listen}",
                      env={"ROCKD_ADMIN_PASSWORD": PASSWORD})
    try:
        yield process.start()
    finally:
        process.stop()
        clean_under(root)


@pytest.fixture(scope="module")
def peer_api(browser: Browser, peer: Process) -> Iterator[tuple[BrowserContext, dict]]:
    """The peer's API, signed in: (a request context, the CSRF header)."""
    context = browser.new_context(base_url=peer.url)
    try:
        answer = context.request.post("/api/v1/auth/login",
                                      data={"username": "admin", "password": PASSWORD})
        assert answer.ok, answer.text()
        yield context, {"X-CSRF-Token": answer.json()["csrf"]}
    finally:
        context.close()


def peer_row(page: Page):
    return page.locator('tr[data-peer="b"]')


def shots(page: Page, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert layout_problems(page) == [], (width, layout_problems(page))
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_this_box_shows_addresses_a_peer_can_use_and_copies_the_key(page: Page, box: Box):
    first_run(page, box)
    page.goto("/#/replication")
    identity = api(page, "GET", "/replication/identity")
    port = identity["addresses"][0].rsplit(":", 1)[1]
    heading = page.get_by_role("heading", name="This box", exact=True)
    card = page.locator("section.card", has=heading)
    addresses = card.locator("ul.addresses li code")
    expect(addresses.first).to_have_text(f"{socket.gethostname()}:{port}")
    shown = addresses.all_text_contents()
    assert len(shown) >= 2 and not any(a.startswith(("0.0.0.0", "*")) for a in shown), shown
    assert "0.0.0.0" not in card.inner_text()

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = card.get_by_role("button", name="Copy this box's key")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == identity["public_key"]
    card.get_by_role("button", name=f"Copy {shown[-1]}").click()
    assert page.evaluate("navigator.clipboard.readText()") == shown[-1]
    shots(page, "replication-this-box")


def test_a_key_that_does_not_answer_is_refused_at_its_field(page: Page, peer: Process,
                                                             peer_api):
    context, _ = peer_api
    ident = context.request.get("/api/v1/replication/identity").json()
    form = page.locator("form.pair")
    form.get_by_label("Peer name").fill("b")
    form.get_by_label("Address").fill(ident["address"])
    form.get_by_label("Public key").fill(zmq.curve_keypair()[0].decode())
    form.get_by_role("button", name="Pair").click()
    error = form.locator(".field-error")
    expect(error).to_contain_text("not with that public key", timeout=20_000)
    expect(form.get_by_label("Public key")).to_have_attribute("aria-invalid", "true")
    expect(error).to_contain_text("Nothing was saved")
    assert "did not answer" not in error.inner_text()
    expect(peer_row(page)).to_have_count(0)
    shots(page, "replication-wrong-key")


def test_a_peer_state_follows_it_live(page: Page, peer: Process, peer_api, traffic: Traffic):
    context, csrf = peer_api
    ident = context.request.get("/api/v1/replication/identity").json()
    form = page.locator("form.pair")
    form.get_by_label("Public key").fill(ident["public_key"])
    expect(form.locator(".field-error")).to_have_count(0)  # edited: the error is gone
    form.get_by_role("button", name="Pair").click()
    row = peer_row(page)
    expect(row.locator(".peer-state")).to_contain_text("offline", timeout=20_000)
    expect(row.locator(".peer-state")).to_contain_text("does not know this box's key")
    shots(page, "replication-peer-not-paired-there")

    # b pairs this box back: shown online, with no reload
    mine = api(page, "GET", "/replication/identity")
    asked = len(traffic.requests)
    answer = context.request.post("/api/v1/replication/peers", headers=csrf, data={
        "name": "a", "address": f"127.0.0.1:{mine['addresses'][0].rsplit(':', 1)[1]}",
        "public_key": mine["public_key"]})
    assert answer.status == 201, answer.text()
    expect(row.locator(".badge")).to_have_text("online", timeout=15_000)
    assert traffic.since(asked) == [], "the state came from the stream, not from asking"

    # a task that keeps its last 5 snapshots; the same one again is refused in words
    pool = api(page, "GET", "/pools")[0]
    api(page, "POST", "/shares", {"pool": pool["id"], "name": "home"})
    task = page.locator("form.task")
    for _ in range(2):
        task.get_by_label("Snapshots kept here").fill("5")
        task.locator("select").nth(1).select_option("b")
        task.get_by_label("Pool there").fill("tank")
        task.get_by_role("button", name="Create task").click()
    expect(page.locator("p.error")).to_contain_text("already replicates home to b/tank")
    expect(page.locator("tr[data-task] .keeps")).to_have_text(
        "keeps its last 5 snapshots here")
    shots(page, "replication-peer-online")

    # b dies: offline at once, saying why
    asked = len(traffic.requests)
    peer.signal(signal.SIGKILL)
    peer.wait()
    expect(row.locator(".badge")).to_have_text("offline", timeout=5_000)
    expect(row.locator(".peer-state")).to_contain_text("last seen")
    expect(row.locator(".peer-error")).to_have_text(
        re.compile(r"the connection to b was lost|nothing answers at 127\.0\.0\.1:\d+"))
    shots(page, "replication-peer-offline")
    assert traffic.since(asked) == [], "the state came from the stream, not from asking"
