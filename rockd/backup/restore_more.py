"""The later steps of a restore (rockd.backup.restore): schedules, services, replication peers,
tasks and key pair, apps, and intent of other kinds; and a restored user's password hashes."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from rockd.accounts import hashes
from rockd.backup.document import AppRecord, PeerRecord, ScheduleRecord, TaskRecord, UserRecord

if TYPE_CHECKING:
    from rockd.backup.restore import Restore

SHARE_TARGETS = ("snapshot", "config_backup")  # schedule kinds whose target is a share
DISK_TARGETS = ("smart_test",)  # ... and a disk (the same disk id on any box)


async def password_hashes(restore: Restore, user: UserRecord) -> None:
    """Give a user just made its login and Samba hashes from the document, if it has them (a
    Samba hash this box cannot take is listed as skipped)."""
    users = restore.parts.users
    if user.password_hash:
        await hashes.set_shadow_hash(user.name, user.password_hash)
    if (user.nt_hash and not await hashes.nt_hash(users.smb_conf, user.name)
            and not await hashes.set_nt_hash(users.smb_conf, user.name, user.uid,
                                             user.nt_hash)):
        restore.skip(f"Samba password of user {user.name}",
                     "Samba is not set up on this box: set the password again")
    await users.settled()  # /users shows the Samba password


async def rest(restore: Restore) -> None:
    doc = restore.doc
    for schedule in doc.schedules:
        target = restore.share_labels.get(schedule.target) or next(
            (p.name for p in doc.pools if p.uuid == schedule.target), schedule.target)
        await restore.item(f"{schedule.kind} schedule of {target} ({schedule.cron})",
                           partial(_schedule, restore, schedule))
    for service in doc.services:
        await restore.item(f"service {service.name}",
                           partial(_service, restore, service.name, service.enabled))
    for peer in doc.replication.peers:
        await restore.item(f"replication peer {peer.name}", partial(_peer, restore, peer))
    for task in doc.replication.tasks:
        share = restore.share_labels.get(task.share, "an unknown share")
        targets = ", ".join(f"{t.peer}/{t.pool}" for t in task.targets)
        await restore.item(f"replication task of {share} to {targets}",
                           partial(_task, restore, task))
    if doc.replication.key_pair is not None:
        await restore.item("this box's replication key pair", partial(_key_pair, restore))
    for app in doc.apps:
        await restore.item(f"app {app.name}", partial(_app, restore, app))
    for kind, records in sorted(doc.other.items()):
        for key, value in sorted(records.items()):
            later = "" if kind in restore.parts.owners else \
                " (kept; read by its part at rockd's next start)"
            await restore.item(f"{kind} {key}{later}", partial(_other, restore, kind, key, value))


def _mapped(restore: Restore, kind: str, target: str) -> str | None:
    if kind in DISK_TARGETS:
        return target if restore.parts.tree.get(("disks", target)) is not None else None
    ids = restore.share_ids if kind in SHARE_TARGETS else restore.pool_ids
    return ids.get(target)


def _options(restore: Restore, schedule: ScheduleRecord) -> dict[str, Any] | None:
    """The schedule's options on this box: a dedup's shares by their new ids."""
    options = dict(schedule.options or {}) or None
    if options and isinstance(options.get("shares"), list):
        options["shares"] = [restore.share_ids.get(s, s) for s in options["shares"]]
    return options


async def _schedule(restore: Restore, schedule: ScheduleRecord) -> str | None:
    scheduler = restore.parts.scheduler
    target = _mapped(restore, schedule.kind, schedule.target)
    if target is None:
        if schedule.kind in DISK_TARGETS:
            return "its disk is not in this box"
        what = "share" if schedule.kind in SHARE_TARGETS else "pool"
        return f"its {what} was not restored"
    options = _options(restore, schedule)
    want = {"kind": schedule.kind, "target": target, "cron": schedule.cron,
            "retention": schedule.retention, "enabled": schedule.enabled, "options": options}
    for have in scheduler.schedules.values():
        if all(have.get(k) == v for k, v in want.items()):
            return None
    await scheduler.create(schedule.kind, target, schedule.cron, schedule.retention,
                           schedule.enabled, options)
    return None


async def _service(restore: Restore, name: str, enabled: bool) -> str | None:
    services = restore.parts.services
    if bool(services.state(name).get("enabled")) == enabled:
        return None
    await (services.enable(name) if enabled else services.disable(name))
    return None


async def _peer(restore: Restore, peer: PeerRecord) -> str | None:
    replication = restore.parts.replication
    have = replication.peers.records.get(peer.name)
    if have is not None:
        same = have["address"] == peer.address and have["public_key"] == peer.public_key
        return None if same else "a peer of that name is paired here with another address " \
            "or key; left as it is"
    await replication.add_peer(peer.name, peer.address, peer.public_key)
    return None


async def _task(restore: Restore, task: TaskRecord) -> str | None:
    tasks = restore.parts.replication.tasks
    share = restore.share_ids.get(task.share)
    if share is None:
        return "its share was not restored"
    targets = [t.model_dump(exclude_none=True) for t in task.targets]
    want = {"share": share, "targets": targets, "cron": task.cron,
            "retention": task.retention, "keep_last": task.keep_last, "enabled": task.enabled}
    for have in tasks.records.values():
        if have["share"] == share and have["targets"] == targets:
            diff = [k for k, v in want.items() if have.get(k) != v]
            return f"it exists here with another {', '.join(diff)}; left as it is" \
                if diff else None
    await tasks.create(share, targets, task.cron, task.retention, task.enabled,
                       task.keep_last)
    return None


async def _key_pair(restore: Restore) -> str | None:
    pair = restore.doc.replication.key_pair
    replication = restore.parts.replication
    if pair is not None and pair.public == replication.public.decode():
        return None
    return ("this box keeps its own key pair: to take the backup's, put its secret key in "
            f"{restore.parts.settings.state_dir / 'replication' / 'curve.secret'} (0600) "
            "while rockd is stopped; peers paired with the old box then know this one")


async def _app(restore: Restore, app: AppRecord) -> str | None:
    apps = restore.parts.apps
    volumes = {path: restore.share_ids.get(share) for path, share in app.volumes.items()}
    missing = sorted(path for path, share in volumes.items() if share is None)
    if missing:
        return f"the share of its volume {', '.join(missing)} was not restored"
    have = apps.intents.get(app.name)
    if have is not None:
        want = {"volumes": volumes, "ports": app.ports}
        diff = [k for k, v in want.items() if have.get(k) != v]
        diff += ["env"] if any(have.get("env", {}).get(k) != v for k, v in app.env.items()) \
            else []
        return f"it is installed here with other {', '.join(diff)}; left as it is" \
            if diff else None
    if not apps.engine_up:
        return "the Docker engine is not running here: install it again once it runs"
    apps.install(app.name, {k: v for k, v in volumes.items() if v is not None}, app.ports,
                 app.env)
    return None


async def _other(restore: Restore, kind: str, key: str, value: dict[str, Any]) -> str | None:
    store = restore.parts.store
    have = (await store.intents(kind)).get(key)
    if have == value:
        return None
    owner = restore.parts.owners.get(kind)
    if owner is not None:
        await owner(key, value)
    elif have is not None:
        return "it exists here with another value; left as it is"
    else:
        await store.set_intent(kind, key, value)
    return None
