"""GET /metrics: Prometheus text, read from the state tree at scrape time (nothing sampled
in the background), plus request latency measured by a middleware. monitoring/ holds the
alerting rules and the Grafana dashboard that read these metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rockd.core.errors import Unauthorized
from rockd.handlers import metrics_health as health
from rockd.handlers import metrics_storage as storage
from rockd.handlers.context import CONTEXT, Context
from rockd.handlers.routes import Routes, authorise

routes = Routes()

REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
LATENCY = web.AppKey("request_latency", Histogram)


class TreeCollector(Collector):
    """The state tree as it is at the moment of a scrape: storage (metrics_storage), health
    (metrics_health), and the stream."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        tree = self.ctx.tree
        tree_pools = tree.get("/pools") or {}
        tree_jobs = tree.get("/jobs") or {}
        yield from storage.pools(tree_pools)
        yield from storage.shares(tree.get("/shares") or {}, tree_pools)
        yield from storage.scrubs(tree_jobs, tree_pools)
        yield from storage.disks(tree.get("/disks") or {})
        yield from health.jobs(tree_jobs)
        yield from health.replication(tree.get("/replication") or {})
        yield from health.services(tree.get("/services") or {})
        yield from health.alerts(tree.get("/alerts") or {})
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
