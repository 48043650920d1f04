"""rockctl without a daemon: sizes, the configuration file and its mode, matching requests to
the OpenAPI document, shell completion, and that it is a client that imports nothing of rockd."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from rockctl import openapi
from rockctl.config import ConfigError, load
from rockctl.output import human_size, parse_size
from tests.support.process import VENV_BIN

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token-value"


@pytest.mark.parametrize(("text", "size"), [
    ("1T", 1 << 40), ("1t", 1 << 40), ("1TiB", 1 << 40), ("1 TB", 1 << 40),
    ("1.5G", 3 << 29), ("512M", 512 << 20), ("4096", 4096), ("10B", 10), ("2k", 2048)])
def test_sizes_are_in_units_of_1024(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "1X", "-1G", "1.2.3G", "G", "1 T B"])
def test_a_size_that_is_none_is_refused(text):
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_sizes_are_shown_as_people_read_them():
    assert human_size(1 << 40) == "1 TiB"
    assert human_size(3 << 29) == "1.5 GiB"
    assert human_size(None) == "-"


def _config(tmp_path, monkeypatch, text: str, mode: int) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    for name in ("ROCKCTL_URL", "ROCKCTL_TOKEN", "ROCKCTL_CA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ROCKCTL_CONFIG", str(path))
    return path


def test_a_token_others_can_read_is_refused_in_words(tmp_path, monkeypatch):
    path = _config(tmp_path, monkeypatch, f'token = "{TOKEN}"\n', 0o640)
    with pytest.raises(ConfigError) as refused:
        load()
    said = str(refused.value)
    assert "other users can read it (mode 0640)" in said and f"chmod 600 {path}" in said
    assert TOKEN not in said
    path.chmod(0o600)
    assert load().token == TOKEN
    assert TOKEN not in repr(load())


def test_options_then_the_environment_then_the_file(tmp_path, monkeypatch):
    _config(tmp_path, monkeypatch, 'url = "http://nas:8470/"\n', 0o644)  # no token: may be read
    assert load().url == "http://nas:8470"
    monkeypatch.setenv("ROCKCTL_URL", "https://env:1")
    monkeypatch.setenv("ROCKCTL_TOKEN", "from-env")
    assert (load().url, load().token) == ("https://env:1", "from-env")
    assert load(url="http://flag:2", token="t").url == "http://flag:2"
    with pytest.raises(ConfigError, match="must start with http"):
        load(url="nas:8470")


@pytest.mark.parametrize(("text", "said"), [
    ('url = "x"\nwho = 1\n', "unknown settings: who"), ("url = [", "not valid TOML"),
    ("url = 1", "url in the configuration file")])
def test_a_bad_file_is_said_in_words(tmp_path, monkeypatch, text, said):
    _config(tmp_path, monkeypatch, text, 0o600)
    with pytest.raises(ConfigError, match=said):
        load()


def test_a_named_file_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("ROCKCTL_CONFIG", str(tmp_path / "none.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load()


DOCUMENT = {
    "paths": {
        "/api/v1/pools/{id}": {"get": {}, "delete": {}},
        "/api/v1/pools/capacity": {"post": {"requestBody": {"required": True, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Capacity"}}}}}},
        "/api/v1/state": {"get": {"parameters": [{"name": "path", "in": "query"}]}},
    },
    "components": {"schemas": {"Capacity": {
        "type": "object", "required": ["sizes"], "additionalProperties": False,
        "properties": {"sizes": {"type": "array", "items": {"type": "integer"}}}}}},
}


def test_requests_are_matched_to_the_document():
    assert openapi.operation(DOCUMENT, "POST", "/api/v1/pools/capacity")[0] \
        == "/api/v1/pools/capacity"  # a literal segment wins over a parameter
    assert openapi.operation(DOCUMENT, "get", "/api/v1/pools/abc")[0] == "/api/v1/pools/{id}"
    openapi.validate_request(DOCUMENT, "POST", "/api/v1/pools/capacity", {"sizes": [1]})
    openapi.validate_request(DOCUMENT, "GET", "/api/v1/state?path=/pools", None)
    for method, target, body, said in [
        ("GET", "/api/v1/disks", None, "no path"),
        ("PUT", "/api/v1/pools/abc", None, "it has DELETE, GET"),
        ("POST", "/api/v1/pools/capacity", None, "needs a JSON body"),
        ("POST", "/api/v1/pools/capacity", {"sizes": ["x"]}, "sizes/0: 'x' is not of type"),
        ("POST", "/api/v1/pools/capacity", {"sizes": [], "x": 1}, "Additional properties"),
        ("GET", "/api/v1/pools/abc", {}, "takes no body"),
        ("GET", "/api/v1/state?depth=1", None, "no query parameter depth"),
    ]:
        with pytest.raises(openapi.Invalid, match=said):
            openapi.validate_request(DOCUMENT, method, target, body)


def test_the_check_names_what_the_document_lacks():
    uses = [("a", openapi.use("post", "/api/v1/pools/capacity", body=["sizes", "disks"])),
            ("b", openapi.use("get", "/api/v1/state", query=["path", "depth"])),
            ("c", openapi.use("get", "/api/v1/state", undocumented=["path"])),
            ("d", openapi.use("patch", "/api/v1/pools/{id}"))]
    assert openapi.check(DOCUMENT, uses) == [
        "a: POST /api/v1/pools/capacity has no body field disks",
        "b: GET /api/v1/state documents no query parameter depth",
        "c: GET /api/v1/state now documents path: move it from undocumented to query",
        "d: PATCH /api/v1/pools/{id} is not in the document"]


def _rockctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "rockctl"), *args], capture_output=True, text=True,
                          timeout=30, check=False)


def test_the_bash_completion_script_is_valid_bash(tmp_path):
    done = _rockctl("completion", "bash")
    assert done.returncode == 0
    script = tmp_path / "rockctl.bash"
    script.write_text(done.stdout)
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    for word in ("pools", "snapshot", "watch", "--quota"):
        assert word in done.stdout
    assert subprocess.run(["bash", "-c", f"source {script} && complete -p rockctl"],
                          capture_output=True, check=False).returncode == 0


def test_usage_errors_exit_2():
    assert _rockctl("share", "create", "no-slash").returncode == 2
    assert _rockctl("completion", "fish").returncode == 2


def test_rockctl_imports_nothing_of_rockd():
    for path in (ROOT / "rockctl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.split(".")[0] == "rockd"], path
