"""Builds the daemon from its parts and runs it until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from contextlib import suppress

from aiohttp import WSCloseCode, web

from rockd import system
from rockd.accounts.users import Users
from rockd.alerts.engine import Alerts
from rockd.apps import jobs as app_jobs
from rockd.apps.apps import Apps
from rockd.backup.collect import Parts as BackupParts
from rockd.backup.files import Backups
from rockd.config import Settings
from rockd.core import auth as auth_tables
from rockd.core.auth import Auth
from rockd.core.bus import Bus
from rockd.core.history import SCHEMA as HISTORY_SCHEMA
from rockd.core.history import History
from rockd.core.jobs import Jobs
from rockd.core.models import validate
from rockd.core.rescan import Rescanner
from rockd.core.store import Store, open_state
from rockd.core.tasks import cancel_and_wait
from rockd.core.tree import Tree
from rockd.events import open_events
from rockd.events.log import EventLog
from rockd.handlers import alerts as alerts_api
from rockd.handlers import apps as apps_api
from rockd.handlers import auth, meta, metrics, state, stream
from rockd.handlers import config_backup as config_backup_api
from rockd.handlers import disks as disks_api
from rockd.handlers import events as events_api
from rockd.handlers import exports as exports_api
from rockd.handlers import host as host_api
from rockd.handlers import jobs as jobs_api
from rockd.handlers import network as network_api
from rockd.handlers import pools as pools_api
from rockd.handlers import replication as replication_api
from rockd.handlers import schedules as schedules_api
from rockd.handlers import services as services_api
from rockd.handlers import shares as shares_api
from rockd.handlers import system as system_api
from rockd.handlers import tls as tls_api
from rockd.handlers import ups as ups_api
from rockd.handlers import users as users_api
from rockd.handlers import web as web_ui
from rockd.handlers.context import CONTEXT, Context
from rockd.handlers.hosts import host_check
from rockd.handlers.metrics import timing
from rockd.handlers.middleware import errors, principal_of, security_headers
from rockd.handlers.routes import PRINCIPAL, Routes
from rockd.handlers.server import ApiRunner
from rockd.host.box import Host
from rockd.jobs.balance import BalanceKind
from rockd.jobs.command import CommandKind
from rockd.jobs.dedup import DedupKind
from rockd.jobs.prune import PruneKind
from rockd.jobs.schedules import Scheduler
from rockd.jobs.scrub import ScrubKind
from rockd.jobs.smart_test import SmartTestKind
from rockd.jobs.trim import TrimKind
from rockd.network.network import Network
from rockd.notify import feed_watchdog, notify, watchdog_interval
from rockd.services.backends import service_backend
from rockd.services.exports import Exports
from rockd.services.nfs import NfsExports
from rockd.services.samba import SambaKind
from rockd.services.sftp import SftpExports
from rockd.services.units import Services
from rockd.storage import disks
from rockd.storage.devices import Allowlist
from rockd.storage.pool_jobs import PoolJobs
from rockd.storage.pools import Pools
from rockd.storage.shares import Shares
from rockd.storage.smart_history import SmartHistory
from rockd.storage.smart_monitor import SmartMonitor
from rockd.system_metrics import FIELDS as SYSTEM_METRICS_FIELDS
from rockd.system_metrics import SystemMetrics
from rockd.tls.keeper import Certificates
from rockd.transfer.service import Replication
from rockd.ups.monitor import Ups
from rockd.watchers.inotify import Inotify
from rockd.watchers.metrics import MetricsSampler
from rockd.watchers.mounts import MountWatcher
from rockd.watchers.subvolumes import SubvolumeWatcher
from rockd.watchers.udev import UdevWatcher
from rockd.watchers.usage import UsageSampler

log = logging.getLogger(__name__)

TOP_LEVEL = ("configs",)
STOP_SECONDS = 4.0
EXPORT_KINDS = (SambaKind, NfsExports, SftpExports)  # the ways shares are exported


class Daemon:
    """The parts of a running rockd, started and stopped in order."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store: Store | None = None
        self.tree: Tree | None = None
        self.bus: Bus | None = None
        self.runner: web.AppRunner | None = None
        self.context: Context | None = None
        self.rescanners: list[Rescanner] = []
        self.watchers: list[UdevWatcher | MountWatcher | SubvolumeWatcher | UsageSampler] = []
        self.sampler: MetricsSampler | None = None
        self.history: History | None = None
        self.inotify: Inotify | None = None  # the one inotify reader, for every part
        self.backups: Backups | None = None  # the settings backup, and its restore
        self.events: EventLog | None = None  # the event log and audit, /events/latest
        self.alerts: Alerts | None = None  # /alerts: follows the tree, tells the owner
        self.certificates: Certificates | None = None  # HTTPS's, and /system/tls
        self.network: Network | None = None  # /network, through NetworkManager
        self.host: Host | None = None  # hostname, /system/time, /system/power, disks' power
        self.redirect: web.AppRunner | None = None  # --http-redirect's listener
        self.watchdog: asyncio.Task[None] | None = None  # systemd's, fed from the loop
        self.smart: SmartMonitor | None = None  # disks' SMART readings, history, self-tests
        self.ups: Ups | None = None  # /ups: NUT, and the shutdown on a power failure

    async def start(self) -> None:
        settings = self.settings
        settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store, self.tree, self.bus = await open_state(
            settings.database, auth_tables.SCHEMA + HISTORY_SCHEMA)
        # before any part writes the tree: every change from here on is followed
        self.events = await open_events(settings, self.tree.own("/events", "events"))
        authn = Auth(self.store)
        await authn.load()
        await self._first_user(authn)
        self.context = await self._parts(authn)
        self.certificates = Certificates(settings, self.tree.own("/system/tls", "tls"))
        ssl_context = self.certificates.open()

        app = self._web_app()
        self.runner = ApiRunner(app, shutdown_timeout=1.0)
        await self.runner.setup()
        self.redirect = await tls_api.listen(self.runner, settings, ssl_context)
        # serve the last known tree at once, then make it true
        await self._observe()
        log.info("rockd serving on %s://%s (revision %d)", "https" if ssl_context else "http",
                 settings.listen, self.tree.rev)
        notify("READY=1")
        interval = watchdog_interval()
        if interval is not None:
            self.watchdog = asyncio.create_task(feed_watchdog(interval), name="watchdog")

    async def _first_user(self, authn: Auth) -> None:
        password = os.environ.pop("ROCKD_ADMIN_PASSWORD", None)
        if password and not authn.has_users:
            await authn.create_user("admin", password)
            log.info("created user admin from ROCKD_ADMIN_PASSWORD")

    async def _parts(self, authn: Auth) -> Context:
        """The storage inventories and the job supervisor, wired to each other."""
        assert self.tree is not None and self.store is not None and self.bus is not None
        tree, settings = self.tree, self.settings
        self.inotify = Inotify()
        jobs = Jobs(tree.own("/jobs", "jobs"), durable=self.bus.durable)
        inventory = disks.DiskInventory(tree.own("/disks", "disks"), Allowlist(settings.devices),
                                        settings.smart_loops)
        disk_rescans = disks.DiskRescans(inventory)  # a storm of udev events, in batches
        pools = Pools(tree.own("/pools", "pools"), self.store, settings.mount_root, disk_rescans)
        pool_jobs = PoolJobs(pools, jobs)
        shares = Shares(tree.own(["/shares", "/snapshots"], "shares"), self.store, pools)
        subvolume_watcher = SubvolumeWatcher(self.inotify, shares.rescans.request)
        inventory.tell(pools)  # a disk of a pool came, went or changed: the pool is read again
        pools.tell(shares)  # each pool read again: its subvolumes too
        pools.tell(subvolume_watcher)  # ... and the mounted pools' folders watched
        jobs.register(BalanceKind(pools))
        jobs.register(ScrubKind(pools))
        jobs.register(TrimKind(pools))
        jobs.register(DedupKind(pools))
        jobs.register(CommandKind("device_remove", owner=pools))
        jobs.register(CommandKind("resize", owner=pools))
        jobs.register(CommandKind(
            "device_replace", owner=pools,
            cancel_argv=lambda job: ["btrfs", "replace", "cancel", job.params["mount_point"]]))
        jobs.register(PruneKind(shares))
        smart_history = SmartHistory(self.store)
        await smart_history.open()
        self.smart = SmartMonitor(inventory, smart_history, jobs, settings.smart_interval)
        jobs.register(SmartTestKind(self.smart, settings.smart_poll))
        scheduler = Scheduler(tree.own("/schedules", "schedules"), self.store, jobs, pools,
                              pool_jobs, shares)
        scheduler.self_tests_by(self.smart)  # smart_test schedules start self-tests through it
        disk_rescans.start()
        await pools.load()
        await shares.load()
        await scheduler.load()
        self.history = History(self.store, tree, "/system/metrics", SYSTEM_METRICS_FIELDS)
        await self.history.load()
        self.history.start()
        self.sampler = MetricsSampler(SystemMetrics(
            tree.own(["/system/metrics", "/system/uptime"], "system_metrics",
                     volatile=True)).sample)  # sampled again after a restart: not journalled
        services = Services(tree.own("/services", "services"),
                            service_backend(settings, self.store))
        exports = Exports(tree.own("/exports", "exports"), self.store, settings.mount_root, [
            kind(settings, tree.own(("configs", kind.kind), f"services.{kind.kind}"),
                 self.inotify, services) for kind in EXPORT_KINDS], self.inotify)
        await exports.load()
        shares.refer(exports)
        shares.tell(exports)  # shares and snapshots come and go: exports serve what is there
        users = Users(tree.own(["/users", "/groups"], "accounts"), self.store, settings,
                      self.inotify, followers=[exports])
        apps = Apps(tree.own(["/apps", "/apps-engine"], "apps"), self.store, jobs, settings,
                    self.inotify)
        for kind in app_jobs.kinds(apps):
            jobs.register(kind)
        shares.refer(apps)
        await apps.load()
        self.rescanners = [disk_rescans, pools.rescans, shares.rescans]
        self.watchers = [UdevWatcher(disk_rescans.request),
                         MountWatcher(pools.mounts_changed),
                         subvolume_watcher, UsageSampler(self.bus, pools.refresh_usage)]
        replication = Replication(settings, tree.own("/replication", "replication"), self.store,
                                  jobs, shares)
        jobs.register(replication.kind)
        shares.mark_replicas_from(replication.replicas)  # /shares/{id}/replica
        self.facts = tree.own("/system", "system")
        self.host = Host(settings, tree, self.facts, tree.own("/system/time", "host.clock"),
                         tree.own("/system/power", "host.power"), self.bus, self.store,
                         self.inotify, jobs, inventory, self.events)
        await self.host.load()
        samba = exports.kinds["smb"]
        assert isinstance(samba, SambaKind)
        self.host.names.tell(samba)  # smb.conf names the server after the hostname
        await replication.load()
        self.backups = Backups(BackupParts(settings, tree, self.store, users, pools, shares,
                                           exports, scheduler, services, replication, apps))
        scheduler.backups_by(self.backups)  # config_backup schedules write it
        self.alerts = Alerts(tree.own("/alerts", "alerts"), self.store, settings.alert_window)
        self.network = Network(tree.own("/network", "network"), settings, self.bus)
        tree.own("/network/interfaces", "network", volatile=True)  # read again at start
        await self.alerts.load()
        self.ups = Ups(tree.own("/ups", "ups"), self.store, settings, self.inotify, self.bus,
                       shutdown=self.host.power)  # on battery past the grace time
        await self.ups.load()
        alerts, host = self.alerts, self.host
        self.backups.restores("alert_settings", lambda _key, value: alerts.configure(
            validate(alerts_api.AlertSettings, value).model_dump(by_alias=True)))
        self.backups.restores("host", lambda _key, value: host.change(
            **validate(host_api.SystemUpdate, value).model_dump()))
        return Context(settings, tree, self.bus, self.store, authn, inventory, pools, pool_jobs,
                       shares, jobs, scheduler, self.history, services, exports, users, replication,
                       apps)

    async def _observe(self) -> None:
        """Make the tree true: watch first (so nothing is missed), then scan everything."""
        tree, ctx = self.tree, self.context
        assert tree is not None and ctx is not None and self.inotify is not None
        self.inotify.start()
        for watcher in self.watchers:
            watcher.start()
        with tree.transaction():
            for key in TOP_LEVEL:  # what no owner claims whole
                if not isinstance(tree.get(f"/{key}"), dict):
                    tree.set(f"/{key}", {})
            tree.create_claimed()
        system.publish(self.facts, await system.probe())
        assert self.certificates is not None
        self.certificates.publish()
        assert self.sampler is not None
        self.sampler.start()
        assert self.network is not None
        await self.network.start()  # NetworkManager read in the background, kept by its signals
        await ctx.disks.rescan_all()
        assert self.host is not None
        await self.host.start()  # after the disks: their spin-down applied again
        await ctx.pools.reconcile()
        await ctx.pools.rescan_all()
        await ctx.shares.reconcile()
        await ctx.replication.start()  # after the shares: it cleans up half-made receives
        await ctx.services.open()
        await ctx.exports.start()  # the configurations first, then what serves them
        await ctx.users.start()  # after smb.conf is written: Samba passwords are read with it
        await ctx.services.start_enabled()
        await ctx.apps.start()
        ctx.jobs.reattach()
        assert self.smart is not None
        self.smart.start()  # every disk's SMART read into its history, now and on a timer
        ctx.scheduler.start()  # a schedule missed while rockd was down runs now, once
        assert self.alerts is not None
        self.alerts.start()  # the tree is true now: what is wrong in it is alerted
        assert self.ups is not None
        await self.ups.start()  # NUT's programs, for the UPS configured

    def _web_app(self) -> web.Application:
        app = web.Application(middlewares=[timing, tls_api.hsts, security_headers,
                                           events_api.audit(), errors,
                                           host_check(self.settings.allowed_hosts)],
                              client_max_size=self.settings.max_body)
        assert self.context is not None
        app[CONTEXT] = self.context
        assert self.certificates is not None
        app[tls_api.CERTIFICATES] = self.certificates
        metrics.install(app, self.context)
        app[PRINCIPAL] = principal_of
        assert self.backups is not None
        app[config_backup_api.BACKUPS] = self.backups
        assert self.events is not None
        app[events_api.EVENTS] = self.events
        assert self.alerts is not None
        app[alerts_api.ALERTS] = self.alerts
        assert self.network is not None
        app[network_api.NETWORK] = self.network
        assert self.ups is not None
        app[ups_api.UPS] = self.ups
        assert self.host is not None
        app[host_api.HOST] = self.host
        assert self.smart is not None
        app[disks_api.SMART] = self.smart
        table = Routes()
        for module in (meta, auth, state, stream, disks_api, pools_api, shares_api, jobs_api,
                       schedules_api, system_api, services_api, replication_api,
                       users_api, metrics, apps_api, config_backup_api, alerts_api, tls_api,
                       events_api, host_api, network_api, ups_api):
            table.extend(module.routes)
        table.extend(exports_api.routes_for(EXPORT_KINDS))
        table.install(app)
        web_ui.install(app, self.settings.web_root or web_ui.default_web_root())
        return app

    async def stop(self) -> None:
        notify("STOPPING=1")
        await cancel_and_wait(self.watchdog)
        for watcher in self.watchers:
            watcher.stop()
        if self.sampler is not None:
            self.sampler.stop()
        if self.alerts is not None:
            await self.alerts.stop()
        if self.network is not None:
            await self.network.stop()
        if self.ups is not None:
            await self.ups.stop()
        if self.host is not None:
            await self.host.stop()
        if self.smart is not None:
            await self.smart.stop()
        if self.context is not None:
            await self.context.scheduler.stop()
            await self.context.replication.stop()
            await self.context.jobs.stop()
            await self.context.apps.stop()
            await self.context.exports.stop()
            await self.context.users.stop()
            await self.context.services.close()
        for rescanner in self.rescanners:
            await rescanner.stop()
        if self.inotify is not None:
            self.inotify.close()
        if self.context is not None:
            sockets = list(self.context.websockets)
            if sockets:
                await asyncio.wait(
                    [asyncio.create_task(ws.close(code=WSCloseCode.GOING_AWAY,
                                                  message=b"rockd is stopping"))
                     for ws in sockets], timeout=1.0)
        if self.redirect is not None:
            await self.redirect.cleanup()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.events is not None:
            await self.events.close()  # the last audit, before the tree's journal closes
        if self.history is not None:
            await self.history.stop()  # the last samples, before the database closes
        if self.store is not None:
            await self.store.close()
        log.info("rockd stopped at revision %d", self.tree.rev if self.tree else 0)


async def serve(settings: Settings) -> int:
    """Run the daemon until SIGTERM/SIGINT; answer the exit status."""
    daemon = Daemon(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await daemon.start()
        await stopping.wait()
    finally:
        with suppress(TimeoutError):
            async with asyncio.timeout(STOP_SECONDS):
                await daemon.stop()
    return 0
