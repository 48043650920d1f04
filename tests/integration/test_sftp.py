"""SFTP exports through the real API: rockd's own sshd on a test port on 127.0.0.1, OpenSSH's
sftp client, Unix users made for the test (and always removed), a real share bind-mounted into
each user's chroot.

The users log in with a key (written where rockd's sshd looks for it) and with a password
(through SSH_ASKPASS), upload into the share, and cannot leave the chroot; a user without an
export is refused; bad input changes nothing; and no bind mount outlives its export or rockd.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from rockd.config import Settings
from rockd.core.errors import Unprocessable
from rockd.core.tree import Tree
from rockd.services.chroots import sessions_in
from rockd.services.sftp import SftpExports
from tests.support.client import Api
from tests.support.exporting import (
    make_sftp_dir,
    mounts_below,
    register,
    remove_sftp_dir,
    users,
)
from tests.support.rig import Rockd, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for users, mounts and sshd"),
    pytest.mark.skipif(shutil.which("sshd", path="/usr/sbin:/sbin") is None
                       or shutil.which("sftp") is None,
                       reason="needs OpenSSH's sshd and sftp (openssh-server, openssh-client)"),
]

SECRET = f"Sftp-{secrets.token_hex(6)}"


class SftpBox:
    """A rockd serving SFTP (the rig's, stopped and started again at will), its two users,
    their share "data" and the test's key."""

    def __init__(self, rockd: Rockd, tmp_path: Path, names: list[str]):
        self.rockd, self.tmp, self.names = rockd, tmp_path, names
        self.key = tmp_path / "client_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)],
                       check=True)
        self.data: dict = {}

    @property
    def api(self) -> Api:
        return self.rockd.api

    @property
    def daemon(self):
        return self.rockd.daemon

    @property
    def settings(self) -> Settings:
        return self.rockd.settings

    @property
    def root(self) -> Path:
        return self.settings.sftp_root

    @property
    def config(self) -> Path:
        return self.root / "sshd_config"

    def give_key(self, user: str) -> None:
        """The test's public key as `user`'s authorized key, where rockd's sshd reads it."""
        keys = self.root / "keys"
        keys.mkdir(mode=0o755, exist_ok=True)
        (keys / user).write_text((self.key.with_suffix(".pub")).read_text())
        os.chmod(keys / user, 0o644)

    def open_session(self, user: str) -> subprocess.Popen:
        """An SFTP session as `user` (by key) that stays open, reading commands from a pipe,
        its transfers held to 256 kbit/s."""
        return subprocess.Popen(
            ["sftp", "-F", "/dev/null", "-P", str(self.settings.sftp_port), "-o",
             "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
             "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i",
             str(self.key), "-l", "256", f"{user}@127.0.0.1"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            text=True)

    async def sftp(self, user: str, commands: list[str], *, password: str | None = None,
                   retry: bool = True) -> subprocess.CompletedProcess:
        """OpenSSH's sftp as `user` (the key, or `password`), running `commands` in batch
        mode (a command prefixed with - may fail without ending the batch)."""
        batch = self.tmp / f"batch-{secrets.token_hex(4)}"
        batch.write_text("\n".join(commands) + "\n")
        argv = ["sftp", "-F", "/dev/null", "-P", str(self.settings.sftp_port),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5"]
        env = dict(os.environ)
        if password is None:
            argv += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", str(self.key),
                     "-o", "PreferredAuthentications=publickey"]
        else:
            secret = self.tmp / f"secret-{secrets.token_hex(4)}"
            secret.write_text(password + "\n")
            os.chmod(secret, 0o600)
            askpass = self.tmp / f"askpass-{secrets.token_hex(4)}"
            askpass.write_text(f"#!/bin/sh\nexec cat {secret}\n")
            os.chmod(askpass, 0o700)
            env.update(SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
            argv += ["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no",
                     "-o", "PreferredAuthentications=password",
                     "-o", "NumberOfPasswordPrompts=1"]
        argv += ["-b", str(batch), f"{user}@127.0.0.1"]
        deadline = time.monotonic() + 10
        while True:
            done = await asyncio.to_thread(
                subprocess.run, argv, capture_output=True, text=True, timeout=60,
                stdin=subprocess.DEVNULL, env=env)
            # sshd re-executes itself on SIGHUP: its port is closed for a moment after a reload
            if (not retry or "Connection refused" not in done.stderr
                    or time.monotonic() > deadline):
                return done
            await asyncio.sleep(0.1)


@pytest.fixture
async def box(rockd, tmp_path, monkeypatch):
    """Two users with a password (the first with the test's key too), a pool "tank" with a
    share "data" owned by the first, and rockd serving SFTP on a free port of 127.0.0.1."""
    register(monkeypatch, SftpExports)
    with users(2, SECRET) as names:
        made = SftpBox(await rockd(devices=1, pool="single", sharing=True), tmp_path, names)
        status, made.data = await made.api.call("POST", "/api/v1/shares", {
            "pool": made.rockd.pool["id"], "name": "data", "owner": names[0], "mode": "0755"})
        assert status == 201, made.data
        made.give_key(names[0])
        yield made
        await made.rockd.stop()
        assert mounts_below(made.root) == [], "a bind mount outlived rockd"


def listing(done: subprocess.CompletedProcess, command: str) -> list[str]:
    """What one batch command printed: the lines after its echo, up to the next command."""
    lines = done.stdout.splitlines()
    start = lines.index(f"sftp> {command}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("sftp> ")),
               len(lines))
    return [line.strip() for line in lines[start:end] if line.strip()]


async def test_a_user_uploads_into_the_share_and_stays_in_the_chroot(box, caplog):
    api, user, stranger = box.api, box.names[0], box.names[1]
    status, export = await api.call("POST", "/api/v1/exports/sftp", {
        "share": box.data["id"], "users": [user]})
    assert status == 201, export
    assert export["users"] == [user] and export["share_name"] == "data"
    target = box.root / "chroot" / user / "data"
    assert mounts_below(box.root / "chroot") == [str(target)]
    home = os.stat(box.root / "chroot" / user)
    assert (home.st_uid, home.st_mode & 0o777) == (0, 0o755)
    service = (await api.state("/services/sftp"))["value"]
    assert service["active"] == "active" and service["main_pid"], service
    configs = (await api.state("/configs/sftp"))["value"]
    assert configs["users"] == [user] and configs["drift"] is False, configs

    upload = box.tmp / "hello.txt"
    upload.write_text("hello over sftp\n")
    done = await box.sftp(user, [
        f"put {upload} /data/hello.txt", "ls -1 /", "cd ..", "pwd", "cd /data/../..", "pwd",
        f"-get /etc/passwd {box.tmp / 'stolen'}", "-ls /etc", "-cd /proc", "pwd",
        "ls -1 /data"])
    assert done.returncode == 0, done.stderr
    assert listing(done, "ls -1 /") == ["/data"]
    assert listing(done, "pwd") == ["Remote working directory: /"]
    assert done.stdout.count("Remote working directory: /\n") == 3
    assert not (box.tmp / "stolen").exists()
    assert 'File "/etc/passwd" not found' in done.stderr
    assert listing(done, "ls -1 /data") == ["/data/hello.txt"]
    # the file is on the share's subvolume, the user's own
    landed = Path(box.data["path"]) / "hello.txt"
    assert landed.read_text() == "hello over sftp\n"
    assert pwd.getpwuid(landed.stat().st_uid).pw_name == user
    assert os.stat(landed).st_dev == os.stat(box.data["path"]).st_dev

    # a password works too; a wrong one does not; a user without an export is refused
    done = await box.sftp(user, ["ls -1 /data"], password=SECRET)
    assert done.returncode == 0, done.stderr
    assert listing(done, "ls -1 /data") == ["/data/hello.txt"]
    done = await box.sftp(user, ["ls /"], password=SECRET + "x")
    assert done.returncode != 0 and "Permission denied" in done.stderr, done.stderr
    done = await box.sftp(stranger, ["ls /"], password=SECRET)
    assert done.returncode != 0 and "Permission denied" in done.stderr, done.stderr

    # a second user added to the export: a chroot of their own with the same share
    status, changed = await api.call("PATCH", f"/api/v1/exports/sftp/{export['id']}", {
        "users": [user, stranger]})
    assert status == 200, changed
    done = await box.sftp(stranger, ["ls -1 /data"], password=SECRET)
    assert done.returncode == 0, done.stderr
    assert listing(done, "ls -1 /data") == ["/data/hello.txt"]
    assert sorted(mounts_below(box.root / "chroot")) == sorted(
        [str(target), str(box.root / "chroot" / stranger / "data")])

    # the export gone: its users are disconnected, its bind mounts and chroots go, and
    # nobody may log in
    session = box.open_session(user)
    try:
        chroot = box.root / "chroot" / user
        await wait_for(lambda: sessions_in(chroot), timeout=10)
        big = Path(box.data["path"]) / "big"
        big.write_bytes(os.urandom(16 << 20))
        session.stdin.write("get /data/big /dev/null\n")  # at 256 kbit/s: open for long
        session.stdin.flush()
        held = str(chroot / "data" / "big")

        def holds(pid: int) -> bool:
            with contextlib.suppress(OSError):
                return any(os.readlink(f"/proc/{pid}/fd/{fd}") == held
                           for fd in os.listdir(f"/proc/{pid}/fd"))
            return False

        async def reading():
            return any(holds(pid) for pid in sessions_in(chroot))

        await wait_for(reading, timeout=10)  # the session holds the share's mount busy
        caplog.set_level(logging.INFO, logger="rockd.services.chroots")
        assert (await api.call("DELETE", f"/api/v1/exports/sftp/{export['id']}"))[0] == 204
        assert sessions_in(chroot) == []  # ended before the DELETE answered
        assert await asyncio.to_thread(session.wait, 15) is not None  # the client saw it
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
    assert "ended 2 SFTP sessions" in caplog.text  # sshd's chrooted child, internal-sftp
    assert "lazily" not in caplog.text  # unmounted for real, not detached from a session
    assert mounts_below(box.root / "chroot") == []
    assert list((box.root / "chroot").iterdir()) == []
    assert landed.exists()  # the share itself is untouched
    done = await box.sftp(user, ["ls /"])
    assert done.returncode != 0 and "Permission denied" in done.stderr, done.stderr
    assert "DenyUsers *" in box.config.read_text()


async def test_bad_input_changes_nothing(box):
    api, user = box.api, box.names[0]
    status, export = await api.call("POST", "/api/v1/exports/sftp", {
        "share": box.data["id"], "users": [user]})
    assert status == 201, export
    before = box.config.read_bytes()
    mounts = mounts_below(box.root)
    cases = [
        ({"share": "0b8e2a4c-1f0e-4a3b-9c1d-2e3f4a5b6c7d", "users": [user]}, 404,
         "not_found"),
        ({"share": box.data["id"], "users": ["rt-no-such-user"]}, 422, "unknown_user"),
        ({"share": box.data["id"], "users": [user, "rt-no-such-user"]}, 422, "unknown_user"),
        ({"share": box.data["id"], "users": ["root"]}, 400, "system_account"),
        ({"share": box.data["id"], "users": ["nobody"]}, 400, "system_account"),
        ({"share": box.data["id"], "users": ["a b"]}, 400, "invalid_name"),
        ({"share": box.data["id"], "users": ["x\nMatch all"]}, 400, "invalid_name"),
        ({"share": box.data["id"], "users": []}, 400, "invalid_field"),
        ({"share": box.data["id"], "users": [user, user]}, 400, "invalid_field"),
        ({"share": box.data["id"], "users": [user], "chroot": "/"}, 400, "invalid_field"),
        ({"users": [user]}, 400, "invalid_field"),
    ]
    for body, code, error in cases:
        status, answer = await api.call("POST", "/api/v1/exports/sftp", body)
        assert (status, answer["error"]["code"]) == (code, error), (body, answer)
    status, answer = await api.call("PATCH", f"/api/v1/exports/sftp/{export['id']}", {
        "users": ["rt-no-such-user"]})
    assert (status, answer["error"]["code"]) == (422, "unknown_user"), answer
    for users_ in (None, []):
        status, answer = await api.call("PATCH", f"/api/v1/exports/sftp/{export['id']}", {
            "users": users_})
        assert (status, answer["error"]["code"]) == (400, "invalid_field"), answer
    assert box.config.read_bytes() == before
    assert mounts_below(box.root) == mounts
    status, listed = await api.call("GET", "/api/v1/exports/sftp")
    assert [e["id"] for e in listed] == [export["id"]]
    assert listed[0]["users"] == [user]


async def test_bindings_follow_rockd_down_and_up_again(box):
    api, user = box.api, box.names[0]
    status, export = await api.call("POST", "/api/v1/exports/sftp", {
        "share": box.data["id"], "users": [user]})
    assert status == 201, export
    target = str(box.root / "chroot" / user / "data")
    assert mounts_below(box.root) == [target]

    await box.rockd.stop()
    assert mounts_below(box.root) == []  # none outlives rockd
    # a stale mount left over (say, from a crash) is replaced by the right one at start-up
    subprocess.run(["mount", "--bind", str(box.tmp), target], check=True)
    await box.rockd.start()
    daemon = box.daemon
    assert mounts_below(box.root) == [target]
    assert os.stat(target).st_dev == os.stat(box.data["path"]).st_dev

    async def serving():
        return daemon.tree.get("/services/sftp/active") == "active"

    await wait_for(serving, timeout=5.0)
    done = await box.sftp(user, ["ls -1 /"])
    assert done.returncode == 0, done.stderr
    assert listing(done, "ls -1 /") == ["/data"]


async def test_a_hand_edit_of_sshd_config_is_drift(box):
    api, user = box.api, box.names[0]
    status, export = await api.call("POST", "/api/v1/exports/sftp", {
        "share": box.data["id"], "users": [user]})
    assert status == 201, export
    with box.config.open("a") as f:
        f.write("AllowUsers *\n")

    async def drifted():
        return box.daemon.tree.get("/configs/sftp/drift") is True

    await wait_for(drifted, timeout=2.0)
    status, _ = await api.call("PATCH", f"/api/v1/exports/sftp/{export['id']}", {
        "users": [user, box.names[1]]})
    assert status == 200
    assert "AllowUsers *" not in box.config.read_text()
    assert box.daemon.tree.get("/configs/sftp/drift") is False


async def test_a_server_that_cannot_start_changes_nothing(box):
    """sshd cannot listen (its port is taken): the export is refused and nothing stays."""
    api, user = box.api, box.names[0]
    assert not box.config.exists()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", box.settings.sftp_port))
        taken.listen()
        status, answer = await api.call("POST", "/api/v1/exports/sftp", {
            "share": box.data["id"], "users": [user]})
    assert status == 422, answer
    assert not box.config.exists()  # there was none before: there is none now
    assert mounts_below(box.root) == []
    assert (await api.call("GET", "/api/v1/exports/sftp"))[1] == []
    # with the port free again, the same request works
    status, export = await api.call("POST", "/api/v1/exports/sftp", {
        "share": box.data["id"], "users": [user]})
    assert status == 201, export
    done = await box.sftp(user, ["ls -1 /"])
    assert listing(done, "ls -1 /") == ["/data"], done.stderr


async def test_a_configuration_sshd_refuses_never_goes_live(tmp_path):
    sftp_dir = make_sftp_dir()
    try:
        kind = SftpExports(Settings(sftp_dir=sftp_dir, sftp_port=99999),
                           Tree().own(("configs", "sftp"), "services.sftp"))
        (sftp_dir / "sshd_config").write_text("# what was there\n")
        with pytest.raises(Unprocessable) as caught:
            await kind.apply([])
        assert caught.value.code == "invalid_config", caught.value.message
        assert (sftp_dir / "sshd_config").read_text() == "# what was there\n"
        assert sorted(p.name for p in sftp_dir.iterdir()) == [
            "chroot", "keys", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub",
            "sshd_config"]  # no candidate left behind
    finally:
        remove_sftp_dir(sftp_dir)
