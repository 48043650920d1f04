"""The job supervisor keeps only the newest ended jobs in the tree, as each job ends (a
schedule's prune jobs must not pile up until a restart), and never forgets a running one."""

import asyncio

from rockd.core.jobs import Job, Jobs, Kind
from rockd.core.tree import Tree


class Waits(Kind):
    """A job that ends when its event is set (at once when it is)."""

    name = "waits"
    exclusive = False

    def __init__(self) -> None:
        super().__init__()
        self.go: dict[str, asyncio.Event] = {}

    async def run(self, job: Job) -> str:
        await self.go.setdefault(job.target, asyncio.Event()).wait()
        return "done"


async def test_only_the_newest_ended_jobs_are_kept_and_never_a_running_one():
    tree = Tree()
    jobs = Jobs(tree, keep_ended=3)
    kind = Waits()
    jobs.register(kind)
    long = jobs.start("waits", "long", {})
    made = []
    for i in range(6):
        kind.go.setdefault(f"t{i}", asyncio.Event()).set()
        made.append(jobs.start("waits", f"t{i}", {})["id"])
        await asyncio.sleep(0.01)
    kept = tree.get("/jobs")
    assert set(kept) == {long["id"], *made[-3:]}
    assert kept[long["id"]]["state"] == "running"
    assert all(kept[i]["state"] == "succeeded" for i in made[-3:])

    kind.go["long"].set()
    await jobs.wait()
    kept = tree.get("/jobs")
    assert set(kept) == {long["id"], *made[-2:]}  # the one just ended is never the one to go
    assert all(job["state"] == "succeeded" for job in kept.values())
