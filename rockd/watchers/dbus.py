"""A connection to the system bus (or to the bus at an address given, for tests) that comes back:
lost, it is made again with backoff, and whoever uses it is told each time it is made
(`connected`, which adds its match rules again) and lost (`lost`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dbus_fast import BusType, DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from rockd.core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

DBUS = "org.freedesktop.DBus"
DBUS_PATH = "/org/freedesktop/DBus"
CALL_TIMEOUT = 25.0  # libdbus's default for a method call


class Unavailable(Exception):
    """Who was called cannot be reached: no bus, or nobody owns the name on it."""


def rule(**keys: str) -> str:
    """A match rule for signals with these keys (sender, path, interface, member, argN)."""
    return ",".join(f"{k}='{v}'" for k, v in {"type": "signal", **keys}.items())


def plain(value: Any) -> Any:
    return value.value if isinstance(value, Variant) else value


class Connection:
    """The connection, with `message` called for every message that comes on it."""

    def __init__(self, address: str | None, message: Callable[[Message], None],
                 connected: Callable[[], Awaitable[None]], lost: Callable[[], None], *,
                 retry: tuple[float, float] = (0.5, 15.0), name: str = "D-Bus"):
        self.address = address
        self.message = message
        self.connected_hook = connected
        self.lost_hook = lost
        self.retry = retry
        self.name = name
        self._bus: MessageBus | None = None
        self._matches: set[str] = set()  # rules added on the current connection
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def open(self) -> None:
        """Connect now if the bus is there; keep trying in the background if not."""
        try:
            await self._connect()
        except Exception as exc:  # any failure to connect is retried
            log.warning("%s: cannot connect to the bus yet (%s); retrying", self.name, exc)
            self._drop()
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-bus")

    async def close(self) -> None:
        self._closed = True
        await cancel_and_wait(self._task)
        self._task = None
        self._drop()

    @property
    def connected(self) -> bool:
        return self._bus is not None and self._bus.connected

    async def _run(self) -> None:
        delay = self.retry[0]
        while not self._closed:
            if self._bus is None:
                try:
                    await self._connect()
                except Exception as exc:  # retried with backoff
                    log.debug("%s: bus not there (%s); again in %.1fs", self.name, exc, delay)
                    self._drop()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry[1])
                    continue
                log.info("%s: connected to the bus again", self.name)
                delay = self.retry[0]
            bus = self._bus
            if bus is not None:
                with contextlib.suppress(Exception):
                    await bus.wait_for_disconnect()
            if self._closed:
                return
            log.warning("%s: lost the bus; reconnecting", self.name)
            self._drop()

    async def _connect(self) -> None:
        if self.address:
            bus = MessageBus(bus_address=self.address)
        else:
            bus = MessageBus(bus_type=BusType.SYSTEM)
        self._bus = bus
        self._matches = set()
        await bus.connect()
        bus.add_message_handler(self.message)
        await self.connected_hook()

    def _drop(self) -> None:
        """Forget the connection, and say so."""
        bus, self._bus = self._bus, None
        if bus is not None:
            with contextlib.suppress(Exception):
                bus.remove_message_handler(self.message)
            with contextlib.suppress(Exception):
                bus.disconnect()
        self._matches = set()
        self.lost_hook()

    async def call(self, destination: str, path: str, interface: str, member: str,
                   signature: str = "", body: list[Any] | None = None) -> list[Any]:
        """A method call; raises DBusError as the callee answers, Unavailable if the bus does
        not carry it."""
        bus = self._bus
        if bus is None or not bus.connected:
            raise Unavailable("not connected to the system bus")
        msg = Message(destination=destination, path=path, interface=interface, member=member,
                      signature=signature, body=body or [])
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                reply = await bus.call(msg)
        except TimeoutError:
            raise Unavailable(f"{interface}.{member} had no answer in {CALL_TIMEOUT:.0f}s")\
                from None
        except (EOFError, OSError) as exc:
            raise Unavailable(f"the system bus went away: {exc}") from exc
        if reply is None:
            raise Unavailable("the system bus went away")
        if reply.message_type == MessageType.ERROR:
            raise DBusError._from_message(reply)
        return list(reply.body)

    async def match(self, match_rule: str) -> None:
        """Receive the signals `match_rule` names (once per connection)."""
        if match_rule not in self._matches:
            await self.call(DBUS, DBUS_PATH, DBUS, "AddMatch", "s", [match_rule])
            self._matches.add(match_rule)
