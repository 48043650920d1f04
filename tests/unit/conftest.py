"""Fixtures of the unit tests (no root, no devices)."""

from __future__ import annotations

import pytest

from rockd.watchers.inotify import Inotify


@pytest.fixture
async def reader():
    """An inotify reader of the test's own, reading from its event loop."""
    inotify = Inotify()
    inotify.start()
    yield inotify
    inotify.close()
