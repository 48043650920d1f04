"""What every handler reaches through the app: the daemon's parts, under one key."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from rockd.config import Settings
from rockd.core.auth import Auth
from rockd.core.bus import Bus
from rockd.core.store import Store
from rockd.core.tree import Tree


@dataclass
class Context:
    settings: Settings
    tree: Tree
    bus: Bus
    store: Store
    auth: Auth
    websockets: set[web.WebSocketResponse] = field(default_factory=set)


CONTEXT = web.AppKey("rockd", Context)
