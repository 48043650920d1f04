"""smb.conf as rockd renders it, what may go into it, previous-version links, and a failed
apply that puts the live file back."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rockd.config import Settings
from rockd.core.errors import BadRequest, InvalidName, Unprocessable
from rockd.core.models import validate
from rockd.core.tree import Tree
from rockd.services.previous import gmt_token, link_targets, sync_previous
from rockd.services.samba import (
    SambaKind,
    SmbCreate,
    SmbUpdate,
    normal,
    render,
    safe_path,
    valid_comment,
    valid_share_name,
)

needs_samba = pytest.mark.skipif(shutil.which("testparm") is None,
                                 reason="Samba is not installed")


def export(**fields) -> dict:
    record = {"id": "0a1b2c3d", "kind": "smb", "share": "s-1", "share_name": "data",
              "path": "/mnt/tank/data", **fields}
    return normal(record)


def settings(tmp_path: Path, samba_dir: Path | None = None) -> Settings:
    return Settings(state_dir=tmp_path / "state", mount_root=tmp_path / "mnt",
                    samba_dir=samba_dir or tmp_path / "samba", smb_port=4450)


def sections(text: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = found.setdefault(line[1:-1], {})
        else:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return found


def test_render_a_private_instance(tmp_path):
    text = render(settings(tmp_path), [
        export(comment="Team files", valid_users=["alice", "bob"], valid_groups=["staff"]),
        export(id="ffff0000", share="s-2", share_name="pub", path="/mnt/tank/pub",
               name="Public $", guest_ok=True, read_only=True, browseable=False,
               previous_versions=False)])
    assert text.startswith("# rockd: ")
    conf = sections(text)
    assert list(conf) == ["global", "data", "Public $"]
    g = conf["global"]
    assert (g["smb ports"], g["passdb backend"], g["map to guest"]) == ("4450", "tdbsam",
                                                                        "bad user")
    for key in ("private dir", "lock directory", "state directory", "cache directory",
                "pid directory", "ncalrpc dir"):
        assert g[key].startswith(str(tmp_path / "samba") + "/"), key
    assert g["log file"].startswith(str(tmp_path / "samba" / "log"))
    assert (g["interfaces"], g["bind interfaces only"]) == ("lo", "yes")
    data = conf["data"]
    assert data == {
        "path": "/mnt/tank/data", "comment": "Team files", "browseable": "yes",
        "read only": "no", "guest ok": "no", "valid users": "alice bob @staff",
        "vfs objects": "btrfs shadow_copy2", "shadow:mountpoint": "/mnt/tank/data",
        "shadow:snapdir": "/mnt/tank/.snapshots/.previous-versions/data",
        "shadow:format": "@GMT-%Y.%m.%d-%H.%M.%S", "shadow:sort": "desc",
        "shadow:localtime": "no"}
    pub = conf["Public $"]
    assert (pub["guest ok"], pub["read only"], pub["browseable"]) == ("yes", "yes", "no")
    assert "valid users" not in pub and "comment" not in pub
    assert pub["vfs objects"] == "btrfs"


def test_render_for_the_system_samba(tmp_path):
    text = render(settings(tmp_path, Path("/etc/samba")), [])
    g = sections(text)["global"]
    assert "private dir" not in g and "interfaces" not in g
    assert g["map to guest"] == "never" and g["log file"] == "/var/log/samba/log.%m"


@needs_samba
def test_testparm_takes_what_is_rendered(tmp_path):
    for name in ("private", "lock", "state", "cache", "pid", "ncalrpc", "log"):
        (tmp_path / "samba" / name).mkdir(parents=True)
    conf = tmp_path / "smb.conf"
    conf.write_text(render(settings(tmp_path), [export(valid_groups=["staff"]),
                                                export(id="1", name="b", guest_ok=True)]))
    result = subprocess.run(["testparm", "-s", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0 and "Unknown parameter" not in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["x\n[global]", "a[b", "a]b", "50%", "%m", "back\\slash",
                                  "", " lead", "trail ", "a" * 81, "global", "IPC$",
                                  "a$b", "tab\there", "a/b", "a:b"])
def test_share_names_refused(name):
    assert not valid_share_name(name)
    with pytest.raises(InvalidName):
        validate(SmbCreate, {"share": "s", "name": name})


@pytest.mark.parametrize("name", ["data", "Team Files", "hidden$", "a", "x.y-z_1",
                                  "a" * 80])
def test_share_names_taken(name):
    assert valid_share_name(name)


@pytest.mark.parametrize("comment", ["a\nb", "a\rb", "%U", "[x]", "ends\\", "a" * 257,
                                     "bell\x07"])
def test_comments_refused(comment):
    assert not valid_comment(comment)
    with pytest.raises(BadRequest):
        validate(SmbUpdate, {"comment": comment})


def test_paths_and_values():
    assert safe_path("/mnt/tank/My Share")
    for bad in ("/mnt/tank/a%b", "/mnt/tank/a\nb", "/mnt/tank/a\\", "relative", "/a "):
        assert not safe_path(bad)
    with pytest.raises(Unprocessable):
        render(Settings(), [export(path="/mnt/tank/a\n[x]")])
    with pytest.raises(Unprocessable):
        render(Settings(), [export(name="a\nb")])


def test_models_defaults_and_strictness():
    body = validate(SmbCreate, {"share": "s"}).model_dump()
    assert body == {"share": "s", "name": None, "comment": "", "browseable": True,
                    "read_only": False, "guest_ok": False, "valid_users": [],
                    "valid_groups": [], "previous_versions": True}
    for bad in ({"share": "s", "extra": 1}, {"share": "s", "read_only": "no"},
                {"share": "s", "valid_users": ["a b"]}):
        with pytest.raises(BadRequest):
            validate(SmbCreate, bad)
    assert normal({"share_name": "data", "name": None, "comment": None})["name"] == "data"
    assert SambaKind.defaults({"share": "s", "name": None}, {"name": "data"})["name"] == "data"
    assert SambaKind.defaults({"share": "s", "name": "x"}, {"name": "data"})["name"] == "x"


def test_gmt_tokens_and_links():
    assert gmt_token("2024-01-31T23:59:07Z") == "@GMT-2024.01.31-23.59.07"
    assert gmt_token(None) is None and gmt_token("yesterday") is None
    snapshots = [
        {"name": "b", "created": "2024-01-01T00:00:00Z"},
        {"name": "a", "created": "2024-01-01T00:00:00Z"},  # the same second: "a" is offered
        {"name": "auto-0badcafe-20240102T000000Z", "created": "2024-01-02T00:00:01Z"},
        {"name": "no-time", "created": None},
    ]
    assert link_targets(snapshots, "docs") == {
        "@GMT-2024.01.01-00.00.00": "../../docs/a",
        "@GMT-2024.01.02-00.00.01": "../../docs/auto-0badcafe-20240102T000000Z"}


def mounted(root):
    """Only `root` is a mount point."""
    return lambda path: path == root


def test_sync_previous_makes_and_removes_links(tmp_path):
    root = tmp_path / "tank"
    for name in ("one", "two"):
        (root / ".snapshots" / "docs" / name).mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "docs" / "f").write_text("now")
    (root / ".snapshots" / "docs" / "one" / "f").write_text("then")
    snaps = [{"share": "s-1", "name": "one", "created": "2024-05-01T10:00:00Z"},
             {"share": "s-1", "name": "two", "created": "2024-05-02T10:00:00Z"},
             {"share": "s-9", "name": "other", "created": "2024-05-03T10:00:00Z"}]
    e = export(path=str(root / "docs"), share_name="docs")
    sync_previous([e], snaps, [str(root)], mounted(root))
    links = root / ".snapshots" / ".previous-versions" / "docs"
    assert sorted(os.listdir(links)) == ["@GMT-2024.05.01-10.00.00", "@GMT-2024.05.02-10.00.00"]
    assert (links / "@GMT-2024.05.01-10.00.00" / "f").read_text() == "then"
    sync_previous([e], snaps[1:], [str(root)], mounted(root))
    assert os.listdir(links) == ["@GMT-2024.05.02-10.00.00"]
    (links / "keep-me").write_text("not a link")  # never removed: rockd made no such thing
    sync_previous([], snaps, [str(root)], mounted(root))
    assert os.listdir(links) == ["keep-me"]
    (links / "keep-me").unlink()
    sync_previous([{**e, "previous_versions": False}], snaps, [str(root)], mounted(root))
    assert not (root / ".snapshots" / ".previous-versions").exists()
    assert sorted(os.listdir(root / ".snapshots" / "docs")) == ["one", "two"]


def test_sync_previous_writes_nothing_on_an_unmounted_pool(tmp_path):
    root = tmp_path / "tank"
    (root / "docs").mkdir(parents=True)
    snaps = [{"share": "s-1", "name": "one", "created": "2024-05-01T10:00:00Z"}]
    e = export(path=str(root / "docs"), share_name="docs")
    sync_previous([e], snaps, [str(root)], mounted=lambda path: False)
    assert os.listdir(root) == ["docs"]


class FailingServices:
    def __init__(self):
        self.calls = []

    def state(self, name):
        return {"name": name, "active": "inactive"}

    async def ensure_running(self, name):
        self.calls.append(("ensure_running", name))
        raise Unprocessable(f"{name} exited 1 at start", code="service_failed")

    async def reload(self, name):
        self.calls.append(("reload", name))


def smb(config: Settings, services=None) -> SambaKind:
    """The kind with its own /configs/smb in a tree of its own."""
    return SambaKind(config, Tree().own(("configs", "smb"), "services.smb"), None, services)


@needs_samba
async def test_a_failed_apply_puts_the_live_file_back(tmp_path):
    kind = smb(settings(tmp_path), FailingServices())
    await kind.apply([])  # a private instance: written even with nothing to export
    conf = tmp_path / "samba" / "smb.conf"
    before = conf.read_bytes()
    with pytest.raises(Unprocessable):
        await kind.apply([export(path=str(tmp_path), previous_versions=False)])
    assert conf.read_bytes() == before and kind.exports == []
    assert kind.services.calls == [("ensure_running", "smbd")]


@needs_samba
async def test_testparm_refusal_changes_nothing(tmp_path, monkeypatch):
    kind = smb(settings(tmp_path))
    await kind.apply([])
    conf = tmp_path / "samba" / "smb.conf"
    before = conf.read_bytes()
    monkeypatch.setattr("rockd.services.samba.render",
                        lambda s, e, hostname=None: "[global]\n\tno such parameter = 1\n")
    with pytest.raises(Unprocessable) as info:
        await kind.apply([])
    assert info.value.code == "config_refused" and conf.read_bytes() == before
    assert [p.name for p in conf.parent.iterdir() if p.name.startswith(".")] == []


async def test_system_smb_conf_is_left_alone_without_exports(tmp_path, monkeypatch):
    kind = smb(settings(tmp_path))
    monkeypatch.setattr("rockd.services.samba.isolated", lambda s: False)
    conf = tmp_path / "samba" / "smb.conf"
    conf.parent.mkdir()
    conf.write_text("[global]\n\tworkgroup = MINE\n")
    await kind.apply([])
    assert conf.read_text() == "[global]\n\tworkgroup = MINE\n"


def test_check_refuses_duplicates_and_unknown_accounts():
    kind = smb(Settings())
    others = [{"id": "other", "kind": "smb", "share": "s-2", "name": "Data",
               "share_name": "elsewhere"}]
    with pytest.raises(Exception) as info:
        kind.check(export(), others)
    assert info.value.status == 409
    # an export that gave no name of its own is called by its share's name
    with pytest.raises(Exception) as info:
        kind.check(export(name="Elsewhere"), [{**others[0], "name": None}])
    assert info.value.status == 409
    kind.check(export(name="data2"), others)
    with pytest.raises(Unprocessable):
        kind.check(export(name="data2", valid_users=["rt-nobody-here"]), others)
    with pytest.raises(Unprocessable):
        kind.check(export(name="data2", valid_groups=["rt-nobody-here"]), others)
    with pytest.raises(BadRequest):
        kind.check(export(name="data2", path="/mnt/tank/50%"), others)
    with pytest.raises(InvalidName):
        kind.check(export(share_name="bad\nname"), others)


@needs_samba
async def test_the_first_write_keeps_the_previous_file(tmp_path):
    kind = smb(settings(tmp_path))
    conf = tmp_path / "samba" / "smb.conf"
    conf.parent.mkdir()
    conf.write_text("[global]\n\tworkgroup = MINE\n")
    await kind.apply([export(path=str(tmp_path), previous_versions=False)])
    assert conf.read_text().startswith("# rockd: ") and "[data]" in conf.read_text()
    kept = tmp_path / "samba" / "smb.conf.before-rockd"
    assert kept.read_text() == "[global]\n\tworkgroup = MINE\n"
    await kind.apply([])
    assert kept.read_text() == "[global]\n\tworkgroup = MINE\n"  # once only
    assert "[data]" not in conf.read_text()
