"""Installed apps and the Docker engine under them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from rockd.core.resources.fields import Id, Time


class AppContainer(TypedDict):
    name: str
    id: str | None
    image: str | None
    state: str
    health: str | None
    started: str | None
    finished: str | None
    exit_code: int | None
    restarts: int


class AppPort(TypedDict):
    container: int
    host: int
    protocol: Literal["tcp", "udp"]
    label: str | None
    ui: bool
    container_name: str


class AppUi(TypedDict):
    scheme: Literal["http", "https"]
    port: int
    path: str
    url: str


class AppVolume(TypedDict):
    container: str
    label: str
    share: Id | None
    share_name: str | None
    read_only: bool


class App(TypedDict):
    """/apps/{name}: an installed app, its containers as the Docker engine shows them."""

    name: str
    title: str
    description: str
    website: str
    state: str
    health: str | None
    job: Id | None
    containers: dict[str, AppContainer]
    ports: list[AppPort]
    volumes: list[AppVolume]
    env: Annotated[dict[str, str], Field(description="its settings, secrets left out")]
    ui: AppUi | None
    tags: dict[str, str]
    installed: Time | None
    updated: Time | None
    update_available: bool


class AppsEngine(TypedDict):
    state: str
    socket: str
    version: str | None
    api_version: str | None
    since: Time | None
    error: str | None
    reconnects: int
    registry: Annotated[str | None, Field(
        description="where images naming no registry are pulled from; null: Docker Hub")]
