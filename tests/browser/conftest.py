"""Fixtures for the browser tests: one real `rockd serve` on fresh loop devices with no user
yet, and Debian's headless Chromium driven by Playwright, shared by a module's tests (they
follow one person's session from first run on)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from tests.support.host import attach_loop
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
    if os.geteuid() != 0:
        pytest.skip("needs root for loop devices")
    root = tmp_path_factory.mktemp("ui")
    process = None
    try:
        devices = [attach_loop(root / f"disk{index}.img", 1 << 30) for index in range(3)]
        settings = settings_for(root, devices, mount_root=root / "state" / "mnt")
        # no ROCKD_ADMIN_PASSWORD: the browser makes the administrator at first run
        process = Process(serve_argv(settings), root / "rockd.log", f"http://{settings.listen}",
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
