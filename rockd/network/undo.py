"""Undoing what a network change that failed half-way did to NetworkManager's profiles."""

from __future__ import annotations

import logging
from typing import Any

from dbus_fast import DBusError

from rockd.network.nm import NM, NM_PATH, PROFILE, SETTINGS, SETTINGS_PATH, NetworkManager
from rockd.watchers.dbus import Unavailable

log = logging.getLogger(__name__)

NO_PATH = "/"


class Undo:
    """What a change that failed half-way had done to the profiles, undone: the profiles it
    added deleted, those it updated given their settings back (and activated again if they
    were active), those it deleted added again."""

    def __init__(self, nm: NetworkManager):
        self.nm = nm
        self.added: list[str] = []
        self.updated: list[tuple[str, Any, bool]] = []
        self.removed: list[Any] = []

    async def __aenter__(self) -> Undo:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """A change that failed (or was cancelled) inside the block is undone."""
        if kind is not None:
            await self.run()

    async def run(self) -> None:
        steps: list[tuple[str, str, str, list[Any]]] = []
        steps += [(path, PROFILE, "Delete", []) for path in reversed(self.added)]
        steps += [(path, PROFILE, "Update", [raw]) for path, raw, _ in self.updated]
        steps += [(SETTINGS_PATH, SETTINGS, "AddConnection", [raw]) for raw in self.removed]
        steps += [(NM_PATH, NM, "ActivateConnection", [path, NO_PATH, NO_PATH])
                  for path, _, active in self.updated if active]
        signatures = {"Delete": "", "Update": "a{sa{sv}}", "AddConnection": "a{sa{sv}}",
                      "ActivateConnection": "ooo"}
        for path, interface, member, body in steps:
            try:
                await self.nm.call(path, interface, member, signatures[member], body)
            except (DBusError, Unavailable) as exc:
                log.warning("network: undoing a failed change: %s %s: %s", member, path, exc)
            if member == "Delete":
                self.nm.profiles.pop(path, None)
