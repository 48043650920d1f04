"""What every handler reaches through the app: the daemon's parts, under one key."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from rockd.accounts.users import Users
from rockd.apps.apps import Apps
from rockd.config import Settings
from rockd.core.auth import Auth
from rockd.core.bus import Bus
from rockd.core.history import History
from rockd.core.jobs import Jobs
from rockd.core.store import Store
from rockd.core.tree import Tree
from rockd.jobs.schedules import Scheduler
from rockd.services.exports import Exports
from rockd.services.units import Services
from rockd.storage.disks import DiskInventory
from rockd.storage.pool_jobs import PoolJobs
from rockd.storage.pools import Pools
from rockd.storage.shares import Shares
from rockd.transfer.service import Replication


@dataclass
class Context:
    settings: Settings
    tree: Tree
    bus: Bus
    store: Store
    auth: Auth
    disks: DiskInventory
    pools: Pools
    pool_jobs: PoolJobs
    shares: Shares
    jobs: Jobs
    scheduler: Scheduler
    history: History
    services: Services
    exports: Exports
    users: Users
    replication: Replication
    apps: Apps
    websockets: set[web.WebSocketResponse] = field(default_factory=set)


CONTEXT = web.AppKey("rockd", Context)
