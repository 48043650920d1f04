"""Fixtures for the browser tests: one real `rockd serve` on fresh loop devices with no user
yet, and Debian's headless Chromium driven by Playwright, shared by a module's tests (they
follow one person's session from first run on)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from tests.support.client import PASSWORD
from tests.support.host import attach_loop, disk_ids
from tests.support.process import ROOT, Process, serve_argv, settings_for
from tests.support.rig import clean_under

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# screenshots for people to look at; build/ is never committed
SCREENSHOTS = Path(os.environ.get("ROCKD_SCREENSHOTS", ROOT / "build" / "screenshots"))


@dataclass
class Box:
    """The rockd under test and the loop devices it manages."""

    process: Process
    devices: list[str]
    root: Path

    @property
    def url(self) -> str:
        return self.process.url


@dataclass
class Traffic:
    """Every HTTP request the page made, the answers that were errors, and the script errors
    it logged (a refused request is not a script error: the failures list has those)."""

    requests: list[Request] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def since(self, count: int) -> list[str]:
        return [f"{r.method} {r.url}" for r in self.requests[count:]]


@pytest.fixture(scope="module")
def box(tmp_path_factory, udevd):
    yield from serve_box(tmp_path_factory.mktemp("ui"))


def serve_box(root: Path, disks: int = 3, size: int = 1 << 30,
              prepare: Callable[[list[str]], None] | None = None,
              **settings: Any) -> Iterator[Box]:
    """A `box` fixture's body: rockd on `disks` fresh loop devices of `size` bytes under
    `root` (handed to `prepare` before rockd starts), with these settings over the test
    defaults, stopped and cleaned up after."""
    if os.geteuid() != 0:
        pytest.skip("needs root for loop devices")
    process = None
    try:
        devices = [attach_loop(root / f"disk{index}.img", size) for index in range(disks)]
        if prepare is not None:
            prepare(devices)
        config = settings_for(root, devices, mount_root=root / "state" / "mnt", **settings)
        # no ROCKD_ADMIN_PASSWORD: the browser makes the administrator at first run
        process = Process(serve_argv(config), root / "rockd.log", f"http://{config.listen}",
                          env={"ROCKD_ADMIN_PASSWORD": ""}).start()
        yield Box(process, devices, root)
    finally:
        if process is not None:
            process.stop()
        clean_under(root)  # its mounts, and the loop devices of its images


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return Traffic()


@pytest.fixture(scope="module")
def page(browser: Browser, box: Box, traffic: Traffic):
    context = browser.new_context(base_url=box.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.on("request", lambda request: traffic.requests.append(request))
    tab.on("pageerror", lambda error: traffic.errors.append(f"{error}: {error.stack}"))
    tab.on("console", traffic.console)
    tab.on("response", lambda r: r.status >= 400 and traffic.failures.append(
        f"{r.status} {r.request.method} {r.url}"))
    try:
        yield tab
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def api(page: Page, method: str, path: str, body: dict | None = None):
    """The page's own API client (its session and CSRF token), for set-up a test is not
    about."""
    return page.evaluate(
        """async ([method, path, body]) => {
             const { call } = await import('/web/lib/api.js');
             return call(method, path, body ?? undefined);
           }""", [method, path, body])


def first_run(page: Page, box: Box, disks: int = 1, **pool: object) -> dict:
    """The administrator made at first run (signed in), and a pool "tank" of the first `disks`
    disks (`pool`: more of its request, "single" data by default)."""
    page.goto("/")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Set up").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    found = api(page, "GET", "/state?path=/disks")["value"]
    return api(page, "POST", "/pools", {"name": "tank", "data": "single", **pool,
                                        "disks": disk_ids(found, box.devices[:disks])})
