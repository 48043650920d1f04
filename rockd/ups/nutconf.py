"""NUT's configuration, written by rockd into its own folder (NUT_CONFPATH): nut.conf,
ups.conf (the driver), upsd.conf and upsd.users (upsd, for a USB UPS), upsmon.conf (the
monitor, for either), and the hook upsmon runs on each notification. The files are 0600 in a
0700 folder: upsmon.conf and upsd.users hold passwords.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from rockd.core.files import write_atomically
from rockd.ups import hook
from rockd.ups.nut import quote

HOOK = "notify"
NOTIFY = ("ONLINE", "ONBATT", "LOWBATT", "FSD", "COMMOK", "COMMBAD", "SHUTDOWN",
          "REPLBATT", "NOCOMM", "NOPARENT")
MONITOR_USER = "rockd-upsmon"
POLLFREQ = 2  # upsmon asks upsd this often (seconds): NUT has no push
POLLFREQALERT = 1  # ... and this often while on battery
DRIVER_POLL = 1  # the driver asks the UPS this often (ups.conf pollinterval)
FILES = ("nut.conf", "ups.conf", "upsd.conf", "upsd.users", "upsmon.conf", HOOK)



def _write(path: Path, text: str, mode: int = 0o600) -> None:
    """NUT's files hold passwords: readable by root alone unless `mode` says otherwise."""
    write_atomically(path, text, mode)


def split_listen(listen: str) -> tuple[str, int]:
    host, port = listen.rsplit(":", 1)
    return host.strip("[]"), int(port)


def server_of(intent: dict[str, Any], listen: str) -> tuple[str, int]:
    """The upsd rockd reads: its own (USB) or the network's."""
    if intent["source"] == "usb":
        return split_listen(listen)
    return intent["server"]["host"], intent["server"]["port"]


def write(folder: Path, intent: dict[str, Any], listen: str) -> None:
    """Every file of NUT's configuration for `intent` (a USB UPS's driver and upsd listening
    on `listen`, or a network server), and the hook."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    (folder / "state").mkdir(exist_ok=True, mode=0o700)
    header = "# written by rockd: changes here are replaced\n"
    name = intent["name"]
    host, port = server_of(intent, listen)
    if intent["source"] == "usb":
        usb = intent["usb"]
        lines = [f"[{name}]", f"\tdriver = {usb['driver']}", f"\tport = {usb['port']}",
                 f"\tpollinterval = {DRIVER_POLL}", '\tdesc = "rockd"']
        lines += [f"\t{key} = {quote(usb[key])}" for key in ("vendorid", "productid",
                                                             "serial", "bus") if usb.get(key)]
        _write(folder / "nut.conf", header + "MODE=standalone\n")
        _write(folder / "ups.conf", header + "\n".join(lines) + "\n")
        _write(folder / "upsd.conf", header + f"LISTEN {host} {port}\n")
        user, password, role = MONITOR_USER, secrets.token_urlsafe(24), "primary"
        _write(folder / "upsd.users", header + f"[{user}]\n\tpassword = {quote(password)}\n"
               "\tupsmon primary\n")
    else:
        server = intent["server"]
        user, password, role = server["user"], server["password"], "secondary"
        _write(folder / "nut.conf", header + "MODE=netclient\n")
        for stale in ("ups.conf", "upsd.conf", "upsd.users"):
            (folder / stale).unlink(missing_ok=True)
    hook_path = folder / HOOK
    at = f"{name}@[{host}]:{port}" if ":" in host else f"{name}@{host}:{port}"
    monitor = [
        f"MONITOR {at} 1 {user} {quote(password)} {role}",
        "MINSUPPLIES 1", "RUN_AS_USER root",
        f'NOTIFYCMD "{hook_path}"', f'SHUTDOWNCMD "{hook_path} SHUTDOWNCMD"',
        *[f"NOTIFYFLAG {kind} SYSLOG+EXEC" for kind in NOTIFY],
        f"POLLFREQ {POLLFREQ}", f"POLLFREQALERT {POLLFREQALERT}", "DEADTIME 15",
        f'POWERDOWNFLAG "{folder / "state" / "killpower"}"', "FINALDELAY 0",
    ]
    _write(folder / "upsmon.conf", header + "\n".join(monitor) + "\n")
    _write(hook_path, hook.script(folder), 0o700)


def remove(folder: Path) -> None:
    """The configuration goes (the folder and the hook's events stay)."""
    for name in FILES:
        (folder / name).unlink(missing_ok=True)
    (folder / "state" / "killpower").unlink(missing_ok=True)


def environment(folder: Path) -> dict[str, str]:
    """What NUT's programs are told where their files are by."""
    return {**os.environ, "NUT_CONFPATH": str(folder), "NUT_STATEPATH": str(folder / "state"),
            "NUT_ALTPIDPATH": str(folder / "state")}
