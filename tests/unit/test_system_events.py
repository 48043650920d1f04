"""System events from a real state tree as its owners change it: what each change says, that
a change of nothing followed says nothing, and that a restart (a tree loaded as it was) repeats
nothing."""

from __future__ import annotations

from rockd.core.tree import Tree
from rockd.events.system import SystemEvents


def follow(tree: Tree) -> list[tuple[str, str, str]]:
    said: list[tuple[str, str, str]] = []
    handle = tree.own("/events", "events")
    handle.listen(SystemEvents(handle, lambda kind, message, resource: said.append(
        (kind, message, resource))))
    return said


def service(active: str, pid: int | None) -> dict:
    return {"name": "smbd", "active": active, "main_pid": pid}


def test_services_the_engine_and_peers_say_what_changed():
    tree = Tree()
    services, engine = tree.own("/services", "services"), tree.own("/apps-engine", "apps")
    peers = tree.own("/replication", "replication")
    said = follow(tree)
    services.set("/services/smbd", service("active", 10))
    services.set("/services/smbd", service("active", 11))
    services.set("/services/smbd", service("failed", None))
    services.set("/services/smbd", service("active", 12))
    engine.set("/apps-engine", {"state": "connecting", "error": None, "version": None})
    engine.set("/apps-engine", {"state": "up", "error": None, "version": "26.1"})
    engine.set("/apps-engine", {"state": "down", "error": "the socket is gone", "version": None})
    peers.set("/replication", {"peers": {"b": {"online": False, "last_error": None}}})
    peers.set("/replication/peers/b/online", True)
    peers.set("/replication/peers/b", {"online": False, "last_error": "no answer for 30 s"})
    assert said == [
        ("service_restarted", "Service smbd restarted (pid 11).", "smbd"),
        ("service_failed", "Service smbd failed.", "smbd"),
        ("service_started", "Service smbd is running again.", "smbd"),
        ("docker_up", "The Docker engine is up (version 26.1).", "apps-engine"),
        ("docker_down", "The Docker engine is down: the socket is gone.", "apps-engine"),
        ("peer_online", "Replication peer b is online.", "b"),
        ("peer_offline", "Replication peer b is offline: no answer for 30 s.", "b"),
    ]


def test_a_job_is_said_once_when_it_ends():
    tree = Tree()
    jobs, pools = tree.own("/jobs", "jobs"), tree.own("/pools", "pools")
    pools.set("/pools/p1", {"name": "tank"})
    said = follow(tree)
    job = {"kind": "scrub", "target": "p1", "state": "running", "error": None, "detail": ""}
    jobs.set("/jobs/j1", job)
    jobs.set("/jobs/j1/detail", "half way")
    jobs.set("/jobs/j1", {**job, "state": "failed", "error": "read errors"})
    jobs.set("/jobs/j1/detail", "done")
    jobs.delete("/jobs/j1")
    assert said == [("job_failed", "The scrub job of tank failed: read errors.", "j1")]


def test_a_restart_repeats_nothing_and_finds_what_changed_while_down():
    tree = Tree()
    disks = tree.own("/disks", "disks")
    disks.set("/disks", {"d1": {"name": "sdb", "size": 1 << 30, "model": None, "pool": None},
                         "d2": {"name": "sdc", "size": 1 << 30, "model": "WD", "pool": None}})
    loaded = Tree(tree.root, tree.rev)  # as the journal brings it back
    disks = loaded.own("/disks", "disks")
    said = follow(loaded)
    disks.set("/disks", {"d2": loaded.get("/disks/d2")})
    disks.set("/disks/d3", {"name": "sdd", "size": 2 << 30, "model": "WD", "pool": None})
    assert said == [("disk_gone", "Disk sdb is gone (1.0 GiB).", "d1"),
                    ("disk_appeared", "Disk sdd appeared (WD, 2.0 GiB).", "d3")]
