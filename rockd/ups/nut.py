"""NUT's network protocol (upsd, TCP port 3493), the little of it rockd needs: a UPS's
variables (`LIST VAR`), and a login check of a user and password (`USERNAME`, `PASSWORD`,
`LOGIN`, `LOGOUT`). One short connection per question; a line protocol, read with asyncio.

Also the words of `ups.status` (OL, OB, LB, ...) in plain words.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

TIMEOUT = 5.0
VAR_LINE = re.compile(r'^VAR (\S+) (\S+) "((?:[^"\\]|\\.)*)"$')

STATUS_WORDS = {
    "OL": "online", "OB": "on battery", "LB": "low battery", "HB": "high battery",
    "RB": "replace battery", "CHRG": "charging", "DISCHRG": "discharging",
    "BYPASS": "on bypass", "CAL": "calibrating", "OFF": "offline", "OVER": "overloaded",
    "TRIM": "trimming voltage", "BOOST": "boosting voltage", "FSD": "forced shutdown",
    "ALARM": "alarm", "TEST": "testing",
}
ERRORS = {
    "ACCESS-DENIED": "the server refused the user or password",
    "INVALID-PASSWORD": "the server refused the user or password",
    "INVALID-USERNAME": "the server refused the user or password",
    "UNKNOWN-UPS": "the server has no UPS of that name",
    "DRIVER-NOT-CONNECTED": "upsd has no connection to the UPS's driver",
    "DATA-STALE": "the UPS's driver has no fresh data",
}


class NutError(RuntimeError):
    """upsd answered ERR, or could not be reached; `code` is NUT's (or "unreachable")."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def quote(value: str) -> str:
    """An argument of a NUT command, quoted (a password may hold spaces and quotes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def number(text: str | None) -> float | None:
    """A variable's value as a number (None: none, or not a number)."""
    with contextlib.suppress(TypeError, ValueError):
        return float(text)  # type: ignore[arg-type]
    return None


def whole(text: str | None) -> int | None:
    value = number(text)
    return int(value) if value is not None else None


def words(status: list[str]) -> str:
    """`["OB", "DISCHRG", "LB"]` → "on battery, discharging, low battery"."""
    return ", ".join(STATUS_WORDS.get(word, word) for word in status)


class Connection:
    """One connection to upsd: `ask` sends a line and reads the answer's lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        try:
            async with asyncio.timeout(TIMEOUT):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError, ValueError) as exc:  # ValueError: a name IDNA refuses
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
                "timed out" if isinstance(exc, TimeoutError) else str(exc)
            raise NutError("unreachable",
                           f"cannot reach the NUT server {host}:{port}: {why}") from None
        return cls(reader, writer)

    async def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            self.writer.write(b"LOGOUT\n")
            self.writer.close()
            async with asyncio.timeout(1.0):
                await self.writer.wait_closed()

    async def line(self) -> str:
        async with asyncio.timeout(TIMEOUT):
            raw = await self.reader.readline()
        if not raw:
            raise NutError("unreachable", "the NUT server closed the connection")
        text = raw.decode(errors="replace").rstrip("\r\n")
        if text.startswith("ERR "):
            code = text.split()[1]
            raise NutError(code, ERRORS.get(code, f"the NUT server answered {text}"))
        return text

    async def ask(self, command: str) -> str:
        self.writer.write(command.encode() + b"\n")
        await self.writer.drain()
        return await self.line()

    async def list_vars(self, ups: str) -> dict[str, str]:
        first = await self.ask(f"LIST VAR {ups}")
        if first != f"BEGIN LIST VAR {ups}":
            raise NutError("protocol", f"unexpected answer from the NUT server: {first!r}")
        found: dict[str, str] = {}
        while (text := await self.line()) != f"END LIST VAR {ups}":
            match = VAR_LINE.match(text)
            if match:
                found[match[2]] = unquote(match[3])
        return found


async def variables(host: str, port: int, ups: str) -> dict[str, str]:
    """Every variable of UPS `ups` on upsd at `host`:`port`; NutError if it cannot answer."""
    conn = await Connection.open(host, port)
    try:
        return await conn.list_vars(ups)
    except (OSError, TimeoutError) as exc:
        raise NutError("unreachable", f"the NUT server did not answer: {exc}") from None
    finally:
        await conn.close()


async def check_login(host: str, port: int, ups: str, user: str, password: str) -> None:
    """Log in to UPS `ups` as upsmon would, and out again; NutError with the reason if the
    server refuses (or cannot be reached)."""
    conn = await Connection.open(host, port)
    try:
        await conn.ask(f"USERNAME {quote(user)}")
        await conn.ask(f"PASSWORD {quote(password)}")
        await conn.ask(f"LOGIN {ups}")
    except (OSError, TimeoutError) as exc:
        raise NutError("unreachable", f"the NUT server did not answer: {exc}") from None
    finally:
        await conn.close()
