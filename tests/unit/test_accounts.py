"""The rules for users and groups: names, shells, passwords, SSH keys, system accounts."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from rockd.accounts.users import (
    NOLOGIN,
    authorized_keys_path,
    check_account_name,
    check_password,
    check_shell,
    count_keys,
    is_system,
    parse_ssh_key,
    read_accounts,
)
from rockd.config import Settings
from rockd.core.errors import BadRequest, InvalidName


def key(kind: str = "ssh-ed25519", size: int = 32, comment: str = "") -> str:
    blob = b"".join(len(p).to_bytes(4, "big") + p
                    for p in (kind.encode(), secrets.token_bytes(size)))
    return f"{kind} {base64.b64encode(blob).decode()}" + (f" {comment}" if comment else "")


@pytest.mark.parametrize("name", ["alice", "a", "rt-1f2e", "j.doe", "user_2", "9lives",
                                  "a" * 32])
def test_account_names_taken(name):
    assert check_account_name(name) == name


@pytest.mark.parametrize("name", ["Alice", "-x", ".x", "_x", "a b", "a/b", "a:b", "a$",
                                  "1234", "", "a" * 33, "é", "a\nb"])
def test_account_names_refused(name):
    with pytest.raises(InvalidName):
        check_account_name(name)


def test_shells():
    assert check_shell(None) == NOLOGIN
    assert check_shell("/bin/bash", ["/bin/bash"]) == "/bin/bash"
    assert check_shell("/bin/false", []) == "/bin/false"
    for bad in ("/tmp/evil", "bash", "/bin/bash\n"):
        with pytest.raises(BadRequest):
            check_shell(bad, ["/bin/bash"])


def test_passwords():
    assert check_password("correct horse: battery") == "correct horse: battery"
    for bad in ("", "a\nroot::0:0", "a\rb", "a\0b", "x" * 1025):
        with pytest.raises(BadRequest):
            check_password(bad)


def test_ssh_keys():
    good = key(comment="me@laptop")
    assert parse_ssh_key("  " + good + "  ") == good
    assert parse_ssh_key(key("ssh-rsa", 270)).startswith("ssh-rsa ")
    assert parse_ssh_key(key("ecdsa-sha2-nistp256", 65))
    bad = [
        'command="/bin/sh" ' + good,  # options grant more than the key
        'from="*" ' + good,
        good + "\n" + key(),  # a second line
        good + "\r",
        "ssh-ed25519",
        "ssh-dss " + key().split()[1],
        "ssh-ed25519 !!notbase64!!",
        "ssh-rsa " + key().split()[1],  # the blob says ssh-ed25519
        "ssh-ed25519 AAAA",
        good + " bell\x07",
        "x" * 20000,
    ]
    for line in bad:
        with pytest.raises(BadRequest):
            parse_ssh_key(line)


def test_system_ids():
    assert is_system(0) and is_system(999) and is_system(65534)
    assert not is_system(1000) and not is_system(60000)


def test_keys_path_and_count(tmp_path):
    settings = Settings(state_dir=tmp_path, sftp_dir=tmp_path / "sftp")
    path = authorized_keys_path(settings, "alice")
    assert path == tmp_path / "sftp" / "keys" / "alice"
    for bad in ("", "..", ".", "a/b"):
        with pytest.raises(ValueError):
            authorized_keys_path(settings, bad)
    assert count_keys(path) == 0
    path.parent.mkdir(parents=True)
    path.write_text(f"{key()}\n\n# a note\n{key()}\n")
    assert count_keys(path) == 2


def test_read_accounts_shape(tmp_path):
    users, groups = read_accounts(Settings(state_dir=tmp_path), {"root"})
    root = users["root"]
    assert root == {"name": "root", "uid": 0, "gid": 0, "group": "root",
                    "groups": root["groups"], "shell": root["shell"], "home": root["home"],
                    "system": True, "samba": True, "ssh_keys": 0}
    assert groups["root"]["system"] and groups["root"]["gid"] == 0
    assert all(isinstance(g["members"], list) for g in groups.values())
    assert not any("password" in u or "hash" in u for u in users.values())
    assert Path(root["home"]).is_absolute()
