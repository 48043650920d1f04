"""The HTTPS certificate card (on the Services screen) of a rockd serving its self-signed
certificate: what it shows, an upload refused at the field in words, an upload served, at a
phone's width (390 px) and a laptop's (1366 px)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Box, screenshot
from tests.browser.layout import layout_problems
from tests.support.certs import Authority
from tests.support.client import PASSWORD
from tests.support.process import Process, serve_argv, settings_for
from tests.support.rig import clean_under

WIDTHS = (390, 1366)


@pytest.fixture(scope="module")
def box(tmp_path_factory) -> Iterator[Box]:
    """rockd over HTTPS with its self-signed certificate, no disks, no user yet."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = tmp_path_factory.mktemp("tls-ui")
    config = settings_for(root, tls="self-signed")
    process = Process(serve_argv(config), root / "rockd.log", f"https://{config.listen}",
                      env={"ROCKD_ADMIN_PASSWORD": ""})
    try:
        process.start()
        yield Box(process, [], root)
    finally:
        process.stop()
        clean_under(root)


@pytest.fixture(scope="module")
def page(browser: Browser, box: Box) -> Iterator[Page]:
    context = browser.new_context(base_url=box.url, ignore_https_errors=True,
                                  viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def card(page: Page):
    return page.locator("rockd-tls section.card")


def look(page: Page, name: str) -> None:
    """Screenshots at both widths, with no layout problem at either."""
    for pixels in WIDTHS:
        page.set_viewport_size({"width": pixels, "height": 900})
        assert layout_problems(page) == [], pixels
        screenshot(page, f"tls-{name}-{pixels}")
    page.set_viewport_size({"width": 1366, "height": 900})


def test_the_card_shows_the_self_signed_certificate(page: Page, box: Box):
    made = page.request.post("/api/v1/setup", data={"username": "admin", "password": PASSWORD})
    assert made.status == 201, made.text()
    assert "Secure" in made.headers["set-cookie"]  # the session is for HTTPS only
    page.goto("/#/services")
    expect(card(page)).to_have_attribute("data-tls", "self-signed")
    expect(card(page)).to_contain_text("127.0.0.1")
    expect(card(page)).to_contain_text("self-signed")
    expect(card(page)).to_contain_text("days left")
    look(page, "self-signed")


def test_an_upload_is_refused_at_its_field_then_served(page: Page, box: Box):
    authority = Authority()
    leaf, key, _ = authority.issue(["nas.example.test", "127.0.0.1"])
    _, other_key, _ = authority.issue(["other.example.test"])
    page.get_by_label("Certificate chain", exact=True).fill(leaf + authority.mid_pem)
    page.get_by_label("Private key", exact=True).fill(other_key)
    page.get_by_role("button", name="Use this certificate").click()
    error = card(page).locator(".field-error")
    expect(error).to_contain_text("does not belong to the certificate")
    expect(page.get_by_label("Private key", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(card(page)).to_have_attribute("data-tls", "self-signed")
    look(page, "refused")

    page.get_by_label("Private key", exact=True).fill(key)
    page.get_by_role("button", name="Use this certificate").click()
    expect(card(page).get_by_role("status")).to_contain_text("nas.example.test")
    expect(card(page)).to_have_attribute("data-tls", "uploaded")  # live, from /system/tls
    expect(card(page)).to_contain_text("rockd test intermediate")
    look(page, "uploaded")
