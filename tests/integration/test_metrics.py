"""GET /metrics: Prometheus text from a daemon with a real pool."""

from prometheus_client.parser import text_string_to_metric_families


async def test_metrics_need_a_read_token_and_describe_pools(rockd):
    box = await rockd(devices=2)
    daemon, api = box.daemon, box.api
    _, pool = await api.call("POST", "/api/v1/pools", {
        "name": "watched", "disks": box.disks, "data": "raid1"})
    anonymous = box.client()
    token = box.client(token=await api.make_token(["read"], "prometheus"))
    async with anonymous.session.get(box.url + "/metrics") as response:
        assert response.status == 401
    async with api.session.get(box.url + "/metrics") as response:
        assert response.status == 401  # a browser session is not a scraper
    async with token.session.get(box.url + "/metrics",
                                 headers=token.headers("GET")) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    size = {s.labels["name"]: s.value for s in families["rockd_pool_size_bytes"].samples}
    assert size == {"watched": pool["usage"]["size"]}
    errors = families["rockd_device_errors"].samples
    assert {s.labels["devid"] for s in errors} == {"1", "2"} and all(s.value == 0 for s in errors)
    assert 0 < families["rockd_revisions"].samples[0].value <= daemon.tree.rev
    latency = families["rockd_http_request_duration_seconds"].samples
    assert any(s.labels.get("route") == "/api/v1/pools" for s in latency)


async def test_metrics_public_needs_no_token(rockd):
    box = await rockd(devices=1)
    daemon = box.daemon
    daemon.settings.metrics_public = True
    anonymous = box.client()
    async with anonymous.session.get(box.url + "/metrics") as response:
        assert response.status == 200
        assert "rockd_stream_subscribers" in await response.text()
