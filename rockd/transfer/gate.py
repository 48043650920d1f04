"""Who gets in: the ZAP authenticator of the receiver's two ports. On the metadata port only the
CURVE keys of paired peers are admitted; on the data port only the PLAIN credentials (transfer
id, ticket) of a transfer being received. Refusals are counted and logged, never a ticket."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable

import zmq.asyncio
from cachetools import TTLCache
from zmq.auth.asyncio import AsyncioAuthenticator

from rockd.core.loglimit import LimitedLog
from rockd.transfer.protocol import DATA_DOMAIN

log = logging.getLogger(__name__)

REFUSAL_LOG_EVERY = 60.0
REFUSALS_REMEMBERED = 256
"""How many (key, address) pairs refused in the last minute the gate remembers."""


class Gate(AsyncioAuthenticator):
    """ZAP: admits on the metadata port only the CURVE keys of paired peers, and on the data
    port only the PLAIN credentials (transfer id, ticket) of a transfer being received. Each
    refusal is logged once a minute per key and address (a refused peer keeps trying), and
    in a few lines a minute in all, however many keys strangers try; a ticket never is."""

    def __init__(self, context: zmq.asyncio.Context, paired: Callable[[str], bool]):
        super().__init__(context, log=logging.getLogger("rockd.transfer.zap"))
        self.paired = paired
        self.tickets: dict[str, str] = {}  # transfer id -> its ticket, while it is received
        self.address = ""
        # (key or transfer id, address) refused in the last minute: each is logged once
        self.refused: TTLCache = TTLCache(maxsize=REFUSALS_REMEMBERED, ttl=REFUSAL_LOG_EVERY,
                                          timer=time.monotonic)
        self.refusals = 0
        self._log = LimitedLog(log, logging.WARNING, "replication: refused connections",
                               every=REFUSAL_LOG_EVERY)

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        self.address = msg[3].decode(errors="replace") if len(msg) > 3 else "?"
        await super().handle_zap_message(msg)

    def callback(self, domain: str, key: bytes) -> bool:
        text = key.decode("ascii", errors="replace")
        if self.paired(text):
            return True
        self._refused(text, "its key %s is not a paired peer's")
        return False

    def _authenticate_plain(self, domain: str, username: str, password: str
                            ) -> tuple[bool, bytes]:
        """(pyzmq's own logs the password it checks.)"""
        expected = self.tickets.get(username) if domain == DATA_DOMAIN.decode() else None
        if expected is not None and hmac.compare_digest(expected.encode(), password.encode()):
            return True, b"OK"
        who = username[:64] if username[:64].isprintable() else ascii(username[:64])
        self._refused(who, "no transfer %s is being received with that ticket")
        return False, b"no such transfer"

    def _refused(self, who: str, why: str) -> None:
        self.refusals += 1
        seen = (who, self.address)
        if seen not in self.refused:
            self.refused[seen] = True
            self._log("replication: refused a connection from %s: " + why, self.address, who)
