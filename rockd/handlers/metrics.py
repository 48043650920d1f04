"""GET /metrics: Prometheus text, read from the state tree at scrape time (nothing sampled
in the background), plus request latency measured by a middleware."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rockd.core.errors import Unauthorized
from rockd.handlers.context import CONTEXT, Context
from rockd.handlers.routes import Routes, authorise

routes = Routes()

REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
LATENCY = web.AppKey("request_latency", Histogram)


class TreeCollector(Collector):
    """Pools, devices, jobs and the stream, as the tree shows them at the moment of a scrape."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        tree = self.ctx.tree
        labels = ["pool", "name"]
        size = GaugeMetricFamily("rockd_pool_size_bytes", "Raw size of the pool's devices",
                                 labels=labels)
        used = GaugeMetricFamily("rockd_pool_used_bytes", "Raw bytes in use", labels=labels)
        free = GaugeMetricFamily("rockd_pool_free_bytes", "Estimated free bytes for data",
                                 labels=labels)
        mounted = GaugeMetricFamily("rockd_pool_mounted", "1 if mounted", labels=labels)
        degraded = GaugeMetricFamily("rockd_pool_degraded", "1 if a device is missing",
                                     labels=labels)
        errors = CounterMetricFamily("rockd_device_errors", "btrfs device error counters",
                                     labels=["pool", "devid", "kind"])
        for pool in (tree.get("/pools") or {}).values():
            key = [pool["id"], pool["name"]]
            mounted.add_metric(key, float(pool["mounted"]))
            degraded.add_metric(key, float(pool["degraded"]))
            if pool["usage"]:
                size.add_metric(key, pool["usage"]["size"])
                used.add_metric(key, pool["usage"]["used"])
                free.add_metric(key, pool["usage"]["free_estimate"])
            for device in pool["devices"]:
                for kind, count in (device["errors"] or {}).items():
                    errors.add_metric([pool["id"], str(device["devid"]), kind], count)
        yield from (size, used, free, mounted, degraded, errors)

        jobs = GaugeMetricFamily("rockd_jobs", "Jobs by kind and state", labels=["kind", "state"])
        for (kind, state), count in Counter(
                (j["kind"], j["state"]) for j in (tree.get("/jobs") or {}).values()).items():
            jobs.add_metric([kind, state], count)
        yield jobs
        yield GaugeMetricFamily("rockd_stream_subscribers", "Stream subscriptions open",
                                value=self.ctx.bus.subscriber_count)
        yield CounterMetricFamily("rockd_revisions", "Revisions of the state tree (rate() of "
                                  "it is events per second)", value=tree.rev)


def install(app: web.Application, ctx: Context) -> None:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(TreeCollector(ctx))
    app[REGISTRY] = registry
    app[LATENCY] = Histogram("rockd_http_request_duration_seconds", "HTTP request latency",
                             ["method", "route"], registry=registry)


@web.middleware
async def timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        if LATENCY in request.app and not request.path.endswith("/stream"):
            request.app[LATENCY].labels(request.method, route).observe(
                time.perf_counter() - started)


@routes.get("/metrics", summary="Prometheus metrics (a read token, or --metrics-public)",
            public=True, content_type=CONTENT_TYPE_LATEST.partition(";")[0])
async def metrics(request: web.Request) -> web.Response:
    if not request.app[CONTEXT].settings.metrics_public:
        principal = authorise(request, "GET")
        if principal.via != "token":
            raise Unauthorized("/metrics needs an API token with the read scope",
                               code="token_required")
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
