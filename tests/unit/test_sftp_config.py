"""The SFTP sshd's configuration without a server: what is rendered for which users, what the
request bodies accept, and that sshd's own parser (`sshd -t`) takes the result."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rockd.config import Settings
from rockd.core.errors import BadRequest, InvalidName, Unprocessable
from rockd.core.models import validate
from rockd.services.sftp import (
    SftpCreate,
    SftpExports,
    SftpUpdate,
    account_problem,
    listen_address,
    render_sshd_config,
)

SHARE = "0b8e2a4c-1f0e-4a3b-9c1d-2e3f4a5b6c7d"


def settings(root: Path, listen: str = "127.0.0.1:8470", port: int = 2222) -> Settings:
    return Settings(listen=listen, sftp_dir=root, sftp_port=port)


def directives(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_only_the_exported_users_may_log_in_each_in_a_chroot():
    text = render_sshd_config(settings(Path("/srv/sftp")), ["bob", "alice", "bob"])
    lines = directives(text)
    assert "AllowUsers alice bob" in lines
    assert "DenyUsers *" not in lines
    assert "ListenAddress 127.0.0.1:2222" in lines
    assert "HostKey /srv/sftp/ssh_host_ed25519_key" in lines
    assert "PidFile /srv/sftp/sshd.pid" in lines
    assert "AuthorizedKeysFile /srv/sftp/keys/%u" in lines
    assert "Subsystem sftp internal-sftp" in lines
    for setting in ("PermitRootLogin no", "ForceCommand internal-sftp", "DisableForwarding yes",
                    "PermitTTY no", "ChrootDirectory /srv/sftp/chroot/%u"):
        assert setting in lines
    # a Match block per user, last in the file (sshd applies Match to the end of the file)
    matches = [i for i, line in enumerate(lines) if line.startswith("Match ")]
    assert [lines[i] for i in matches] == ["Match User alice", "Match User bob"]
    block = lines[matches[0] + 1:matches[1]]
    assert block == ["ChrootDirectory /srv/sftp/chroot/%u", "ForceCommand internal-sftp",
                     "AllowTcpForwarding no", "X11Forwarding no"]


def test_without_users_nobody_may_log_in():
    lines = directives(render_sshd_config(settings(Path("/srv/sftp")), []))
    assert "DenyUsers *" in lines
    assert not any(line.startswith(("AllowUsers", "Match")) for line in lines)


@pytest.mark.parametrize(("listen", "expected"), [
    ("127.0.0.1:8470", "127.0.0.1:2200"), ("0.0.0.0:80", "0.0.0.0:2200"),
    ("[::1]:8470", "[::1]:2200"), ("[::]:8470", "[::]:2200"), (":8470", "0.0.0.0:2200"),
    ("localhost:8470", "localhost:2200"),
])
def test_sshd_listens_where_the_api_does(listen, expected):
    assert listen_address(settings(Path("/srv/sftp"), listen, 2200)) == expected


def test_names_that_could_inject_are_refused():
    with pytest.raises(BadRequest):
        render_sshd_config(settings(Path("/srv/sftp")), ["alice\nMatch all"])
    with pytest.raises(Unprocessable):
        render_sshd_config(settings(Path("/srv/my sftp")), ["alice"])
    with pytest.raises(Unprocessable):
        render_sshd_config(settings(Path("/srv/%u")), ["alice"])
    with pytest.raises(Unprocessable):
        listen_address(settings(Path("/srv/sftp"), "a b:8470"))


@pytest.mark.parametrize("users", [
    ["alice\nAllowUsers *"], ["al ice"], ["*"], ["!root"], ["a,b"], ["-x"], [""], ["a" * 65]])
def test_user_names_are_names(users):
    with pytest.raises(InvalidName):
        validate(SftpCreate, {"share": SHARE, "users": users})


@pytest.mark.parametrize("body", [
    {"share": SHARE, "users": []}, {"share": SHARE}, {"users": ["alice"]},
    {"share": SHARE, "users": "alice"}, {"share": SHARE, "users": ["alice"], "chroot": "/"},
])
def test_malformed_bodies_are_refused(body):
    with pytest.raises(BadRequest):
        validate(SftpCreate, body)


def test_updates_are_partial():
    assert validate(SftpUpdate, {}).model_dump(exclude_unset=True) == {}
    assert validate(SftpUpdate, {"users": ["alice"]}).users == ["alice"]


def test_system_and_unknown_accounts_are_refused():
    assert account_problem("root").code == "system_account"
    assert account_problem("nobody").code == "system_account"
    assert account_problem("rt-no-such-user-here").code == "unknown_user"
    assert account_problem("rt-no-such-user-here").status == 422


@pytest.mark.skipif(shutil.which("sshd", path="/usr/sbin:/sbin:/usr/bin") is None,
                    reason="needs OpenSSH's sshd (openssh-server)")
@pytest.mark.parametrize("users", [[], ["alice", "bob"]])
def test_sshd_itself_takes_the_configuration(tmp_path, users):
    conf = settings(tmp_path)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(tmp_path / "ssh_host_ed25519_key")], check=True)
    (tmp_path / "sshd_config").write_text(render_sshd_config(conf, users))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    sshd = shutil.which("sshd", path="/usr/sbin:/sbin:/usr/bin")
    checked = subprocess.run([sshd, "-t", "-f", str(tmp_path / "sshd_config")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""  # not even a deprecation warning
    # and its extended test shows the settings in force for an exported user
    if users:
        shown = subprocess.run([sshd, "-T", "-f", str(tmp_path / "sshd_config"), "-C",
                                "user=alice,host=client,addr=127.0.0.1"],
                               capture_output=True, text=True)
        assert shown.returncode == 0, shown.stderr
        effective = set(shown.stdout.splitlines())
        assert f"chrootdirectory {tmp_path}/chroot/%u" in effective
        assert "forcecommand internal-sftp" in effective
        assert "allowtcpforwarding no" in effective
        assert "permittty no" in effective


def test_a_deleted_user_leaves_an_export_or_ends_it():
    record = {"users": ["alice", "bob"]}
    assert SftpExports.without_user(record, "carol") == {}
    assert SftpExports.without_user(record, "alice") == {"users": ["bob"]}
    assert SftpExports.without_user({"users": ["alice"]}, "alice") is None
