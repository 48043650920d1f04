"""A share with thousands of snapshots, for the browser's scale test and bench/ui_scale.py:
the snapshots made by hand with btrfs (as a person or another tool would), and the page's own
timing, taken in the page: when the first snapshot rows showed after a load, and what each
patch cost the tab from the store's apply to the views' re-render and layout."""

from __future__ import annotations

import subprocess
from pathlib import Path

from playwright.sync_api import Page

# Before the page's own scripts run: mark when the first snapshot row is on screen (the frame
# after it was added to the DOM), as "rockd-first-rows" of the page's performance timeline.
FIRST_ROWS = """(() => {
  const seen = new MutationObserver(() => {
    if (!document.querySelector('tr[data-snapshot]')) return;
    seen.disconnect();
    requestAnimationFrame(() => performance.mark('rockd-first-rows'));
  });
  seen.observe(document, { childList: true, subtree: true });
})()"""

# Wrap the running app's store: each message's apply, then every pending update of the app
# and its views, then a layout of the page, timed as one (ms) into window.rockdPatches as
# [ms, whether the patch touched /snapshots]. The views are those on the page now (their
# elements are looked up by tag name, live).
TIME_PATCHES = """() => {
  const app = document.querySelector('rockd-app');
  const store = app.store;
  window.rockdPatches = [];
  const receive = store.receive.bind(store);
  const names = new Set([...document.querySelectorAll('main *')].map((el) => el.localName)
    .filter((name) => customElements.get(name)));
  const views = [...names].map((name) => document.getElementsByTagName(name));
  const settle = async () => {
    for (;;) {
      const pending = [app, ...views.flatMap((found) => [...found])]
        .filter((el) => el.isUpdatePending);
      if (!pending.length) return;
      await Promise.all(pending.map((el) => el.updateComplete));
    }
  };
  store.receive = (message) => {
    const start = performance.now();
    receive(message);
    if (message.type !== 'patch') return;
    const snapshots = message.ops.some((op) => op.path.startsWith('/snapshots'));
    settle().then(() => {
      void document.body.offsetHeight; // the layout the change needs, now
      window.rockdPatches.push([performance.now() - start, snapshots]);
    });
  };
}"""


def snapshot_dir(mount_point: Path, share: str) -> Path:
    """Where rockd keeps (and finds) the snapshots of `share`."""
    return mount_point / ".snapshots" / share


def make_snapshots(mount_point: Path, share: str, count: int, prefix: str = "s") -> list[Path]:
    """`count` read-only snapshots of the share, named {prefix}00000 on, made by hand."""
    into = snapshot_dir(mount_point, share)
    into.mkdir(parents=True, exist_ok=True)
    made = []
    for index in range(count):
        made.append(into / f"{prefix}{index:05d}")
        subprocess.run(["btrfs", "-q", "subvolume", "snapshot", "-r", str(mount_point / share),
                        str(made[-1])], check=True)
    return made


def delete_snapshot(path: Path) -> None:
    subprocess.run(["btrfs", "-q", "subvolume", "delete", str(path)], check=True)


def store_holds(page: Page, name: str, present: bool = True, timeout: float = 30_000) -> None:
    """Wait until the page's store has (or no longer has) a snapshot of this name."""
    page.wait_for_function(
        """([name, present]) => {
             const snapshots = document.querySelector('rockd-app')?.store?.tree?.snapshots ?? {};
             return Object.values(snapshots).some((s) => s.name === name) === present;
           }""", arg=[name, present], timeout=timeout)


def time_patches(page: Page) -> None:
    """From now on, time each patch the page receives (see patch_times)."""
    page.evaluate(TIME_PATCHES)


def patch_times(page: Page) -> list[tuple[float, bool]]:
    """Each patch's apply and re-render in ms since time_patches, and whether it touched
    /snapshots."""
    return [(ms, touched) for ms, touched in page.evaluate("window.rockdPatches")]


def first_rows_ms(page: Page) -> float | None:
    """When the first snapshot rows showed, in ms from the start of the page's load."""
    return page.evaluate(
        "performance.getEntriesByName('rockd-first-rows')[0]?.startTime ?? null")
