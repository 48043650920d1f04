"""The install form with the Docker engine down, in headless Chromium against a real `rockd
serve` whose docker service runs the test engine (tests/support/docker.py: the same data root,
socket and bridge, given as `docker_args` in a TOML config): the form says in words that the
engine is not running, Install is off, and its Start button starts the engine through rockd's
services; the app then installs and serves. Screenshots at 390 px and 1366 px.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.test_apps_ui import apps_rockd, chromium_page, open_apps, web_app
from tests.support.client import free_port
from tests.support.docker import DockerHarness

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def engine_args(harness: DockerHarness) -> list[str]:
    """The harness's own dockerd arguments, after --host (which rockd adds)."""
    return ["--data-root", str(harness.data_root), "--exec-root", str(harness.exec_root),
            "--pidfile", str(harness.base / "dockerd.pid"), "--bridge", harness.bridge,
            "--iptables=false", "--ip-forward=false", "--ip-masq=false", "--log-level", "warn"]


@pytest.fixture(scope="module")
def engine_box(tmp_path_factory, udevd):
    root = tmp_path_factory.mktemp("apps-engine-ui")
    harness = DockerHarness()
    try:
        harness.start()
        image = harness.push_image("rtest/web", "1")
        harness.docker("pull", f"{image}:1")  # on the box: installs with no registry asked
        port = free_port()
        config = root / "rockd.toml"
        config.write_text(f"docker_args = {json.dumps(engine_args(harness))}\n")
        with apps_rockd(root, harness, web_app(image, port), ["--config", str(config)],
                        services="rockd") as (process, share):
            Path(share["path"], "index.html").write_text("started from the form\n")
            yield process, harness, port  # stopping rockd stops the engine it ran
    finally:
        harness.close()


@pytest.fixture
def page(engine_box):
    with chromium_page(engine_box[0].url, width=1366) as tab:
        yield tab


def test_engine_down_is_said_install_is_off_and_start_starts_it(page: Page, engine_box):
    _, harness, port = engine_box
    harness.stop_engine()
    open_apps(page)
    line = page.locator(".engine-state.engine-down")
    expect(line).to_contain_text("The Docker engine is not running.")
    expect(line.get_by_role("button", name="Start the Docker engine")).to_be_enabled()
    expect(line.locator("details small")).to_be_hidden()  # what rockd saw is folded away
    card = page.locator("[data-catalog-app='web']")
    card.get_by_role("button", name="Install…").click()

    needed = card.locator(".engine-needed")
    expect(needed).to_contain_text("The Docker engine is not running.")
    expect(needed).to_contain_text("Test web site runs in Docker containers")
    install = card.get_by_role("button", name="Install Test web site")
    expect(install).to_be_disabled()
    start = needed.get_by_role("button", name="Start the Docker engine")
    expect(start).to_be_enabled()
    card.get_by_label("Files to serve").select_option(label="site (tank)")
    screenshot(page, "apps-engine-down-install-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(start).to_be_visible()
    box = start.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "apps-engine-down-install-390")
    page.set_viewport_size({"width": 1366, "height": 900})

    start.click()
    expect(needed).to_have_count(0, timeout=30_000)
    expect(install).to_be_enabled()
    install.click()
    expect(card.locator(".job[data-state='succeeded']")).to_be_visible(timeout=60_000)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as answer:
        assert answer.read() == b"started from the form\n"
    assert page.traffic.errors == []
