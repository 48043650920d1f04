"""The daemon's settings: command-line options, optionally read from a TOML file first."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass
class Settings:
    """Everything `rockd serve` can be told. Field names match the long options."""

    listen: str = "127.0.0.1:8470"
    state_dir: Path = Path("/var/lib/rockd")
    mount_root: Path = Path("/mnt2")
    devices: list[str] = field(default_factory=list)
    max_body: int = 1 << 20
    web_root: Path | None = None  # the SPA's folder; default: web/ beside the package
    metrics_public: bool = False
    demo: bool = False
    allowed_hosts: list[str] = field(default_factory=list)  # names browsers may use for us
    # sharing: where the service configurations rockd renders live, and the ports served
    samba_dir: Path = Path("/etc/samba")
    smb_port: int = 445
    nfs_exports: Path = Path("/etc/exports.d/rockd.exports")
    sftp_dir: Path | None = None  # sshd_config, host keys, keys and chroots (sftp_root)
    sftp_port: int = 22
    services: str = "auto"  # who runs the services: auto, systemd (D-Bus) or rockd itself
    zmq_listen: str = "0.0.0.0:8471"  # replication peers: CurveZMQ here, data on port + 1
    replication_idle: float = 60.0  # seconds a transfer waits for a silent peer, either side
    # apps (Rock-ons): the Docker engine's API socket, and a folder of the user's own definitions
    docker_socket: Path = Path("/var/run/docker.sock")
    apps_catalog: Path | None = None
    docker_args: list[str] = field(default_factory=list)  # dockerd's own, where rockd runs it
    apps_registry: str | None = None  # where images naming no registry come from (a mirror)
    apps_image_max: int = 8 << 30  # the largest image file (a `docker save` tar) taken
    # the event log keeps entries this many days, and at most this many of them
    events_keep_days: int = 90
    events_keep: int = 100_000
    # HTTPS: a certificate's files, else "self-signed" (made and kept under the state dir)
    tls: str = "off"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    http_redirect: int | None = None  # a plain HTTP port that redirects to HTTPS
    # alerts: a condition's later changes within this many seconds go out as one digest
    alert_window: float = 300.0
    # the network: the D-Bus address of NetworkManager's bus ("system": the system bus), and
    # the rollback timer of a change that could cut the browser off
    network_bus: str = "system"
    network_confirm: float = 60.0
    # SMART: every disk's attributes read this often (seconds) into their history, a running
    # self-test's progress read this often, and loop devices asked too (a smartctl stand-in)
    smart_interval: float = 3600.0
    smart_poll: float = 5.0
    smart_loops: bool = False
    # the host: its name, time zone and clock (through systemd's hostnamed and timedated where
    # systemd runs, else the files in host_etc), chrony's sources, and the power commands
    host_control: str = "auto"  # auto, systemd (D-Bus) or files
    host_bus: str | None = None  # the D-Bus address of hostnamed and timedated (the system bus)
    host_etc: Path = Path("/etc")  # where hostname, localtime and timezone are
    chrony_sources: Path = Path("/etc/chrony/sources.d/rockd.sources")
    chrony_socket: Path = Path("/run/chrony/chronyd.sock")
    reboot_command: list[str] = field(default_factory=lambda: ["systemctl", "reboot"])
    poweroff_command: list[str] = field(default_factory=lambda: ["systemctl", "poweroff"])
    # the UPS (NUT): the folder of NUT's configuration rockd writes (default: nut/ in the state
    # dir), where NUT's programs are, and where the upsd rockd runs for a USB UPS listens
    nut_dir: Path | None = None
    nut_bin: Path = Path("/lib/nut")
    nut_listen: str = "127.0.0.1:3493"

    @property
    def sftp_root(self) -> Path:
        """Beside the state dir, not in it: sshd reads a user's keys as that user, and the
        state dir (0700) is root's alone."""
        return self.sftp_dir or self.state_dir.with_name(f"{self.state_dir.name}-sftp")

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def database(self) -> Path:
        return self.state_dir / "rockd.sqlite3"

    @classmethod
    def from_file(cls, path: Path) -> dict:
        """Option values from a TOML file (keys as the long options, '-' or '_')."""
        with path.open("rb") as f:
            raw = tomllib.load(f)
        known = {f.name for f in fields(cls)}
        values = {}
        for key, value in raw.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ValueError(f"{path}: unknown setting {key!r}")
            values[name] = value
        return values
