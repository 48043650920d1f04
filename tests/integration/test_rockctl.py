"""rockctl, the real console script (.venv/bin/rockctl) as a process, against a real rockd on
loop devices, with its token in a 0600 configuration file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import orjson

from rockctl import openapi
from rockctl.cli import main, uses
from rockctl.client import Client
from rockctl.commands import COMMANDS
from tests.support.client import PASSWORD
from tests.support.process import VENV_BIN

ROCKCTL = str(VENV_BIN / "rockctl")
TIB = 1 << 40


class Ctl:
    """rockctl configured for one rockd: its config file and the token in it."""

    def __init__(self, folder: Path, url: str, token: str | None):
        self.token = token or "no token yet"
        self.config = folder / "config.toml"
        folder.mkdir()
        if token is not None:
            self.config.write_text(f'url = "{url}"\ntoken = "{token}"\n')
            self.config.chmod(0o600)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKCTL_")}
        self.env["ROCKCTL_CONFIG"] = str(self.config)

    async def start(self, *args: str, stdin: int = asyncio.subprocess.DEVNULL
                    ) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            ROCKCTL, *args, env=self.env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, stdin=stdin)

    async def run(self, *args: str, input: str | None = None,
                  timeout: float = 30) -> tuple[int, str, str]:
        proc = await self.start(*args, stdin=asyncio.subprocess.PIPE if input is not None
                                else asyncio.subprocess.DEVNULL)
        out, err = await asyncio.wait_for(
            proc.communicate(input.encode() if input is not None else None), timeout)
        assert self.token not in out.decode() + err.decode(), "the token was printed"
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()


async def _ctl(box, tmp_path: Path) -> Ctl:
    return Ctl(tmp_path / "rockctl", box.url, await box.api.make_token(["read", "write"]))


async def test_pools_and_a_share_with_a_quota(rockd, tmp_path):
    box = await rockd(devices=1, size=2 * TIB, pool="single")  # sparse: a pool a TiB fits in
    ctl = await _ctl(box, tmp_path)
    code, out, err = await ctl.run("pools")
    assert (code, err) == (0, "")
    header, row = out.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "DATA", "METADATA"]
    assert row.split()[0] == "tank" and box.pool["id"] in row

    code, out, err = await ctl.run("share", "create", "tank/media", "--quota", "1T")
    assert (code, err) == (0, ""), err
    share_dir = box.settings.mount_root / "tank" / "media"
    assert share_dir.stat().st_ino == 256  # the root of a btrfs subvolume
    shares = (await box.api.state("/shares"))["value"]
    media = next(s for s in shares.values() if s["name"] == "media")
    assert media["quota"] == TIB and media["pool"] == box.pool["id"]  # read back from btrfs
    qgroup = subprocess.run(["btrfs", "qgroup", "show", "-rf", "--raw", str(share_dir)],
                            capture_output=True, text=True, check=True).stdout
    assert str(TIB) in qgroup.split(), qgroup  # the limit, as btrfs itself has it

    code, out, _ = await ctl.run("shares", "--json")
    assert code == 0
    assert [(s["name"], s["quota"]) for s in orjson.loads(out)] == [("media", TIB)]
    code, out, _ = await ctl.run("shares")
    assert "1 TiB" in out.splitlines()[1]


async def test_api_errors_are_said_in_words_and_exit_1(rockd, tmp_path):
    box = await rockd(devices=1, pool="single")
    ctl = await _ctl(box, tmp_path)
    assert (await ctl.run("share", "create", "tank/media"))[0] == 0
    status, answer = await box.api.call("POST", "/api/v1/shares",
                                        {"pool": box.pool["id"], "name": "media"})
    assert status == 409
    code, out, err = await ctl.run("share", "create", "tank/media")
    assert (code, out) == (1, "")
    assert answer["error"]["message"] in err and "409" in err

    code, _, err = await ctl.run("pool", "show", "nosuch")
    assert code == 1 and "no pool named nosuch" in err
    for usage in (["share", "create", "media"], ["share", "create", "tank/x", "--quota", "1X"],
                  ["pool"], ["nosuchcommand"]):
        code, _, err = await ctl.run(*usage)
        assert code == 2, (usage, err)
    shares = (await box.api.state("/shares"))["value"]
    assert [s["name"] for s in shares.values()] == ["media"]  # nothing else was made


async def test_watch_prints_a_scrub_as_it_happens(rockd, tmp_path):
    box = await rockd(devices=1, pool="single")
    ctl = await _ctl(box, tmp_path)
    lines, readable = await ctl.start("watch", "/jobs", "--json"), await ctl.start("watch",
                                                                                     "/jobs")
    try:
        first = orjson.loads(await asyncio.wait_for(lines.stdout.readline(), 15))
        assert (first["type"], first["path"], first["value"]) == ("snapshot", "/jobs", {})
        code, out, err = await ctl.run("pool", "scrub", "tank", "--json")
        assert code == 0, err
        job = orjson.loads(out)["job"]["id"]
        states = []
        while "succeeded" not in states:
            change = orjson.loads(await asyncio.wait_for(lines.stdout.readline(), 60))
            assert change["type"] == "patch" and change["path"].startswith(f"/jobs/{job}")
            if change["path"] == f"/jobs/{job}":
                states.append(change["value"]["state"])
            elif change["path"] == f"/jobs/{job}/state":
                states.append(change["value"])
        assert states[-1] == "succeeded"
        seen = []
        while not any(f"/jobs/{job}" in s and "succeeded" in s for s in seen):
            seen.append((await asyncio.wait_for(readable.stdout.readline(), 15)).decode())
        assert " rev " in seen[0] and " snapshot /jobs {}" in seen[0]
    finally:
        for proc in (lines, readable):
            proc.send_signal(signal.SIGINT)
    for proc in (lines, readable):
        assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_commands_and_api_agree_with_the_served_document(rockd, tmp_path):
    box = await rockd(devices=1, pool="single")
    ctl = await _ctl(box, tmp_path)
    status, document = await box.api.call("GET", openapi.DOCUMENT)
    assert status == 200
    assert openapi.check(document, uses()) == []
    code, out, _ = await ctl.run("openapi-check")
    assert code == 0, out

    code, out, _ = await ctl.run("api", "GET", "/api/v1/pools")
    assert code == 0 and [p["name"] for p in orjson.loads(out)] == ["tank"]
    code, out, _ = await ctl.run("api", "--list")
    assert code == 0 and "/api/v1/shares/{id}/snapshots" in out
    body = orjson.dumps({"pool": box.pool["id"], "name": "media", "quota": "big"}).decode()
    refused = [["api", "POST", "/api/v1/shares", body], ["api", "GET", "/api/v1/nothing"],
               ["api", "DELETE", "/api/v1/health"], ["api", "POST", "/api/v1/shares"],
               ["api", "GET", "/api/v1/pools?bogus=1"]]
    for argv in refused:
        code, _, err = await ctl.run(*argv)
        assert code == 2 and err.startswith("rockctl: "), (argv, err)
    assert (await box.api.state("/shares"))["value"] == {}  # the bad body was never sent
    body = orjson.dumps({"pool": box.pool["id"], "name": "media"}).decode()
    code, out, _ = await ctl.run("api", "POST", "/api/v1/shares", body)
    assert code == 0 and orjson.loads(out)["name"] == "media"


async def test_a_token_file_others_can_read_is_refused(rockd, tmp_path):
    box = await rockd()
    ctl = await _ctl(box, tmp_path)
    ctl.config.chmod(0o644)
    code, out, err = await ctl.run("pools")
    assert (code, out) == (2, "")
    assert "other users can read it" in err and "chmod 600" in err
    ctl.config.chmod(0o600)
    assert (await ctl.run("pools"))[0] == 0
    ctl.env["ROCKCTL_TOKEN"] = "not-a-token"  # the environment wins over the file
    code, _, err = await ctl.run("pools")
    assert code == 1 and "401" in err


async def test_login_keeps_a_token_in_a_private_file(rockd, tmp_path):
    box = await rockd(devices=1, pool="single")
    ctl = Ctl(tmp_path / "rockctl", box.url, None)
    code, _, err = await ctl.run("login", "--url", box.url, "--password-stdin",
                                 input="wrong\n")
    assert code == 1 and "401" in err and not ctl.config.exists()
    code, out, err = await ctl.run("login", "--url", box.url, "--password-stdin",
                                   input=PASSWORD + "\n")
    assert code == 0, err
    assert f"kept in {ctl.config}" in out
    assert ctl.config.stat().st_mode & 0o777 == 0o600
    ctl.token = ctl.config.read_text().split('token = "')[1].split('"')[0]
    code, out, _ = await ctl.run("pools")  # with the kept url and token
    assert code == 0 and "tank" in out
    _, listed = await box.api.call("GET", "/api/v1/tokens")
    assert [t["scopes"] for t in listed["tokens"]] == [["read", "write"]]


async def test_watch_resumes_after_rockd_restarts(rockd, tmp_path):
    box = await rockd(devices=1, pool="single")
    ctl = await _ctl(box, tmp_path)
    watcher = await ctl.start("watch", "/jobs", "--json")
    try:
        first = orjson.loads(await asyncio.wait_for(watcher.stdout.readline(), 15))
        assert first["type"] == "snapshot"
        await box.restart()
        code, out, err = await ctl.run("pool", "scrub", "tank", "--json")
        assert code == 0, err
        job = orjson.loads(out)["job"]["id"]
        change = orjson.loads(await asyncio.wait_for(watcher.stdout.readline(), 60))
        assert change["path"].startswith(f"/jobs/{job}") and change["rev"] > first["rev"]
    finally:
        watcher.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(watcher.wait(), 10) == 0
    assert "resuming" in (await watcher.stderr.read()).decode()


async def test_every_call_a_command_makes_is_one_it_declares(rockd, tmp_path, monkeypatch):
    box = await rockd(devices=1, pool="single")
    ctl = await _ctl(box, tmp_path)
    monkeypatch.setenv("ROCKCTL_CONFIG", str(ctl.config))
    made: list[tuple[str, str]] = []
    call = Client.call

    async def recorded(self, method, path, *args, **kwargs):
        made.append((method, path))
        return await call(self, method, path, *args, **kwargs)

    monkeypatch.setattr(Client, "call", recorded)
    runs = [["share", "create", "tank/media", "--quota", "100M"], ["share", "set", "tank/media",
            "--mode", "0770"], ["snapshot", "create", "tank/media@a"], ["pool", "scrub", "tank"],
            ["snapshots", "--share", "tank/media"], ["snapshot", "delete", "tank/media@a"],
            ["share", "delete", "tank/media", "--force"]]
    runs += [list(c.words) for c in COMMANDS if len(c.words) == 1 and not c.writes_config]
    document = (await box.api.call("GET", openapi.DOCUMENT))[1]
    for argv in runs:
        made.clear()
        assert await asyncio.to_thread(main, ["--json", *argv]) == 0, argv
        command = next(c for c in COMMANDS if list(c.words) == argv[:len(c.words)])
        declared = {(u.method, u.path) for u in command.uses}
        for method, path in made:
            template, _ = openapi.operation(document, method, path)
            assert (method.lower(), template) in declared, (argv, method, path)
    assert (await box.api.state("/shares"))["value"] == {}


async def test_a_job_is_waited_for_on_the_stream(rockd, tmp_path):
    box = await rockd(devices=1, pool="single")
    ctl = await _ctl(box, tmp_path)
    code, out, err = await ctl.run("pool", "scrub", "tank", "--wait", "--json")
    assert code == 0, err
    job = orjson.loads(out)["job"]
    assert (job["kind"], job["state"], job["progress"]) == ("scrub", "succeeded", 1.0)
    code, out, _ = await ctl.run("job", "show", job["id"])
    assert code == 0 and "succeeded" in out and "tank" in out


async def test_https_with_the_certificate_to_trust(rockd, tmp_path):
    box = await rockd(process=True, tls="self-signed")
    assert box.url.startswith("https://")
    ctl = await _ctl(box, tmp_path)
    code, _, err = await ctl.run("pools")
    assert code == 1 and "certificate is not trusted" in err and "--ca" in err
    cert = box.settings.state_dir / "tls" / "self-signed.crt"
    code, out, err = await ctl.run("--ca", str(cert), "pools", "--json")
    assert (code, orjson.loads(out)) == (0, []), err
    ctl.env["ROCKCTL_CA"] = str(cert)
    watcher = await ctl.start("watch", "/pools", "--json")
    try:
        first = orjson.loads(await asyncio.wait_for(watcher.stdout.readline(), 15))
        assert (first["type"], first["value"]) == ("snapshot", {})
    finally:
        watcher.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(watcher.wait(), 10) == 0
