"""App definitions: the built-in catalog, the schema's checks, what a bad file is refused for,
the start order, and how an install's choices are checked (no engine needed)."""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path

import jsonschema
import pytest

from rockd.apps.apps import Apps
from rockd.apps.choices import port_free
from rockd.apps.definitions import (
    BUILT_IN,
    Catalog,
    Definition,
    check_value,
    json_schema,
    parse,
)
from rockd.cli import parser, settings_from
from rockd.config import Settings
from rockd.core.errors import BadRequest, Conflict, NotFound, Unprocessable
from rockd.core.jobs import Jobs
from rockd.core.tree import Tree
from rockd.watchers.inotify import Inotify

SCHEMA_FILE = Path(BUILT_IN).parent / "definition.schema.json"

GOOD = {
    "name": "demo", "title": "Demo", "description": "A demo app.",
    "website": "https://example.org",
    "containers": [
        {"name": "db", "image": "library/postgres", "tag": "16",
         "env": [{"name": "POSTGRES_PASSWORD", "label": "Database password", "secret": True,
                  "required": True}],
         "volumes": [{"container": "/var/lib/postgresql/data", "label": "Database"}]},
        {"name": "web", "image": "registry.example.org:5000/team/web-app", "tag": "v1.2_3",
         "after": ["db"],
         "ports": [{"container": 80, "host": 8080, "ui": True, "ui_path": "/admin"},
                   {"container": 53, "host": 5353, "protocol": "udp"}],
         "volumes": [{"container": "/data", "label": "Data"}],
         "env": [{"name": "LEVEL", "label": "Level", "choices": ["low", "high"],
                  "default": "low"},
                 {"name": "POSTGRES_PASSWORD", "label": "Database password", "secret": True,
                  "required": True},
                 {"name": "FIXED", "value": "1"}],
         "devices": [{"host": "/dev/nosuchdevice", "optional": True}]},
    ],
}


def bad(change) -> str:
    """The reason the definition, changed by `change`, is refused."""
    raw = copy.deepcopy(GOOD)
    change(raw)
    with pytest.raises(ValueError) as caught:
        parse(json.dumps(raw), "demo.json")
    return str(caught.value)


def test_the_built_in_catalog_is_valid_and_matches_the_schema_file():
    catalog = Catalog().load()
    assert catalog.problems == []
    assert {"syncthing", "jellyfin", "static-web"} <= set(catalog.definitions)
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema == json.loads(json.dumps(json_schema())), \
        "regenerate: python -m rockd.apps.definitions > rockd/apps/definition.schema.json"
    for path in BUILT_IN.glob("*.json"):
        jsonschema.validate(json.loads(path.read_text()), schema)
    jsonschema.validate(GOOD, schema)


def test_a_good_definition_reads_whole():
    definition = parse(json.dumps(GOOD))
    assert [c.name for c in definition.ordered()] == ["db", "web"]
    assert set(definition.volumes()) == {"/var/lib/postgresql/data", "/data"}
    assert set(definition.env()) == {"POSTGRES_PASSWORD", "LEVEL", "FIXED"}
    public = definition.public()
    assert "$schema" not in public and public["containers"][1]["ports"][0]["ui"] is True


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d.update(extra=1), "Extra inputs are not permitted"),
    (lambda d: d["containers"][0].update(imagee="x"), "imagee"),
    (lambda d: d.update(name="Bad Name"), "name"),
    (lambda d: d.update(containers=[]), "containers"),
    (lambda d: d.update(website="ftp://x"), "website"),
    (lambda d: d["containers"][0].update(image="UPPER/case"), "image"),
    (lambda d: d["containers"][0].update(tag="-bad"), "tag"),
    (lambda d: d["containers"][1].update(name="db"), "two containers have the same name"),
    (lambda d: d["containers"][1].update(after=["nosuch"]), "nosuch"),
    (lambda d: d["containers"][0].update(after=["web"]), "cycle"),
    (lambda d: d["containers"][1]["ports"].append({"container": 80, "host": 9000}),
     "port 80/tcp is declared twice"),
    (lambda d: d["containers"][1]["ports"].append({"container": 81, "host": 8080}),
     "host port 8080/tcp is offered twice"),
    (lambda d: d["containers"][1]["ports"].append({"container": 81, "host": 81, "ui": True}),
     "at most one port"),
    (lambda d: d["containers"][1]["ports"][0].update(container=70000), "less than or equal"),
    (lambda d: d["containers"][1]["ports"][0].update(protocol="sctp"), "protocol"),
    (lambda d: d["containers"][1].update(network="host"), "cannot be published as"),
    (lambda d: d["containers"][1]["volumes"][0].update(container="relative"), "container"),
    (lambda d: d["containers"][1]["volumes"][0].update(container="/a:/b"), "container"),
    (lambda d: d["containers"][1]["volumes"].append({"container": "/data", "label": "x"}),
     "volume path appears twice"),
    (lambda d: d["containers"][1]["env"][2].update(label="Asked"), "fixed value"),
    (lambda d: d["containers"][1]["env"].append({"name": "NOLABEL"}), "needs a label"),
    (lambda d: d["containers"][1]["env"].append({"name": "RX", "label": "x", "pattern": "("}),
     "not a regular expression"),
    (lambda d: d["containers"][1]["env"][0].update(default="medium"), "must be one of"),
    (lambda d: d["containers"][1]["env"][1].update(secret=False),
     "declared differently in two containers"),
    (lambda d: d["containers"][1]["env"].append({"name": "1BAD", "label": "x"}), "name"),
    (lambda d: d["containers"][1]["devices"].append({"host": "/etc/passwd"}), "host"),
    (lambda d: d["containers"][1].update(health={"test": ["ls"]}), "CMD"),
    (lambda d: d.update(name="catalog"), "cannot be an app's name"),
])
def test_bad_definitions_are_refused_with_the_reason(change, words):
    assert words in bad(change)


def test_not_json_and_misnamed_files_are_problems_and_the_users_folder_wins(tmp_path):
    (tmp_path / "half.json").write_text('{"name": ')
    (tmp_path / "other.json").write_text(json.dumps(GOOD))  # names app "demo"
    mine = json.loads((BUILT_IN / "static-web.json").read_text())
    mine["containers"][0]["tag"] = "1.37"
    (tmp_path / "static-web.json").write_text(json.dumps(mine))
    (tmp_path / "notes.txt").write_text("not a definition")
    catalog = Catalog(tmp_path).load()
    problems = {p["app"]: p["error"] for p in catalog.problems}
    assert "is not JSON" in problems["half"]
    assert "must be named demo.json" in problems["other"]
    assert "demo" not in catalog.definitions
    assert catalog.get("static-web").containers[0].tag == "1.37"
    assert catalog.sources["static-web"] == str(tmp_path / "static-web.json")
    assert catalog.problem_of("half") and catalog.problem_of("static-web") is None


def test_a_missing_users_folder_is_a_problem_not_a_crash(tmp_path):
    catalog = Catalog(tmp_path / "nosuch").load()
    assert catalog.get("syncthing") is not None
    assert catalog.problems[0]["file"] == str(tmp_path / "nosuch")


def test_start_order_follows_after_then_listing():
    raw = copy.deepcopy(GOOD)
    raw["containers"] = [
        {"name": "c", "image": "x", "tag": "1", "after": ["b"]},
        {"name": "a", "image": "x", "tag": "1"},
        {"name": "b", "image": "x", "tag": "1", "after": ["a"]},
        {"name": "d", "image": "x", "tag": "1"},
    ]
    assert [c.name for c in parse(json.dumps(raw)).ordered()] == ["a", "b", "c", "d"]


def test_values_are_checked_against_choices_and_patterns():
    spec = Definition.model_validate(GOOD).env()["LEVEL"]
    assert check_value(spec, "high") is None
    assert "must be one of" in check_value(spec, "mid")
    digits = Definition.model_validate(json.loads(
        (BUILT_IN / "syncthing.json").read_text())).env()["PUID"]
    assert check_value(digits, "1000") is None
    assert "must match" in check_value(digits, "1000; rm -rf /")
    assert "NUL" in check_value(digits, "1\x00")


def test_cli_options():
    args = parser().parse_args(["serve", "--docker-socket", "/run/x.sock",
                                "--apps-catalog", "/srv/apps"])
    settings = settings_from(args)
    assert settings.docker_socket == Path("/run/x.sock")
    assert settings.apps_catalog == Path("/srv/apps")
    assert Settings().docker_socket == Path("/var/run/docker.sock")


# -- an install's choices, checked without an engine ----------------------------------------

@pytest.fixture
def apps(tmp_path):
    share = tmp_path / "mnt" / "tank" / "data"
    share.mkdir(parents=True)
    tree = Tree()
    tree.set("/shares", {"s1": {"id": "s1", "name": "data", "path": str(share)},
                         "s2": {"id": "s2", "name": "away", "path": "/etc"}})
    settings = Settings(state_dir=tmp_path / "state", mount_root=tmp_path / "mnt")
    inotify = Inotify()
    made = Apps(tree, store=None, jobs=Jobs(tree), settings=settings, inotify=inotify)
    made.instance = "test"
    yield made
    inotify.close()


def choose(apps, **choices):
    definition = Definition.model_validate(GOOD)
    values = {"volumes": {"/var/lib/postgresql/data": "s1", "/data": "s1"},
              "ports": {"80": free_tcp(), "53/udp": free_udp()},
              "env": {"POSTGRES_PASSWORD": "pw"}}
    values.update(choices)
    return apps.check_choices("demo", definition, values["volumes"], values["ports"],
                              values["env"])


def free_tcp() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def free_udp() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def test_choices_made_whole(apps):
    chosen = choose(apps)
    assert set(chosen["ports"]) == {"80/tcp", "53/udp"}
    assert chosen["env"] == {"POSTGRES_PASSWORD": "pw", "LEVEL": "low"}


def test_choices_refused(apps):
    with pytest.raises(BadRequest, match="choose a share"):
        choose(apps, volumes={"/data": "s1"})
    with pytest.raises(BadRequest, match="has no volume"):
        choose(apps, volumes={"/data": "s1", "/var/lib/postgresql/data": "s1", "/x": "s1"})
    with pytest.raises(NotFound, match="no share"):
        choose(apps, volumes={"/data": "nosuch", "/var/lib/postgresql/data": "s1"})
    with pytest.raises(Unprocessable, match="not under"):
        choose(apps, volumes={"/data": "s2", "/var/lib/postgresql/data": "s1"})
    with pytest.raises(BadRequest, match="is required"):
        choose(apps, env={})
    with pytest.raises(BadRequest, match="must be one of"):
        choose(apps, env={"POSTGRES_PASSWORD": "pw", "LEVEL": "mid"})
    with pytest.raises(BadRequest, match="fixed by the definition"):
        choose(apps, env={"POSTGRES_PASSWORD": "pw", "FIXED": "2"})
    with pytest.raises(BadRequest, match="has no port"):
        choose(apps, ports={"8080": 9000})
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        with pytest.raises(Conflict, match="already in use") as caught:
            choose(apps, ports={"80": holder.getsockname()[1]})
        assert caught.value.code == "port_in_use"
        assert not port_free(holder.getsockname()[1], "tcp")


def test_ports_held_by_other_apps_are_refused(apps):
    port = free_tcp()
    apps.intents["other"] = {"ports": {"8000/tcp": port}, "volumes": {}, "env": {}}
    with pytest.raises(Conflict, match="used by app other"):
        choose(apps, ports={"80": port})
    assert apps.count_of_share("s1") == 0
    apps.intents["other"]["volumes"] = {"/x": "s1"}
    assert apps.count_of_share("s1") == 1


def test_the_containers_engine_description(apps):
    definition = Definition.model_validate(GOOD)
    record = {"volumes": {"/var/lib/postgresql/data": "s1", "/data": "s1"},
              "ports": {"80/tcp": 18080, "53/udp": 15353},
              "env": {"POSTGRES_PASSWORD": "pw", "LEVEL": "high"}}
    web = definition.containers[1]
    config = apps.create_body("demo", web, record, definition)
    assert config["Image"] == "registry.example.org:5000/team/web-app:v1.2_3"
    assert config["Labels"] == {"rockd.app": "demo", "rockd.container": "web",
                                "rockd.instance": "test"}
    host = config["HostConfig"]
    assert host["RestartPolicy"] == {"Name": "unless-stopped"}
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "18080"}],
                                    "53/udp": [{"HostIp": "", "HostPort": "15353"}]}
    assert host["Mounts"] == [{"Type": "bind", "Source": apps.tree.get("/shares/s1/path"),
                               "Target": "/data", "ReadOnly": False}]
    assert host["Devices"] == []  # the optional device is not on this box
    assert host["NetworkMode"] == "rockd-demo"  # two containers: a network of their own
    assert config["NetworkingConfig"]["EndpointsConfig"]["rockd-demo"]["Aliases"] == ["web"]
    assert sorted(config["Env"]) == ["FIXED=1", "LEVEL=high", "POSTGRES_PASSWORD=pw"]


def test_the_apps_routes_document_as_openapi_31():
    from openapi_spec_validator import validate

    from rockd.handlers import apps as apps_api
    from rockd.handlers.routes import openapi

    document = openapi(apps_api.routes.routes)
    validate(document)
    schemas = document["components"]["schemas"]
    assert schemas["AppInstall"]["additionalProperties"] is False
    assert "$schema" in schemas["Definition"]["properties"]  # the catalog file's own key
    assert set(document["paths"]) >= {"/api/v1/apps", "/api/v1/apps/{name}",
                                      "/api/v1/apps/catalog", "/api/v1/apps/{name}/update"}
    assert "202" in document["paths"]["/api/v1/apps"]["post"]["responses"]


def test_an_update_needing_a_new_choice_is_refused_naming_it(apps, tmp_path):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    apps.catalog = Catalog(catalog)
    apps.watcher.state["state"] = "up"
    old = json.loads(json.dumps(GOOD))
    apps.intents["demo"] = {"app": "demo", "definition": old,
                            "volumes": {"/var/lib/postgresql/data": "s1", "/data": "s1"},
                            "ports": {"80/tcp": 18080, "53/udp": 15353},
                            "env": {"POSTGRES_PASSWORD": "pw"}}
    new = json.loads(json.dumps(GOOD))
    new["containers"][1]["volumes"].append({"container": "/cache", "label": "Cache"})
    (catalog / "demo.json").write_text(json.dumps(new))
    with pytest.raises(BadRequest, match="choose a share for /cache"):
        apps.update("demo")
    assert apps.busy == {}
    with pytest.raises(NotFound):
        apps.update("nosuch")
