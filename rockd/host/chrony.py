"""chrony: the NTP servers rockd gives it (one sources file, `chrony_sources`, that chronyd's
`sourcedir` reads; `chronyc reload sources` takes it in without a restart) and the clock's state
as `chronyc -c tracking` reports it. Every server is checked as a hostname or an IP address
before it is written, so nothing else can reach the file."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from rockd.config import Settings
from rockd.core.errors import BadRequest
from rockd.core.files import write_atomically
from rockd.core.process import CommandError, run
from rockd.host.names import valid_hostname

HEADER = "# rockd: the NTP servers set through rockd (/api/v1/system); replaced on each change\n"
MAX_SERVERS = 16
TIMEOUT = 5.0


def valid_server(server: str) -> bool:
    try:
        ipaddress.ip_address(server)
        return True
    except ValueError:
        return valid_hostname(server) and len(server) <= 253


def check_servers(servers: list[str]) -> list[str]:
    if len(servers) > MAX_SERVERS:
        raise BadRequest(f"at most {MAX_SERVERS} NTP servers", code="invalid_field",
                         detail={"field": "ntp_servers"})
    for server in servers:
        if not valid_server(server):
            raise BadRequest(f"{server!r} is neither a hostname nor an IP address",
                             code="invalid_field", detail={"field": "ntp_servers"})
    return list(dict.fromkeys(servers))  # in order, once each


def render(servers: list[str]) -> str:
    return HEADER + "".join(f"server {s} iburst\n" for s in servers)


def read_servers(path: Path) -> list[str]:
    """The servers in rockd's sources file (none when there is no file)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [parts[1] for parts in (line.split() for line in lines)
            if len(parts) >= 2 and parts[0] in ("server", "pool")]


def chronyc(settings: Settings, *args: str) -> list[str]:
    return ["chronyc", "-h", str(settings.chrony_socket), *args]


async def write_servers(settings: Settings, servers: list[str]) -> None:
    """Write the sources file and have chronyd read it again (when chronyd runs)."""
    write_atomically(settings.chrony_sources, render(servers))
    await run(chronyc(settings, "reload", "sources"), timeout=TIMEOUT)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_tracking(line: str) -> dict[str, Any]:
    """`chronyc -c tracking`: reference id, name, stratum, reference time, system time offset,
    last offset, RMS offset, frequency, residual, skew, root delay, root dispersion, update
    interval, leap status."""
    fields = line.strip().split(",")
    if len(fields) < 14:
        raise ValueError(f"unexpected chronyc tracking output: {line.strip()!r}")
    leap = fields[13]
    synchronized = leap != "Not synchronised" and fields[0] != "00000000"
    offset = _number(fields[4])
    return {
        "synchronized": synchronized,
        "reference": (fields[1] or fields[0]) if synchronized else None,
        "stratum": int(fields[2]) if synchronized and fields[2].isdigit() else None,
        # to a tenth of a millisecond: a sample a few seconds apart changes the tree only
        # when the clock moved by something a person would notice
        "offset": round(offset, 4) + 0.0 if synchronized and offset is not None else None,
        "leap": leap,
    }


async def tracking(settings: Settings) -> dict[str, Any]:
    """The clock's state from chronyd, or {"synchronized": False, "error": ...}."""
    try:
        result = await run(chronyc(settings, "-c", "tracking"), timeout=TIMEOUT)
        return parse_tracking(result.stdout)
    except (CommandError, ValueError) as exc:
        message = exc.stderr if isinstance(exc, CommandError) and exc.stderr else str(exc)
        return {"synchronized": False, "error": f"chronyd: {message}"}
