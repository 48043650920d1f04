"""Apps (Rock-ons): the catalog, installing, the verbs on an installed app, uninstalling."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, StringConstraints

from rockd.apps import images
from rockd.apps.apps import Apps
from rockd.apps.definitions import APP_NAME, Definition
from rockd.core.auth import Principal
from rockd.core.models import Model
from rockd.core.resources import App, AppsEngine, JobStarted
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes, json_response

routes = Routes()

AppName = Annotated[str, StringConstraints(pattern=APP_NAME)]
ContainerPath = Annotated[str, StringConstraints(pattern=r"^/[^\x00:,]{0,255}$")]
PortKey = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,5}(/(tcp|udp))?$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


class AppInstall(Model):
    app: AppName = Field(description="the catalog name of the app")
    volumes: dict[ContainerPath, str] = Field(
        default_factory=dict, description="container path -> share id, for every volume")
    ports: dict[PortKey, Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=dict, description='container port ("80" or "53/udp") -> host port; '
        "the definition's default host port where left out")
    env: dict[EnvName, Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=dict, description="values of the variables the definition asks for")


class RegistrySetting(Model):
    registry: Annotated[str, StringConstraints(pattern=images.REGISTRY, max_length=255)] | None = (
        Field(description="a registry mirroring Docker Hub (HOST[:PORT][/PATH]): images that "
              "name no registry are pulled from there, official ones under library/; null: "
              "Docker Hub itself"))


class CatalogProblem(Model):
    """A definition file left out of the catalog."""

    file: str
    app: str
    error: str


def _apps(request: web.Request) -> Apps:
    return request.app[CONTEXT].apps


@routes.get("/api/v1/apps/catalog", summary="The app definitions that can be installed",
            response=list[Definition])
async def list_catalog(request: web.Request, principal: Principal) -> list[Any]:
    return _apps(request).catalog_list()


@routes.get("/api/v1/apps/catalog/problems",
            summary="Definition files left out of the catalog, each with the reason",
            response=list[CatalogProblem])
async def catalog_problems(request: web.Request, principal: Principal) -> list[Any]:
    return _apps(request).catalog_problems()


@routes.post("/api/v1/apps/catalog/check", summary="Check an app definition against the schema "
             "(nothing is stored): 200 with it as read, or 400 with every problem",
             body=Definition, response=Definition)
async def check_definition(request: web.Request, principal: Principal,
                           body: Definition) -> dict[str, Any]:
    return body.public()


@routes.get("/api/v1/apps", summary="The installed apps, with their containers' states",
            response=list[App])
async def list_apps(request: web.Request, principal: Principal) -> list[Any]:
    return _apps(request).installed()


@routes.get("/api/v1/apps/{name}", summary="One installed app", response=App)
async def get_app(request: web.Request, principal: Principal) -> dict[str, Any]:
    return _apps(request).get(request.match_info["name"])


@routes.post("/api/v1/apps", summary="Install an app from the catalog (a job)", body=AppInstall,
             status=202, response=JobStarted)
async def install_app(request: web.Request, principal: Principal,
                      body: AppInstall) -> dict[str, Any]:
    job = _apps(request).install(body.app, body.volumes, body.ports, body.env)
    return {"job": job}


@routes.post("/api/v1/apps/{name}/start", summary="Start an app's containers, in order",
             response=App)
async def start_app(request: web.Request, principal: Principal) -> dict[str, Any]:
    return await _apps(request).act(request.match_info["name"], "start")


@routes.post("/api/v1/apps/{name}/stop", summary="Stop an app's containers, in reverse order",
             response=App)
async def stop_app(request: web.Request, principal: Principal) -> dict[str, Any]:
    return await _apps(request).act(request.match_info["name"], "stop")


@routes.post("/api/v1/apps/{name}/restart", summary="Restart an app's containers", response=App)
async def restart_app(request: web.Request, principal: Principal) -> dict[str, Any]:
    return await _apps(request).act(request.match_info["name"], "restart")


@routes.post("/api/v1/apps/{name}/update", summary="Pull the catalog's images for the app and "
             "recreate its containers, keeping its shares and values (a job)", status=202,
             response=JobStarted)
async def update_app(request: web.Request, principal: Principal) -> web.Response:
    return json_response({"job": _apps(request).update(request.match_info["name"])},
                         status=202)


@routes.delete("/api/v1/apps/{name}", summary="Uninstall an app: its containers are removed, "
               "its shares and their data are kept (a job)", status=202, response=JobStarted)
async def uninstall_app(request: web.Request, principal: Principal) -> web.Response:
    return json_response({"job": _apps(request).uninstall(request.match_info["name"])},
                         status=202)


@routes.route("PUT", "/api/v1/apps-engine/registry",
              summary="Where images that name no registry are pulled from: a mirror of Docker "
              "Hub, checked to answer as a registry (422 where not)",
              body=RegistrySetting, response=AppsEngine)
async def set_registry(request: web.Request, principal: Principal,
                       body: RegistrySetting) -> dict[str, Any]:
    apps = _apps(request)
    await apps.set_registry(body.registry)
    return apps.engine_state()


@routes.post("/api/v1/apps-engine/images",
             summary="Load the images of a `docker save` tar file into the Docker engine (a "
             "job; the file is streamed, up to the size rockd is set to take)",
             upload="application/octet-stream", status=202, response=JobStarted)
async def load_image(request: web.Request, principal: Principal) -> web.Response:
    apps = _apps(request)
    apps.require_engine()
    path = await images.receive(request.content, apps.settings.state_dir / images.UPLOADS,
                                apps.settings.apps_image_max, request.content_length)
    try:
        job = apps.jobs.start("app_image_load", path.stem, {"file": str(path)})
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return json_response({"job": job}, status=202)
