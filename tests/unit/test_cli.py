"""Command-line parsing: sizes, listen addresses, --devices and a TOML config file."""

import argparse
from pathlib import Path

import pytest

from rockd.cli import parser, settings_from, size


def test_sizes():
    assert size("4G") == 4 << 30
    assert size("512MiB") == 512 << 20
    assert size("1048576") == 1 << 20
    for bad in ("4X", "-1", "G", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            size(bad)


def test_serve_options_override_the_config_file(tmp_path):
    config = tmp_path / "rockd.toml"
    config.write_text('listen = "0.0.0.0:9000"\nmount-root = "/srv/pools"\n'
                      'devices = ["/dev/sdb", "/dev/sdc"]\n')
    args = parser().parse_args(["serve", "--config", str(config), "--listen", "127.0.0.1:9001",
                                "--devices", "/dev/loop3, /dev/loop4"])
    settings = settings_from(args)
    assert settings.listen == "127.0.0.1:9001" and settings.port == 9001
    assert settings.mount_root == Path("/srv/pools")
    assert settings.devices == ["/dev/loop3", "/dev/loop4"]
    assert settings.state_dir == Path("/var/lib/rockd")


def test_unknown_config_keys_and_bad_listen_are_refused(tmp_path):
    config = tmp_path / "rockd.toml"
    config.write_text('listne = "0.0.0.0:9000"\n')
    with pytest.raises(ValueError, match="listne"):
        settings_from(parser().parse_args(["serve", "--config", str(config)]))
    with pytest.raises(SystemExit):
        parser().parse_args(["serve", "--listen", "no-port"])


def test_demo_defaults():
    args = parser().parse_args(["demo"])
    assert args.disks == 4 and args.disk_size == 4 << 30


def test_replication_idle_is_a_number_of_seconds_60_unless_told():
    assert settings_from(parser().parse_args(["serve"])).replication_idle == 60.0
    args = parser().parse_args(["serve", "--replication-idle", "7.5"])
    assert settings_from(args).replication_idle == 7.5
    for bad in ("0", "-1", "soon", "nan"):
        with pytest.raises(SystemExit):
            parser().parse_args(["serve", "--replication-idle", bad])
