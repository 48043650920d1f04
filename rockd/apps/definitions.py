"""App definitions (the catalog): their schema, their checks, and where they are read from.

A definition is one JSON file; its format is `Definition` below (documented for authors in
catalog/README.md, and as a JSON schema by `python -m rockd.apps.definitions`). The built-in
catalog is the `catalog/` folder beside this module; `--apps-catalog DIR` adds the user's own,
which may also replace a built-in one of the same name. A file that does not parse or does not
pass every check is left out of the catalog, and the reason is kept (`Catalog.problems`): a bad
definition is refused whole, never used in part.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

log = logging.getLogger(__name__)

BUILT_IN = Path(__file__).with_name("catalog")

APP_NAME = r"^[a-z0-9][a-z0-9-]{0,30}$"
CONTAINER_NAME = r"^[a-z0-9][a-z0-9-]{0,30}$"
# an image reference without its tag: [registry[:port]/]path, as the Docker engine accepts it
IMAGE = (r"^(?:(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)(?::[0-9]{1,5})?/"
         r"|[a-zA-Z0-9-]+:[0-9]{1,5}/)?"
         r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
CONTAINER_PATH = r"^/[^\x00:,]{0,255}$"
DEVICE_PATH = r"^/dev/[A-Za-z0-9_./-]{1,120}$"
URL = r"^https?://[^\s]{1,250}$"

Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Arg = Annotated[str, StringConstraints(max_length=1000)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Strict(BaseModel):
    """Every part of a definition: unknown keys are an error, not something ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PortSpec(Strict):
    """A port the container listens on, published on a host port the user may change."""

    container: Port = Field(description="the port inside the container")
    host: Port = Field(description="the host port offered by default")
    protocol: Literal["tcp", "udp"] = "tcp"
    label: Text | None = Field(default=None, description="what the port is for, in words")
    ui: bool = Field(default=False, description="the app's web UI is served here (one port)")
    ui_path: Annotated[str, StringConstraints(pattern=r"^/[^\s]{0,200}$")] = Field(
        default="/", description="the UI's path on that port")
    ui_https: bool = Field(default=False, description="the UI speaks HTTPS on that port")


class VolumeSpec(Strict):
    """A folder of the container that the user maps to one of their shares."""

    container: Annotated[str, StringConstraints(pattern=CONTAINER_PATH)] = Field(
        description="the path inside the container")
    label: Text = Field(description="what the user is asked for, e.g. 'Media library'")
    description: LongText | None = None
    read_only: bool = False


class EnvSpec(Strict):
    """An environment variable: fixed (`value`) or filled in by the user."""

    name: Annotated[str, StringConstraints(pattern=ENV_NAME)]
    label: Text | None = Field(default=None, description="the form's label; none: not asked")
    description: LongText | None = None
    value: Arg | None = Field(default=None, description="a fixed value; the user is not asked")
    default: Arg | None = None
    required: bool = False
    secret: bool = Field(default=False, description="a password: never shown back")
    pattern: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="a regular expression the whole value must match")
    choices: list[Arg] | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> EnvSpec:
        if self.value is not None and (self.label or self.required or self.default is not None):
            raise ValueError(f"{self.name}: a fixed value is not asked for (no label, required "
                             "or default with it)")
        if self.value is None and self.label is None:
            raise ValueError(f"{self.name}: needs a label (to ask for it) or a fixed value")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"{self.name}: pattern is not a regular expression: "
                                 f"{exc}") from None
        if self.default is not None:
            problem = check_value(self, self.default)
            if problem:
                raise ValueError(f"{self.name}: its default {problem}")
        return self


class DeviceSpec(Strict):
    """A host device passed into the container (a GPU for transcoding, a USB stick)."""

    host: Annotated[str, StringConstraints(pattern=DEVICE_PATH)]
    container: Annotated[str, StringConstraints(pattern=DEVICE_PATH)] | None = None
    optional: bool = Field(default=False, description="left out where the host lacks it")


class HealthSpec(Strict):
    """A health check the engine runs in the container (Docker's HEALTHCHECK)."""

    test: list[Arg] = Field(min_length=1, max_length=50,
                            description='["CMD", argv...] or ["CMD-SHELL", "command"]')
    interval: float = Field(default=30, gt=0, le=3600, description="seconds")
    timeout: float = Field(default=10, gt=0, le=3600, description="seconds")
    retries: int = Field(default=3, ge=1, le=100)
    start_period: float = Field(default=0, ge=0, le=3600, description="seconds")

    @model_validator(mode="after")
    def _form(self) -> HealthSpec:
        if self.test[0] not in ("CMD", "CMD-SHELL"):
            raise ValueError('a health test starts with "CMD" or "CMD-SHELL"')
        return self


class ContainerSpec(Strict):
    """One container of an app."""

    name: Annotated[str, StringConstraints(pattern=CONTAINER_NAME)]
    image: Annotated[str, StringConstraints(pattern=IMAGE, max_length=255)] = Field(
        description="the image without its tag, e.g. syncthing/syncthing")
    tag: Annotated[str, StringConstraints(pattern=TAG)] = Field(
        description="the image's tag; a new tag in the catalog is what update installs")
    command: list[Arg] | None = Field(default=None, max_length=100,
                                      description="arguments replacing the image's CMD")
    entrypoint: list[Arg] | None = Field(default=None, max_length=20)
    ports: list[PortSpec] = Field(default_factory=list, max_length=50)
    volumes: list[VolumeSpec] = Field(default_factory=list, max_length=50)
    env: list[EnvSpec] = Field(default_factory=list, max_length=100)
    devices: list[DeviceSpec] = Field(default_factory=list, max_length=20)
    after: list[Annotated[str, StringConstraints(pattern=CONTAINER_NAME)]] = Field(
        default_factory=list, description="containers of this app started before this one")
    network: Literal["bridge", "host"] = Field(
        default="bridge", description="host: the container shares the host's network "
        "(its ports are then the host ports, not remapped)")
    init: bool = Field(default=False, description="run a tiny init as PID 1 (signals, zombies)")
    user: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] | None = None
    health: HealthSpec | None = None

    @model_validator(mode="after")
    def _unique(self) -> ContainerSpec:
        names = [e.name for e in self.env]
        if len(set(names)) != len(names):
            raise ValueError(f"container {self.name}: an environment variable appears twice")
        paths = [v.container for v in self.volumes]
        if len(set(paths)) != len(paths):
            raise ValueError(f"container {self.name}: a volume path appears twice")
        if self.network == "host":
            for port in self.ports:
                if port.host != port.container:
                    raise ValueError(f"container {self.name} uses the host's network: its port "
                                     f"{port.container} cannot be published as {port.host}")
        return self


class Definition(Strict):
    """An app of the catalog: what it is, and the containers that make it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              title="rockd app definition")

    schema_: str | None = Field(default=None, alias="$schema", exclude=True,
                                description="the JSON schema an editor checks the file with")
    name: Annotated[str, StringConstraints(pattern=APP_NAME)] = Field(
        description="the app's name: lower-case letters, digits and '-'")
    title: Text
    description: LongText
    website: Annotated[str, StringConstraints(pattern=URL)]
    containers: list[ContainerSpec] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _whole(self) -> Definition:
        if self.name == "catalog":
            raise ValueError("'catalog' cannot be an app's name (the API's catalog is there)")
        names = [c.name for c in self.containers]
        if len(set(names)) != len(names):
            raise ValueError("two containers have the same name")
        ports: dict[tuple[int, str], str] = {}
        hosts: dict[tuple[int, str], str] = {}
        for c in self.containers:
            for p in c.ports:
                if (p.container, p.protocol) in ports:
                    raise ValueError(f"port {p.container}/{p.protocol} is declared twice")
                ports[p.container, p.protocol] = c.name
                if (p.host, p.protocol) in hosts:
                    raise ValueError(f"host port {p.host}/{p.protocol} is offered twice")
                hosts[p.host, p.protocol] = c.name
        if sum(p.ui for c in self.containers for p in c.ports) > 1:
            raise ValueError("at most one port is the web UI")
        volumes: dict[str, VolumeSpec] = {}
        for c in self.containers:
            for v in c.volumes:
                seen = volumes.setdefault(v.container, v)
                if seen.read_only != v.read_only:
                    raise ValueError(f"volume {v.container} is read-only in one container only")
        env: dict[str, EnvSpec] = {}
        for c in self.containers:
            for e in c.env:
                seen_env = env.setdefault(e.name, e)
                if seen_env != e:
                    raise ValueError(f"environment variable {e.name} is declared differently "
                                     "in two containers")
            for name in c.after:
                if name not in names:
                    raise ValueError(f"container {c.name} starts after {name}, which is not "
                                     "one of this app's containers")
        start_order(self.containers)  # raises on a cycle
        return self

    # -- what the user is asked for, across the app's containers ------------------------------

    def volumes(self) -> dict[str, VolumeSpec]:
        out: dict[str, VolumeSpec] = {}
        for c in self.containers:
            for v in c.volumes:
                out.setdefault(v.container, v)
        return out

    def ports(self) -> list[tuple[ContainerSpec, PortSpec]]:
        return [(c, p) for c in self.containers for p in c.ports]

    def env(self) -> dict[str, EnvSpec]:
        out: dict[str, EnvSpec] = {}
        for c in self.containers:
            for e in c.env:
                out.setdefault(e.name, e)
        return out

    def ordered(self) -> list[ContainerSpec]:
        return start_order(self.containers)

    def public(self) -> dict[str, Any]:
        """As the API shows it."""
        return self.model_dump(mode="json", exclude_none=True)


def start_order(containers: list[ContainerSpec]) -> list[ContainerSpec]:
    """The containers in the order they start: each after those it names in `after`, and
    otherwise in the order the definition lists them."""
    by_name = {c.name: c for c in containers}
    done: list[ContainerSpec] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(c: ContainerSpec) -> None:
        if c.name in placed:
            return
        if c.name in visiting:
            raise ValueError(f"container {c.name} starts after itself (a cycle in 'after')")
        visiting.add(c.name)
        for name in c.after:
            if name in by_name:
                place(by_name[name])
        visiting.discard(c.name)
        placed.add(c.name)
        done.append(c)

    for c in containers:
        place(c)
    return done


def check_value(spec: EnvSpec, value: str) -> str | None:
    """What is wrong with `value` for this variable, in words; None when it is right."""
    if len(value) > 1000:
        return "is too long (at most 1000 characters)"
    if "\x00" in value:
        return "holds a NUL character"
    if spec.choices is not None and value not in spec.choices:
        return f"must be one of {', '.join(spec.choices)}"
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        return f"must match {spec.pattern}"
    return None


def reason(exc: ValidationError | ValueError) -> str:
    """A validation error in one line per problem, each with where it is."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    lines = []
    for e in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


def parse(text: str | bytes, source: str = "definition") -> Definition:
    """A definition from JSON text; ValueError with the reason when it is not a valid one."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source} is not JSON: {exc}") from None
    try:
        return Definition.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{source}: {reason(exc)}") from None


def json_schema() -> dict[str, Any]:
    """The definition format as a JSON schema (draft 2020-12), for editors and other tools."""
    schema = Definition.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


class Catalog:
    """The definitions that can be installed, read from the built-in folder and the user's."""

    def __init__(self, extra: Path | None = None, built_in: Path = BUILT_IN):
        self.folders = [built_in] + ([extra] if extra is not None else [])
        self.definitions: dict[str, Definition] = {}
        self.sources: dict[str, str] = {}
        self.problems: list[dict[str, str]] = []

    def load(self) -> Catalog:
        """Read every folder again (cheap: a few small files), keeping what passes."""
        definitions: dict[str, Definition] = {}
        sources: dict[str, str] = {}
        problems: list[dict[str, str]] = []
        for folder in self.folders:
            try:
                files = sorted(p for p in folder.iterdir() if p.suffix == ".json")
            except OSError as exc:
                if folder is not self.folders[0] and not folder.exists():
                    problems.append({"file": str(folder), "app": "",
                                     "error": f"the catalog folder cannot be read: {exc}"})
                    continue
                problems.append({"file": str(folder), "app": "", "error": str(exc)})
                continue
            for path in files:
                try:
                    definition = parse(path.read_bytes(), path.name)
                except (OSError, ValueError) as exc:
                    problems.append({"file": str(path), "app": path.stem, "error": str(exc)})
                    continue
                if definition.name != path.stem:
                    problems.append({"file": str(path), "app": path.stem, "error":
                                     f"{path.name}: the file of app {definition.name} must be "
                                     f"named {definition.name}.json"})
                    continue
                definitions[definition.name] = definition  # the user's folder wins
                sources[definition.name] = str(path)
        for problem in problems:
            if problem not in self.problems:
                log.warning("app definition refused: %s", problem["error"])
        self.definitions, self.sources, self.problems = definitions, sources, problems
        return self

    def get(self, name: str) -> Definition | None:
        return self.definitions.get(name)

    def problem_of(self, name: str) -> str | None:
        for problem in self.problems:
            if problem["app"] == name:
                return problem["error"]
        return None


if __name__ == "__main__":  # python -m rockd.apps.definitions [--check FILE...]
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        failed = 0
        for name in sys.argv[2:]:
            try:
                parse(Path(name).read_bytes(), name)
                print(f"{name}: ok")
            except ValueError as exc:
                print(exc)
                failed = 1
        sys.exit(failed)
    print(json.dumps(json_schema(), indent=2))
