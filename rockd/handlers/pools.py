"""Pools: create, import, observe, change, grow and shrink, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field, model_validator

from rockd.core.auth import Principal
from rockd.core.errors import BadRequest
from rockd.core.models import Model, Name
from rockd.core.resources import JobStarted, Pool
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes, json_response
from rockd.storage import profiles
from rockd.storage.pool_input import check_profiles
from rockd.storage.pool_jobs import PoolJobs
from rockd.storage.pools import Pools

routes = Routes()

DiskId = str


COMPRESSION = "no, lzo, zlib[:1-9] or zstd[:1-15]"
MOUNT_OPTIONS = ("comma-separated, from: noatime, relatime, nodiratime, [no]autodefrag, ssd, "
                 "nossd, ssd_spread, discard[=sync|async], nodiscard, space_cache=v2, "
                 "commit=0-9999, [no]flushoncommit, skip_balance, [no]datacow, [no]datasum "
                 "(not with compression), thread_pool=1-999, max_inline=0-4096, barrier; "
                 "rescue=... and norecovery are refused (422 recovery_option)")


class PoolCreate(Model):
    name: Name
    disks: list[DiskId] = Field(min_length=1, max_length=64)
    data: profiles.DataProfile
    metadata: profiles.MetadataProfile | None = None
    compression: str | None = Field(default=None, max_length=16, description=COMPRESSION)
    mount_options: str = Field(default="", max_length=512, description=MOUNT_OPTIONS)


class PoolImport(Model):
    disk: DiskId


class Capacity(Model):
    disks: list[DiskId] | None = Field(default=None, max_length=64)
    sizes: list[int] | None = Field(default=None, max_length=64)
    data: profiles.DataProfile
    metadata: profiles.MetadataProfile | None = None

    @model_validator(mode="after")
    def one_of(self) -> Capacity:
        if (self.disks is None) == (self.sizes is None):
            raise ValueError("give either disks or sizes")
        return self


class CapacityOut(Model):
    usable: int
    raw: int
    wasted: int


class PoolUpdate(Model):
    compression: str | None = Field(default=None, max_length=16, description=COMPRESSION)
    mount_options: str | None = Field(default=None, max_length=512, description=MOUNT_OPTIONS)
    quotas: bool | None = None
    label: Name | None = None


class Replace(Model):
    old: DiskId = Field(description='a disk id of the pool, or "devid:N" for its device N '
                        "(a missing device has no disk id)")
    new: DiskId


class PoolDisks(Model):
    add: list[DiskId] | None = Field(default=None, min_length=1, max_length=64)
    remove: list[DiskId] | None = Field(
        default=None, min_length=1, max_length=64,
        description='disk ids of the pool, or ["missing"]: a device that is gone')
    replace: Replace | None = None

    @model_validator(mode="after")
    def exactly_one(self) -> PoolDisks:
        if sum(x is not None for x in (self.add, self.remove, self.replace)) != 1:
            raise ValueError("give exactly one of add, remove, replace")
        return self


class ProfileChange(Model):
    data: profiles.DataProfile
    metadata: profiles.MetadataProfile | None = None


def _pools(request: web.Request) -> Pools:
    return request.app[CONTEXT].pools


def _pool_jobs(request: web.Request) -> PoolJobs:
    return request.app[CONTEXT].pool_jobs


@routes.get("/api/v1/pools", summary="Every pool", response=list[Pool])
async def list_pools(request: web.Request, principal: Principal) -> list[Any]:
    return list((request.app[CONTEXT].tree.get("/pools") or {}).values())


@routes.get("/api/v1/pools/{id}", summary="One pool", response=Pool)
async def get_pool(request: web.Request, principal: Principal) -> dict[str, Any]:
    return _pools(request).get(request.match_info["id"])


@routes.post("/api/v1/pools", summary="Create a pool from empty disks and mount it",
             body=PoolCreate, status=201, response=Pool)
async def create_pool(request: web.Request, principal: Principal,
                      body: PoolCreate) -> dict[str, Any]:
    return await _pools(request).create(body.name, body.disks, body.data, body.metadata,
                                        body.compression, body.mount_options)


@routes.post("/api/v1/pools/import", summary="Take over an existing btrfs filesystem",
             body=PoolImport, status=201, response=Pool)
async def import_pool(request: web.Request, principal: Principal,
                      body: PoolImport) -> dict[str, Any]:
    return await _pools(request).import_(body.disk)


@routes.post("/api/v1/pools/capacity", summary="What a pool of these disks would hold",
             body=Capacity, response=CapacityOut)
async def capacity(request: web.Request, principal: Principal, body: Capacity) -> dict[str, Any]:
    sizes = body.sizes
    if body.disks is not None:
        tree = request.app[CONTEXT].tree
        sizes = [tree.resource("disks", disk_id)["size"] for disk_id in body.disks]
    assert sizes is not None
    if any(size <= 0 for size in sizes):
        raise BadRequest("sizes must be positive", code="invalid_field")
    metadata = body.metadata or profiles.default_metadata(body.data, len(sizes))
    check_profiles(body.data, metadata, len(sizes))
    return profiles.capacity(sizes, body.data, metadata)


@routes.patch("/api/v1/pools/{id}", summary="Change compression, mount options, quotas, label",
              body=PoolUpdate, response=Pool)
async def update_pool(request: web.Request, principal: Principal,
                      body: PoolUpdate) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    return await _pools(request).update(request.match_info["id"], changes)


@routes.delete("/api/v1/pools/{id}", summary="Unmount a pool and free its disks (not wiped)",
               status=204)
async def delete_pool(request: web.Request, principal: Principal) -> None:
    force = request.query.get("force") == "true"
    await _pools(request).delete(request.match_info["id"], force)


@routes.post("/api/v1/pools/{id}/disks", summary="Add, remove (a job) or replace (a job) disks, "
             "or a missing device",
             body=PoolDisks, response=Pool, also={202: JobStarted})
async def pool_disks(request: web.Request, principal: Principal, body: PoolDisks) -> web.Response:
    pool_id, work = request.match_info["id"], _pool_jobs(request)
    if body.add is not None:
        return json_response(await _pools(request).add_disks(pool_id, body.add))
    if body.remove is not None:
        return json_response({"job": work.remove_disks(pool_id, body.remove)}, status=202)
    assert body.replace is not None
    job = work.replace_disk(pool_id, body.replace.old, body.replace.new)
    return json_response({"job": job}, status=202)


@routes.post("/api/v1/pools/{id}/profile", summary="Convert data/metadata profiles (a job)",
             body=ProfileChange, status=202, response=JobStarted)
async def change_profile(request: web.Request, principal: Principal,
                         body: ProfileChange) -> dict[str, Any]:
    return {"job": _pool_jobs(request).convert(request.match_info["id"], body.data,
                                              body.metadata)}


class MountRequest(Model):
    degraded: bool = False


@routes.post("/api/v1/pools/{id}/mount", summary="Mount a pool (degraded: with a disk missing)",
             body=MountRequest, response=Pool)
async def mount_pool(request: web.Request, principal: Principal,
                     body: MountRequest) -> dict[str, Any]:
    return await _pools(request).mount(request.match_info["id"], body.degraded)


@routes.post("/api/v1/pools/{id}/unmount", summary="Unmount a pool, keeping it", response=Pool)
async def unmount_pool(request: web.Request, principal: Principal) -> dict[str, Any]:
    return await _pools(request).unmount(request.match_info["id"])


class BalanceRequest(Model):
    filters: str | None = Field(
        default=None, max_length=256,
        description="btrfs balance filters, space-separated: -d/-m/-s each with usage, devid, "
        "drange, vrange, limit, stripes, convert[,soft] or profiles (`-dusage=50,limit=2`), "
        "and --force (needed with -s); none: a full balance")


class ScrubRequest(Model):
    readonly: bool = False


@routes.post("/api/v1/pools/{id}/balance", summary="Balance a pool (a job)",
             body=BalanceRequest, status=202, response=JobStarted)
async def balance_pool(request: web.Request, principal: Principal,
                       body: BalanceRequest) -> dict[str, Any]:
    return {"job": _pool_jobs(request).balance(request.match_info["id"], body.filters)}


@routes.post("/api/v1/pools/{id}/scrub", summary="Scrub a pool: read and check every copy (a job)",
             body=ScrubRequest, status=202, response=JobStarted)
async def scrub_pool(request: web.Request, principal: Principal,
                     body: ScrubRequest) -> dict[str, Any]:
    return {"job": _pool_jobs(request).scrub(request.match_info["id"], body.readonly)}


class ResizeRequest(Model):
    disk: DiskId
    size: int | None = Field(default=None, ge=256 << 20, description="bytes; omitted: all")


@routes.post("/api/v1/pools/{id}/resize", summary="Resize btrfs on one of the pool's disks "
             "(a job)", body=ResizeRequest, status=202, response=JobStarted)
async def resize_pool(request: web.Request, principal: Principal,
                      body: ResizeRequest) -> dict[str, Any]:
    return {"job": _pool_jobs(request).resize(request.match_info["id"], body.disk, body.size)}


class DedupRequest(Model):
    shares: list[str] | None = Field(
        default=None, min_length=1, max_length=1000,
        description="share ids of this pool; left out: the whole pool (its snapshots and "
        "read-only shares left alone)")


@routes.post("/api/v1/pools/{id}/trim", summary="Trim a pool's free space: fstrim (a job)",
             status=202, response=JobStarted)
async def trim_pool(request: web.Request, principal: Principal) -> dict[str, Any]:
    return {"job": _pool_jobs(request).trim(request.match_info["id"])}


@routes.post("/api/v1/pools/{id}/dedup", summary="Deduplicate shares of a pool, or all of it: "
             "duperemove (a job)", body=DedupRequest, status=202, response=JobStarted)
async def dedup_pool(request: web.Request, principal: Principal,
                     body: DedupRequest) -> dict[str, Any]:
    return {"job": _pool_jobs(request).dedup(request.match_info["id"], body.shares)}
