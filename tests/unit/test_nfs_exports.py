"""NFS exports without a server: which host patterns pass, how the exports file is written and
read back, and the rockd-managed file's atomic replace and drift."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rockd.config import Settings
from rockd.core.errors import BadRequest, InvalidName, Unprocessable
from rockd.core.models import validate
from rockd.core.tree import Tree
from rockd.services import nfs
from rockd.services.configfile import ConfigFile, Published
from rockd.services.nfs import (
    NfsCreate,
    NfsExports,
    NfsUpdate,
    escape_path,
    host_problem,
    parse_exports,
    render_exports,
    unescape_path,
)
from tests.support.rig import wait_for

SHARE = "0b8e2a4c-1f0e-4a3b-9c1d-2e3f4a5b6c7d"

GOOD_HOSTS = [
    "10.0.0.0/24", "10.0.0.0/255.255.255.0", "192.168.1.7", "127.0.0.1", "0.0.0.0/0",
    "::1", "fd00::/64", "2001:db8::1", "fe80::/10", "client", "client.lan",
    "nas-01.example.com", "*.example.com", "client?.lan", "web*", "*", "@trusted",
    "@nfs_clients", "@group.one", "a" * 63 + ".com",
]

BAD_HOSTS = [
    "", " ", "10.0.0.0/24 ", " 10.0.0.0/24", "10.0.0.0/24(rw)", "a(b)", "a,b", 'a"b', "a'b",
    "a\nb", "a\tb", "a b", "10.0.0.0/24\n/etc 1.2.3.4(rw,no_root_squash)", "a;b", "a#b",
    "10.0.0.1/24", "10.0.0.0/33", "300.1.1.1", "1.2.3", "10.0.0", "fe80::1%eth0",
    "fe80::1/200", "::g", "[::1]", "-rf", "host-", "-host", "a..b", ".lan", "lan.",
    "host_name.lan", "a" * 64 + ".com", "@", "@-x", "@a b", "10.0.0.*", "*.*.*.1",
    "gss/krb5", "ex\u00e4mple.com", "a\\b", "a\x00b",
]


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_good_host_patterns_pass(host):
    assert host_problem(host) is None
    body = validate(NfsCreate, {"share": SHARE, "clients": [{"host": host}]})
    assert body.clients[0].host == host


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_bad_host_patterns_are_400_invalid_field(host):
    assert host_problem(host) is not None
    with pytest.raises(BadRequest) as caught:
        validate(NfsCreate, {"share": SHARE, "clients": [{"host": host}]})
    assert not isinstance(caught.value, InvalidName)
    assert caught.value.code == "invalid_field"
    assert caught.value.detail["errors"][0]["field"] == "clients.0.host"


@pytest.mark.parametrize("body", [
    {"share": SHARE, "clients": []},
    {"share": SHARE},
    {"share": SHARE, "clients": [{"host": "1.2.3.4", "rw": "yes"}]},
    {"share": SHARE, "clients": [{"host": "1.2.3.4", "insecure": True}]},
    {"share": SHARE, "clients": [{"host": "1.2.3.4"}] * 65},
    {"share": SHARE, "clients": "1.2.3.4(rw)"},
    {"share": SHARE, "clients": [{"host": "1.2.3.4"}], "options": "no_root_squash"},
])
def test_malformed_bodies_are_refused(body):
    with pytest.raises(BadRequest) as caught:
        validate(NfsCreate, body)
    assert caught.value.code == "invalid_field"


def test_defaults_and_partial_updates():
    body = validate(NfsCreate, {"share": SHARE, "clients": [{"host": "10.0.0.0/8"}]})
    assert body.model_dump()["clients"] == [
        {"host": "10.0.0.0/8", "rw": True, "sync": True, "root_squash": True}]
    assert validate(NfsUpdate, {}).model_dump(exclude_unset=True) == {}
    with pytest.raises(BadRequest):
        validate(NfsUpdate, {"clients": []})


def export(path: str, *clients: dict, share: str = SHARE, export_id: str = "ab12cd34") -> dict:
    full = [{"rw": True, "sync": True, "root_squash": True, **c} for c in clients]
    return {"id": export_id, "kind": "nfs", "share": share, "share_name": "data",
            "path": path, "clients": full}


def test_render_one_line_per_export_with_every_option():
    other = "1b8e2a4c-1f0e-4a3b-9c1d-2e3f4a5b6c7d"
    text = render_exports([
        export("/mnt2/tank/data", {"host": "10.0.0.0/24"},
               {"host": "*.example.com", "rw": False, "sync": False, "root_squash": False}),
        export("/mnt2/tank/media", {"host": "@trusted", "root_squash": False},
               share=other, export_id="ff00ff00"),
    ])
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == [
        f"/mnt2/tank/data 10.0.0.0/24(rw,sync,root_squash,no_subtree_check,fsid={SHARE}) "
        f"*.example.com(ro,async,no_root_squash,no_subtree_check,fsid={SHARE})",
        f"/mnt2/tank/media @trusted(rw,sync,no_root_squash,no_subtree_check,fsid={other})",
    ]
    assert text.startswith("# NFS exports of rockd's shares")
    assert text.endswith("\n")


def test_render_nothing_is_only_the_header():
    text = render_exports([])
    assert parse_exports(text) == []
    assert all(line.startswith("#") for line in text.splitlines())


def test_paths_are_octal_escaped_as_exports5_reads_them():
    path = '/mnt 2/t\tank/a "b"#c,d(e)\\f\u00e9\ng'
    escaped = escape_path(path)
    assert escaped == ("/mnt\\0402/t\\011ank/a\\040\\042b\\042\\043c\\054d\\050e\\051\\134f"
                       "\\303\\251\\012g")
    assert unescape_path(escaped) == path
    text = render_exports([export(path, {"host": "127.0.0.1"})])
    assert len([line for line in text.splitlines() if line and line[0] != "#"]) == 1
    assert parse_exports(text) == [(path, [
        ("127.0.0.1", f"rw,sync,root_squash,no_subtree_check,fsid={SHARE}")])]


@given(st.text(min_size=1, max_size=40).map(lambda s: "/" + s))
def test_any_path_round_trips_on_one_line(path):
    escaped = escape_path(path)
    assert not any(c.isspace() or c in '"#(),' for c in escaped)
    assert unescape_path(escaped) == path


def test_render_refuses_a_bad_host_even_past_the_model():
    with pytest.raises(BadRequest):
        render_exports([export("/mnt2/tank/data", {"host": "1.2.3.4(rw) *"})])


def test_render_refuses_a_share_without_uuid():
    with pytest.raises(Unprocessable):
        render_exports([export("/mnt2/tank/data", {"host": "1.2.3.4"}, share="x,rw")])


@pytest.mark.parametrize("text", [
    '"/a b" 1.2.3.4(rw)\n', "/a 1.2.3.4\n", "/a\n", "/a 1.2.3.4(rw) \\\n 2.3.4.5(rw)\n",
    "/a 1.2.3.4(rw)(ro)\n",
])
def test_parse_refuses_what_rockd_never_writes(text):
    with pytest.raises(ValueError):
        parse_exports(text)


# -- the managed file ----------------------------------------------------------------------

async def test_replace_is_atomic_and_checked(tmp_path):
    live = tmp_path / "exports.d" / "rockd.exports"
    managed = ConfigFile(live)
    nothing = managed.mark()
    assert await managed.replace(b"one\n")
    assert live.read_bytes() == b"one\n"
    assert oct(live.stat().st_mode & 0o777) == "0o644"
    assert not await managed.replace(b"one\n")  # unchanged: not written again

    async def refuse(candidate):
        assert candidate.parent == live.parent and candidate.read_bytes() == b"two\n"
        raise Unprocessable("no")

    before = os.stat(live)
    with pytest.raises(Unprocessable):
        await managed.replace(b"two\n", check=refuse)
    assert live.read_bytes() == b"one\n"
    assert os.stat(live).st_ino == before.st_ino
    assert sorted(p.name for p in live.parent.iterdir()) == ["rockd.exports"]  # no temp left
    await managed.restore(nothing)
    assert not live.exists()


async def test_a_restore_keeps_a_hand_edit_drift(tmp_path):
    live = tmp_path / "rockd.exports"
    managed = ConfigFile(live)
    await managed.replace(b"mine\n")
    live.write_bytes(b"mine\nand a hand edit\n")
    before = managed.mark()
    assert await managed.replace(b"new\n") and managed.drift is False
    await managed.restore(before)  # what was there goes back, and so does what rockd expected
    assert live.read_bytes() == b"mine\nand a hand edit\n" and managed.drift is True


async def test_a_hand_edit_is_drift(tmp_path, reader):
    live = tmp_path / "rockd.exports"
    managed = ConfigFile(live, reader)
    events = asyncio.Queue()
    managed.watch(lambda: events.put_nowait(managed.drift))
    try:
        await managed.replace(b"mine\n")
        assert await asyncio.wait_for(events.get(), 2) is False
        live.write_bytes(b"mine\nand a hand edit\n")
        assert await asyncio.wait_for(events.get(), 2) is True
        await managed.replace(b"mine again\n")
        while not events.empty():
            events.get_nowait()
        assert managed.drift is False
        live.unlink()
        assert await asyncio.wait_for(events.get(), 2) is True
    finally:
        managed.unwatch()


async def test_a_file_that_should_not_exist_is_drift_once_it_does(tmp_path, reader):
    managed = ConfigFile(tmp_path / "d" / "rockd.exports", reader)
    assert managed.drift is False  # nothing said yet
    managed.watch(lambda: None)  # its folder does not exist: nothing made only to watch
    assert not (tmp_path / "d").exists()
    managed.expect(None)
    assert managed.drift is False
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "rockd.exports").write_text("/x *(rw)\n")
    assert managed.drift is True
    managed.unwatch()


async def test_the_entry_shows_the_file_and_its_drift(tmp_path, reader):
    tree = Tree()
    live = tmp_path / "rockd.exports"
    entry = Published(ConfigFile(live, reader), tree.own(("configs", "nfs"), "services.nfs"),
                      "nfs", applied=False)
    entry.publish(applied=True)  # not started: nothing is written
    assert tree.get("/configs") is None
    entry.start()
    assert tree.get("/configs/nfs") == {"path": str(live), "drift": False, "applied": True}
    await entry.file.replace(b"mine\n")
    live.write_bytes(b"a hand edit\n")
    await wait_for(lambda: asyncio.sleep(0, tree.get("/configs/nfs/drift")))
    assert tree.get("/configs/nfs") == {"path": str(live), "drift": True, "applied": True}
    entry.stop()
    entry.publish(applied=False)
    assert tree.get("/configs/nfs/applied") is True  # stopped: written no more


# -- applying, with a stand-in exportfs (there is no kernel NFS server here) --------------------

def kind_at(path) -> NfsExports:
    """The kind writing `path`, with its own /configs/nfs in a tree of its own."""
    return NfsExports(Settings(nfs_exports=path),
                      Tree().own(("configs", "nfs"), "services.nfs"))


def stand_in_exportfs(folder, monkeypatch, *, kernel: bool = True):
    """An `exportfs` that notes each call, found before any real one."""
    folder.mkdir()
    calls = folder / "calls"
    script = folder / "exportfs"
    script.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n")
    script.chmod(0o755)
    monkeypatch.setattr(nfs, "SEARCH_PATH", str(folder))
    monkeypatch.setattr(nfs, "kernel_server", lambda: kernel)
    return calls


async def test_apply_runs_exportfs_where_a_kernel_server_runs(tmp_path, monkeypatch):
    calls = stand_in_exportfs(tmp_path / "bin", monkeypatch)
    kind = kind_at(tmp_path / "exports.d" / "rockd.exports")
    await kind.apply([export("/mnt2/tank/data", {"host": "10.0.0.0/8"})])
    assert calls.read_text() == "-ra\n"
    assert kind.config.status["applied"] is True and kind.config.status["reason"] is None
    assert "10.0.0.0/8(rw," in kind.settings.nfs_exports.read_text()


async def test_a_refused_apply_puts_the_previous_file_back(tmp_path, monkeypatch):
    live = tmp_path / "exports.d" / "rockd.exports"
    calls = stand_in_exportfs(tmp_path / "bin", monkeypatch)
    kind = kind_at(live)
    await kind.apply([export("/mnt2/tank/data", {"host": "10.0.0.0/8"})])
    before = live.read_bytes()
    script = tmp_path / "bin" / "exportfs"
    script.write_text(script.read_text() + "sys.stderr.write('exportfs: bad\\n'); sys.exit(1)\n")
    with pytest.raises(Unprocessable) as caught:
        await kind.apply([export("/mnt2/tank/data", {"host": "10.9.0.0/16"})])
    assert caught.value.code == "apply_failed" and "exportfs: bad" in caught.value.message
    assert live.read_bytes() == before
    assert calls.read_text() == "-ra\n-ra\n-ra\n"  # applied, refused, the old one again
    assert kind.config.status["applied"] is False


async def test_without_a_kernel_server_nothing_is_applied(tmp_path, monkeypatch):
    calls = stand_in_exportfs(tmp_path / "bin", monkeypatch, kernel=False)
    kind = kind_at(tmp_path / "exports.d" / "rockd.exports")
    await kind.apply([])
    assert not (tmp_path / "exports.d").exists()  # no export, no file: nothing made
    await kind.apply([export("/mnt2/tank/data", {"host": "10.0.0.0/8"})])
    assert not calls.exists()
    assert kind.config.status == {"path": str(tmp_path / "exports.d" / "rockd.exports"),
                           "drift": False, "applied": False, "reason": "no kernel NFS server"}
