"""The command line: `rockd serve` and `rockd demo`. Argument parsing only."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from pathlib import Path

from rockd import __version__
from rockd.config import Settings

SIZE = re.compile(r"([0-9]+) *([KMGT]i?B?|B)?", re.IGNORECASE)


def size(text: str) -> int:
    """'4G', '512MiB', '1048576' as bytes (binary units)."""
    match = SIZE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    number, unit = int(match.group(1)), (match.group(2) or "B").upper()[:1]
    return number << {"B": 0, "K": 10, "M": 20, "G": 30, "T": 40}[unit]


def listen(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return text


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def registry(text: str) -> str:
    """--apps-registry: HOST[:PORT][/PATH], as an image reference starts."""
    from rockd.apps.images import REGISTRY

    if not re.fullmatch(REGISTRY, text):
        raise argparse.ArgumentTypeError(f"expected a registry as HOST[:PORT][/PATH], got "
                                         f"{text!r}")
    return text


def comma_list(text: str) -> list[str]:
    """'a, b,c' as ['a', 'b', 'c'] (--devices, --allowed-hosts)."""
    return [p.strip() for p in text.split(",") if p.strip()]


ALLOWED_HOSTS_HELP = ("further host names browsers may reach rockd by (comma-separated); its "
                      "own names, localhost and IP addresses always work")


DEMO_SMB_PORT, DEMO_SFTP_PORT = 4450, 2222


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="rockd", description="A NAS manager for btrfs.")
    top.add_argument("--version", action="version", version=f"rockd {__version__}")
    top.add_argument("--log-level", default="info",
                     choices=["debug", "info", "warning", "error"])
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the daemon")
    serve.add_argument("--listen", type=listen)
    serve.add_argument("--state-dir", type=Path)
    serve.add_argument("--mount-root", type=Path)
    serve.add_argument("--devices", type=comma_list,
                       help="block devices rockd may touch: comma-separated paths or globs")
    serve.add_argument("--config", type=Path, help="a TOML file of these same settings")
    serve.add_argument("--allowed-hosts", type=comma_list, metavar="NAMES", help=ALLOWED_HOSTS_HELP)
    serve.add_argument("--metrics-public", action="store_true", default=None,
                       help="serve /metrics without a token")
    serve.add_argument("--samba-dir", type=Path, help="where smb.conf is (/etc/samba)")
    serve.add_argument("--smb-port", type=int, help="the port smbd serves (445)")
    serve.add_argument("--nfs-exports", type=Path,
                       help="the exports file rockd writes (/etc/exports.d/rockd.exports)")
    serve.add_argument("--sftp-dir", type=Path,
                       help="the SFTP sshd's config, keys and chroots (STATE_DIR-sftp)")
    serve.add_argument("--sftp-port", type=int, help="the port the SFTP sshd serves (22)")
    serve.add_argument("--services", choices=["auto", "systemd", "rockd"],
                       help="who runs smbd, sshd and the rest: systemd, or rockd itself")
    serve.add_argument("--zmq-listen", type=listen,
                       help="where replication peers connect (0.0.0.0:8471); transfers' data "
                       "comes to the next port")
    serve.add_argument("--replication-idle", type=seconds, metavar="SECONDS",
                       help="how long a replication transfer waits for a silent peer: the "
                       "receiver then discards it, the sender fails the run (60)")
    serve.add_argument("--docker-socket", type=Path,
                       help="the Docker engine's API socket (/var/run/docker.sock)")
    serve.add_argument("--apps-catalog", type=Path,
                       help="a folder of app definitions read beside the built-in catalog")
    serve.add_argument("--apps-registry", type=registry, metavar="HOST[:PORT][/PATH]",
                       help="a mirror of Docker Hub that app images naming no registry are "
                       "pulled from (until set through the API)")
    serve.add_argument("--events-keep-days", type=int, metavar="DAYS",
                       help="how long the event log keeps an entry (90)")
    serve.add_argument("--events-keep", type=int, metavar="N",
                       help="the most entries the event log keeps (100000)")
    serve.add_argument("--tls", choices=["off", "self-signed"],
                       help="serve HTTPS with a certificate rockd makes and keeps under the "
                       "state dir (off: plain HTTP, unless --tls-cert is given)")
    serve.add_argument("--tls-cert", type=Path, metavar="FILE",
                       help="serve HTTPS with this PEM certificate chain, the server's first")
    serve.add_argument("--tls-key", type=Path, metavar="FILE", help="its PEM private key")
    serve.add_argument("--http-redirect", type=int, metavar="PORT",
                       help="with HTTPS, a plain HTTP port that redirects browsers to it")
    serve.add_argument("--alert-window", type=seconds, metavar="SECONDS",
                       help="an alert's later changes within this time after a message go "
                       "out as one digest (300)")
    serve.add_argument("--network-bus", metavar="ADDRESS",
                       help="the D-Bus address of NetworkManager's bus (system: the system "
                       "bus; off: rockd leaves the network alone)")
    serve.add_argument("--network-confirm", type=seconds, metavar="SECONDS",
                       help="how long a network change that could cut the browser off waits "
                       "for confirmation before it is rolled back (60)")
    serve.add_argument("--smart-interval", type=seconds, metavar="SECONDS",
                       help="how often every disk's SMART attributes are read into their "
                       "history (3600)")
    serve.add_argument("--smart-poll", type=seconds, metavar="SECONDS",
                       help="how often a running SMART self-test's progress is read (5)")
    serve.add_argument("--smart-loops", action="store_true", default=None,
                       help="ask smartctl about loop devices too (for a smartctl stand-in)")
    serve.add_argument("--host-control", choices=["auto", "systemd", "files"],
                       help="how the hostname and time zone are set: systemd's hostnamed and "
                       "timedated on D-Bus, or the files in --host-etc (auto: systemd where it "
                       "runs)")
    serve.add_argument("--host-bus", metavar="ADDRESS",
                       help="the D-Bus address where hostnamed and timedated are (the system "
                       "bus)")
    serve.add_argument("--host-etc", type=Path, metavar="DIR",
                       help="the folder of hostname, localtime and timezone (/etc)")
    serve.add_argument("--chrony-sources", type=Path, metavar="FILE",
                       help="the chrony sources file rockd writes the NTP servers to "
                       "(/etc/chrony/sources.d/rockd.sources)")
    serve.add_argument("--chrony-socket", type=Path, metavar="PATH",
                       help="chronyd's command socket (/run/chrony/chronyd.sock)")
    serve.add_argument("--reboot-command", type=comma_list, metavar="ARGV",
                       help="the command that reboots, comma-separated (systemctl,reboot)")
    serve.add_argument("--poweroff-command", type=comma_list, metavar="ARGV",
                       help="the command that powers off, comma-separated (systemctl,poweroff)")
    serve.add_argument("--nut-dir", type=Path, metavar="DIR",
                       help="the folder rockd writes NUT's configuration for the UPS to "
                       "(STATE_DIR/nut)")
    serve.add_argument("--nut-bin", type=Path, metavar="DIR",
                       help="where NUT's upsd, upsmon and drivers are (/lib/nut)")
    serve.add_argument("--nut-listen", type=listen, metavar="HOST:PORT",
                       help="where the upsd rockd runs for a USB UPS listens (127.0.0.1:3493)")

    demo = commands.add_parser("demo", help="serve on virtual disks (sparse files on loops)")
    demo.add_argument("--disks", type=int, default=4)
    demo.add_argument("--disk-size", type=size, default=4 << 30)
    demo.add_argument("--listen", type=listen)
    demo.add_argument("--state-dir", type=Path)
    demo.add_argument("--allowed-hosts", type=comma_list, metavar="NAMES", help=ALLOWED_HOSTS_HELP)
    return top


def settings_from(args: argparse.Namespace) -> Settings:
    values: dict = {}
    if getattr(args, "config", None):
        values.update(Settings.from_file(args.config))
    for name in ("listen", "state_dir", "mount_root", "devices", "metrics_public", "samba_dir",
                 "smb_port", "nfs_exports", "sftp_dir", "sftp_port", "services", "docker_socket",
                 "apps_catalog", "apps_registry", "zmq_listen", "replication_idle", "alert_window",
                 "allowed_hosts", "tls", "tls_cert", "tls_key", "http_redirect",
                 "smart_interval", "smart_poll", "smart_loops",
                 "events_keep_days", "events_keep", "host_control", "host_bus", "host_etc",
                 "chrony_sources", "chrony_socket", "reboot_command", "poweroff_command",
                 "nut_dir", "nut_bin", "nut_listen", "network_bus", "network_confirm"):
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    for name in ("state_dir", "mount_root", "samba_dir", "nfs_exports", "sftp_dir",
                 "docker_socket", "apps_catalog", "tls_cert", "tls_key", "host_etc",
                 "chrony_sources", "chrony_socket", "nut_dir", "nut_bin"):
        if name in values:
            values[name] = Path(values[name])
    for name in ("devices", "allowed_hosts", "reboot_command", "poweroff_command"):
        if isinstance(values.get(name), str):
            values[name] = comma_list(values[name])
    if values.get("apps_registry") is not None:  # from the TOML file too
        values["apps_registry"] = registry(str(values["apps_registry"]))
    if ("tls_cert" in values) != ("tls_key" in values):
        raise ValueError("--tls-cert and --tls-key go together")
    if values.get("tls", "off") not in ("off", "self-signed"):
        raise ValueError(f"tls is 'off' or 'self-signed', not {values['tls']!r}")
    return Settings(**values)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # under systemd the journal stamps each line itself (JOURNAL_STREAM names its stream)
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format=f"{stamp}%(levelname)s %(name)s: %(message)s")
    try:
        settings = settings_from(args)
    except (OSError, ValueError, TypeError, argparse.ArgumentTypeError) as exc:
        print(f"rockd: {exc}", file=sys.stderr)
        return 2
    if args.command == "demo":
        from rockd.demo import default_state_dir, demo

        if args.state_dir is None:
            settings.state_dir = default_state_dir()
        settings.mount_root = settings.state_dir / "mnt"
        # a demo keeps to itself: its own Samba and NFS files, ports off the system's
        settings.samba_dir = settings.state_dir / "samba"
        settings.nfs_exports = settings.state_dir / "exports.d" / "rockd.exports"
        settings.smb_port, settings.sftp_port = DEMO_SMB_PORT, DEMO_SFTP_PORT
        # ... and the host's own names, clock and power are left alone
        settings.host_control, settings.host_etc = "files", settings.state_dir / "etc"
        settings.chrony_sources = settings.state_dir / "chrony" / "rockd.sources"
        settings.reboot_command = settings.poweroff_command = ["true"]
        settings.network_bus = "off"
        if args.disks < 1 or args.disk_size < (128 << 20):
            print("rockd: demo needs at least one disk of at least 128 MiB", file=sys.stderr)
            return 2
        return asyncio.run(demo(settings, args.disks, args.disk_size))
    from rockd.app import serve
    from rockd.tls.keeper import CertificateError

    try:
        return asyncio.run(serve(settings))
    except CertificateError as exc:
        print(f"rockd: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
