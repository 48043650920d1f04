"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document naming every route the server has."""

from openapi_spec_validator import validate
from openapi_spec_validator.versions import consts as versions
from openapi_spec_validator.versions.shortcuts import get_spec_version

from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import ROUTE_TABLE


async def test_openapi_is_valid_31_and_complete(rockd):
    box = await rockd()
    daemon, api = box.daemon, box.api
    status, document = await api.call("GET", "/api/v1/openapi.json")
    assert status == 200
    assert get_spec_version(document) == versions.OPENAPIV31
    validate(document)
    app = daemon.runner.app
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
        and (route.resource.canonical.startswith("/api/")
             or route.resource.canonical == "/metrics")
    }
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert served == documented
    assert app[CONTEXT] is daemon.context


async def test_request_schemas_are_the_validating_models(rockd):
    api = (await rockd()).api
    _, document = await api.call("GET", "/api/v1/openapi.json")
    schemas = document["components"]["schemas"]
    token = schemas["TokenCreate"]
    assert token["required"] == ["name", "scopes"]
    assert token["properties"]["scopes"]["items"]["enum"] == ["read", "write"]
    assert token["additionalProperties"] is False
    assert token["properties"]["name"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    body = document["paths"]["/api/v1/tokens"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokenCreate"}
    assert document["paths"]["/api/v1/health"]["get"]["security"] == []
    errors = document["paths"]["/api/v1/tokens"]["post"]["responses"]
    assert {"400", "401", "403", "413"} <= set(errors)


async def test_metrics_are_documented_as_the_text_they_are(rockd):
    box = await rockd()
    api = box.api
    _, document = await api.call("GET", "/api/v1/openapi.json")
    documented = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    scraper = box.client(token=await api.make_token(["read"], "scraper"))
    async with scraper.session.get(box.url + "/metrics",
                                   headers=scraper.headers("GET")) as response:
        assert response.status == 200
        assert list(documented) == [response.content_type] == ["text/plain"]
    assert documented["text/plain"]["schema"] == {"type": "string"}


async def test_every_route_declares_what_it_answers(rockd):
    """A route that answers a JSON body names its type (a model or a resource of
    rockd.core.resources), which the document shows; only 204s, the websocket and /metrics'
    text have none."""
    daemon = (await rockd(login=False)).daemon
    undeclared = sorted(
        f"{route.method} {route.path}" for route in daemon.runner.app[ROUTE_TABLE]
        if route.response is None and route.status != 204 and not route.websocket
        and route.content_type == "application/json")
    assert undeclared == []


async def test_resources_are_documented_as_their_types(rockd):
    api = (await rockd()).api
    _, document = await api.call("GET", "/api/v1/openapi.json")
    system = document["paths"]["/api/v1/system"]["get"]["responses"]["200"]["content"]
    assert system["application/json"]["schema"] == {"$ref": "#/components/schemas/System"}
    schemas = document["components"]["schemas"]
    assert schemas["System"]["additionalProperties"] is False
    assert set(schemas["System"]["required"]) == {"hostname", "kernel", "boot_time", "started",
                                                  "versions"}
    assert schemas["Metrics"]["properties"]["cpu"]["description"] == (
        "busy fraction of all CPUs, 0..1")
    disks = document["paths"]["/api/v1/pools/{id}/disks"]["post"]["responses"]
    assert {status: answer["content"]["application/json"]["schema"]["$ref"].rsplit("/")[-1]
            for status, answer in disks.items() if status.startswith("2")} == {
        "200": "Pool", "202": "JobStarted"}
    # two types of one name would be told apart by their modules' paths (a__b__Name)
    assert [name for name in schemas if "__" in name] == []
