"""The Apps screen in headless Chromium, against a real rockd process (with the apps wired in)
and the test Docker engine and registry (tests/support/docker.py): the engine's state, the
catalog, an install form generated from a definition, the install job's progress, the installed
app with its state and a working link to its own UI, a `docker stop` by hand showing without a
reload, and uninstall asking for the name typed, leaving the share's files.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from collections.abc import Iterator, Sequence
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Traffic, screenshot
from tests.support.client import PASSWORD, free_port
from tests.support.docker import DockerHarness
from tests.support.host import attach_loop
from tests.support.process import Process, serve_argv, settings_for
from tests.support.rig import clean_under

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")



class Session:
    """REST calls as the administrator (cookie + CSRF), for what the test sets up by hand."""

    def __init__(self, url: str):
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.csrf = self.call("POST", "/api/v1/auth/login",
                              {"username": "admin", "password": PASSWORD})["csrf"]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body else None)
        request.add_header("Content-Type", "application/json")
        if getattr(self, "csrf", None):
            request.add_header("X-CSRF-Token", self.csrf)
        with self.opener.open(request, timeout=30) as response:
            raw = response.read()
            return json.loads(raw) if raw else {}


def web_app(image: str, port: int, ui_path: str = "/", **more: object) -> dict:
    """The test's app "web": BusyBox httpd of `image`:1 serving the share mapped to /www on
    host port `port`; `more` are further fields of its container."""
    return {
        "name": "web", "title": "Test web site", "website": "https://busybox.net",
        "description": "BusyBox httpd serving a share.",
        "containers": [{
            "name": "httpd", "image": image, "tag": "1", "init": True,
            "command": ["/bin/httpd", "-f", "-p", "80", "-h", "/www"],
            "ports": [{"container": 80, "host": port, "label": "Site", "ui": True,
                       "ui_path": ui_path}],
            "volumes": [{"container": "/www", "label": "Files to serve"}], **more,
        }],
    }


@contextlib.contextmanager
def apps_rockd(root: Path, harness: DockerHarness, app: dict, argv: Sequence[str] = (),
               **settings: object) -> Iterator[tuple[Process, dict]]:
    """rockd with `app` as its only catalog app and the test engine (already started), on one
    512 MiB loop disk with pool tank and share site; yields the process and the share. Ends
    the containers, rockd, its mounts and loop device after (the engine is the caller's)."""
    process = None
    try:
        catalog = root / "catalog"
        catalog.mkdir()
        catalog.joinpath(f"{app['name']}.json").write_text(json.dumps(app))
        config = settings_for(root, [attach_loop(root / "disk.img", 512 << 20)],
                              docker_socket=harness.socket, apps_catalog=catalog, **settings)
        process = Process(serve_argv(config, list(argv)), root / "rockd.log",
                          f"http://{config.listen}").start()
        session = Session(process.url)
        disk = next(d["id"] for d in session.call("GET", "/api/v1/disks") if d["managed"])
        pool = session.call("POST", "/api/v1/pools",
                            {"name": "tank", "disks": [disk], "data": "single"})
        yield process, session.call("POST", "/api/v1/shares", {"pool": pool["id"], "name": "site"})
    finally:
        harness.remove_all_containers()
        if process is not None:
            process.stop()
        clean_under(root)  # its mounts, and the loop device of its image


@pytest.fixture(scope="module")
def apps_box(tmp_path_factory, udevd):
    harness = DockerHarness()
    try:
        harness.start()
        image = harness.push_image("rtest/web", "1")
        port = free_port()
        app = web_app(image, port, ui_path="/hello.txt",
                      env=[{"name": "GREETING", "label": "Greeting", "default": "hello",
                            "pattern": "[a-z]+"}])
        with apps_rockd(tmp_path_factory.mktemp("apps-ui"), harness, app) as (process, share):
            Path(share["path"], "hello.txt").write_text("served from the share\n")
            yield process, harness, share, port
    finally:
        harness.close()


@contextlib.contextmanager
def chromium_page(url: str, width: int = 1280) -> Iterator[Page]:
    """A tab of a fresh headless Chromium on `url`, its script errors in `tab.traffic`."""
    from playwright.sync_api import sync_playwright

    traffic = Traffic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=url, viewport={"width": width, "height": 900})
        context.set_default_timeout(20_000)
        tab = context.new_page()
        tab.on("pageerror", lambda error: traffic.errors.append(str(error)))
        tab.on("console", traffic.console)
        tab.traffic = traffic
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def open_apps(page: Page) -> None:
    """Sign in as the administrator and go to Apps."""
    page.goto("/")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Apps", exact=True).click()


@pytest.fixture(scope="module")
def page(apps_box):
    with chromium_page(apps_box[0].url) as tab:
        yield tab


def test_install_from_the_catalog_open_stop_by_hand_and_uninstall(page: Page, apps_box):
    _, harness, share, port = apps_box
    open_apps(page)
    expect(page.get_by_role("heading", name="Apps", exact=True)).to_be_visible()
    expect(page.locator(".engine-state[data-engine='up']")).to_contain_text("Docker 20.10")
    expect(page.get_by_text("No apps installed yet")).to_be_visible()

    # the catalog: built-in definitions and the test's own, each with an install form
    card = page.locator("[data-catalog-app='web']")
    expect(page.locator("[data-catalog-app='syncthing']")).to_be_visible()
    card.get_by_role("button", name="Install…").click()
    card.get_by_label("Files to serve").select_option(label="site (tank)")
    expect(card.get_by_role("spinbutton", name="Site")).to_have_value(str(port))
    expect(card.get_by_label("Greeting")).to_have_value("hello")
    card.get_by_label("Greeting").fill("Not Lower")  # the pattern: the browser refuses it
    card.get_by_role("button", name="Install Test web site").click()
    assert harness.containers() == []
    card.get_by_label("Greeting").fill("hi")
    screenshot(page, "apps-install-form")
    card.get_by_role("button", name="Install Test web site").click()
    expect(card.locator(".job[data-state='succeeded']")).to_be_visible(timeout=60_000)
    card.get_by_role("button", name="Open Test web site").click()

    # the installed app: live state, containers, the share mapped, the link to its UI
    detail = page.locator(".app-detail[data-app='web']")
    expect(detail).to_have_attribute("data-state", "running")
    expect(page.locator("tr[data-container='httpd']")).to_have_attribute("data-state",
                                                                        "running")
    expect(page.get_by_role("link", name="site", exact=True)).to_be_visible()
    link = page.get_by_role("link", name="Open Test web site")
    assert link.get_attribute("href") == f"http://127.0.0.1:{port}/hello.txt"
    with urllib.request.urlopen(link.get_attribute("href"), timeout=5) as response:
        assert response.read() == b"served from the share\n"
    screenshot(page, "apps-detail")

    # stopped by hand: the page shows it without a reload
    harness.docker("stop", "-t", "1", "rockd-web-httpd")
    expect(page.locator("tr[data-container='httpd']")).to_have_attribute("data-state",
                                                                        "exited")
    expect(detail).to_have_attribute("data-state", "stopped")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(detail).to_have_attribute("data-state", "running")

    # the list shows it with its UI link
    page.get_by_role("link", name="Apps", exact=True).first.click()
    row = page.locator("tr[data-app='web']")
    expect(row).to_have_attribute("data-state", "running")
    expect(row.get_by_role("link", name="Open Test web site")).to_be_visible()
    screenshot(page, "apps-list")

    # uninstall asks for the name typed; the share's file stays
    row.get_by_role("link", name="Test web site", exact=True).click()
    page.get_by_role("button", name="Uninstall…").click()
    dialog = page.locator("dialog.confirm")
    dialog.get_by_label("Type web to confirm").fill("web")
    dialog.get_by_role("button", name="Uninstall").click()
    expect(page.get_by_text("No apps installed yet")).to_be_visible(timeout=30_000)
    assert harness.containers() == []
    assert Path(share["path"], "hello.txt").read_text() == "served from the share\n"
    assert page.traffic.errors == []


def test_the_engine_going_away_is_shown(page: Page, apps_box):
    harness = apps_box[1]
    harness.stop_engine()
    try:
        expect(page.locator(".engine-state.engine-down")).to_contain_text(
            "The Docker engine is not running", timeout=15_000)
        screenshot(page, "apps-engine-down")
    finally:
        harness.start_engine()
    expect(page.locator(".engine-state[data-engine='up']")).to_be_visible(timeout=20_000)
    assert page.traffic.errors == []
