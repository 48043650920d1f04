"""Schemathesis over every operation of the served OpenAPI document, against a real `rockd
serve` on loop disks that holds one of each kind of resource.

Bounded for the suite: a fixed number of examples per operation (ROCKD_FUZZ_EXAMPLES, 15 by
default) and a fixed seed (ROCKD_FUZZ_SEED), so a run is repeatable. Path parameters are drawn
from the ids of the real resources most of the time (the rest are random), so the requests
reach rockd's own logic rather than stopping at 404. Any finding of the four checks fails the
test, with schemathesis' report (each case with a curl line that replays it).
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.replication import fake_peer

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")
EXAMPLES = int(os.environ.get("ROCKD_FUZZ_EXAMPLES", "15"))
SEED = int(os.environ.get("ROCKD_FUZZ_SEED", "20261203"))
REAL_IDS = 0.7
"""How often a path parameter is a real resource's id rather than a generated string."""


def _accounts() -> tuple[set[str], set[str]]:
    return {p.pw_name for p in pwd.getpwall()}, {g.gr_name for g in grp.getgrall()}


def _forget_new_accounts(users: set[str], groups: set[str]) -> None:
    """Remove what the run made on this machine (the fuzzer makes real Unix accounts)."""
    for name in _accounts()[0] - users:
        subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)
    for name in _accounts()[1] - groups:
        subprocess.run(["groupdel", name], capture_output=True, check=False)


def _no_dockerd(tmp_path: Path) -> Path:
    """A folder whose `dockerd` refuses to start. The fuzzer starts every service the API
    lists, docker included, and rockd runs the system's dockerd as it would on a NAS: with
    its own bridge, iptables rules and /var/lib/docker, on the machine running the tests."""
    folder = tmp_path / "bin"
    folder.mkdir()
    stub = folder / "dockerd"
    stub.write_text("#!/bin/sh\necho 'dockerd is not run by this test' >&2\nexit 1\n")
    stub.chmod(0o755)
    return folder


def _findings(report: str) -> str:
    """The report's failures and summary, each line cut short (a case's URL can be 8 KB)."""
    start = report.find("= FAILURES =")
    lines = report[start if start >= 0 else 0:].splitlines()
    return "\n".join(line if len(line) <= 300 else line[:300] + " ..." for line in lines)


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _config(ids: dict[str, list[str]], token: str) -> str:
    """schemathesis.toml: the token, and parameters bound to the real resources' ids."""
    lines = [f'headers = {{ Authorization = "Bearer {token}" }}', ""]
    for name, values in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = {_toml_list(values)}", ""]
    for pattern, bound in BINDINGS:
        pairs = ", ".join(f'"{key}" = {{ dictionary = "{name}", probability = {REAL_IDS} }}'
                          for key, name in bound.items())
        lines += ["[[operations]]", f"include-path-regex = '{pattern}'",
                  f"parameters = {{ {pairs} }}", ""]
    return "\n".join(lines)


BINDINGS = [  # (operations' paths, {parameter: the dictionary of ids it takes})
    (r"^/api/v1/pools/\{id\}", {"path.id": "pools"}),
    (r"^/api/v1/shares/\{id\}", {"path.id": "shares", "body.snapshot": "snapshots"}),
    (r"^/api/v1/snapshots/\{id\}", {"path.id": "snapshots"}),
    (r"^/api/v1/disks/\{id\}", {"path.id": "disks"}),
    (r"^/api/v1/jobs/\{id\}", {"path.id": "jobs"}),
    (r"^/api/v1/schedules/\{id\}", {"path.id": "schedules"}),
    (r"^/api/v1/exports/smb/\{id\}", {"path.id": "smb"}),
    (r"^/api/v1/exports/nfs/\{id\}", {"path.id": "nfs"}),
    (r"^/api/v1/users/\{name\}", {"path.name": "users"}),
    (r"^/api/v1/groups/\{name\}", {"path.name": "groups"}),
    (r"^/api/v1/services/\{name\}", {"path.name": "services"}),
    (r"^/api/v1/replication/peers/\{name\}", {"path.name": "peers"}),
    (r"^/api/v1/shares$", {"body.pool": "pools"}),
    (r"^/api/v1/exports/\w+$", {"body.share": "shares"}),
    (r"^/api/v1/schedules$", {"body.target": "shares"}),
    (r"^/api/v1/replication/tasks$", {"body.share": "shares"}),
    (r"^/api/v1/pools/import$", {"body.disk": "disks"}),
]


async def _resources(api, disks: list[str], accounts) -> dict[str, list[str]]:
    """One of each: a pool on the first disk (the others stay free), a share, a snapshot, a
    scrub job, a schedule, SMB and NFS exports, a user and a group, a peer."""
    async def made(method, path, body, status=201):
        got, value = await api.call(method, path, body)
        assert got == status, (path, value)
        return value

    pool = await made("POST", "/api/v1/pools", {"name": "tank", "disks": disks[:1],
                                               "data": "single"})
    share = await made("POST", "/api/v1/shares", {"pool": pool["id"], "name": "data"})
    snapshot = await made("POST", f"/api/v1/shares/{share['id']}/snapshots", {"name": "s1"})
    job = (await made("POST", f"/api/v1/pools/{pool['id']}/scrub", {}, 202))["job"]
    await api.ended_job(job["id"])
    schedule = await made("POST", "/api/v1/schedules", {
        "kind": "snapshot", "target": share["id"], "cron": "0 3 * * *",
        "retention": {"daily": 7}, "enabled": True})
    smb = await made("POST", "/api/v1/exports/smb", {"share": share["id"]})
    nfs = await made("POST", "/api/v1/exports/nfs", {
        "share": share["id"], "clients": [{"host": "10.0.0.0/24"}]})
    user = await made("POST", "/api/v1/users", {"name": accounts.user()})
    group = await made("POST", "/api/v1/groups", {"name": accounts.group()})
    with fake_peer() as other:  # pairing's test connection needs one that answers
        peer = await made("POST", "/api/v1/replication/peers", {"name": "other", **other})
    return {"pools": [pool["id"]], "shares": [share["id"]], "snapshots": [snapshot["id"]],
            "disks": disks, "jobs": [job["id"]], "schedules": [schedule["id"]],
            "smb": [smb["id"]], "nfs": [nfs["id"]], "users": [user["name"]],
            "groups": [group["name"]], "services": ["smbd", "sftp", "nmbd"],
            "peers": [peer["name"]]}


@pytest.mark.timeout(900)
async def test_schemathesis_finds_nothing(rockd, accounts, tmp_path):
    before = _accounts()
    box = await rockd(devices=3, process=True,
                      env={"PATH": f"{_no_dockerd(tmp_path)}:{os.environ['PATH']}"})
    try:
        ids = await _resources(box.api, box.disks, accounts)
        token = await box.api.make_token(["read", "write"], "fuzz")
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(ids, token))
        report = tmp_path / "schemathesis.txt"
        with report.open("wb") as out:
            result = subprocess.run(
                [str(Path(sys.executable).parent / "schemathesis"), "--no-color",
                 "--config-file", str(config), "run", f"{box.url}/api/v1/openapi.json",
                 "--checks", ",".join(CHECKS), "--max-examples", str(EXAMPLES),
                 "--seed", str(SEED), "--workers", "1", "--no-shrink",
                 "--request-timeout", "60"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=840,
                cwd=tmp_path)
        assert result.returncode == 0, _findings(report.read_text(errors="replace"))
        assert "Traceback" not in box.proc.output(), box.proc.output()[-20000:]
    finally:
        await box.stop()
        _forget_new_accounts(*before)
