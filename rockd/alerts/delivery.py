"""Sending alerts: email over SMTP, webhooks (JSON POST, HMAC-signed, retried with back-off),
and the per-channel outbox that turns a flapping condition into one message and one digest.

A change is `{"change": "raised"|"cleared"|"escalated", "alert": the alert}`. An outbox sends
the first change of an alert (by kind and subject) at once; a later change of the same alert
within the window is kept, and everything kept goes out as one digest when the window ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
import orjson

log = logging.getLogger(__name__)

Change = dict[str, Any]
Send = Callable[[list[Change]], Awaitable[None]]
SIGNATURE_HEADER = "X-Rockd-Signature"
BACKOFF = (1.0, 2.0, 4.0)
"""Seconds between a webhook's tries (so four tries in all)."""
TIMEOUT = 10.0


class DeliveryError(Exception):
    """A channel could not deliver; the message says why, in words."""


# -- the words of a message ----------------------------------------------------------------------

def subject_line(changes: list[Change]) -> str:
    host = socket.gethostname()
    if len(changes) == 1:
        change, alert = changes[0]["change"], changes[0]["alert"]
        state = "cleared" if change == "cleared" else alert["severity"].upper()
        return f"[rockd {host}] {state}: {alert['message'].split('. ')[0]}"
    return f"[rockd {host}] digest: {len(changes)} alert changes"


def body_text(changes: list[Change]) -> str:
    lines = []
    for item in changes:
        alert = item["alert"]
        lines += [f"{item['change'].upper()} ({alert['severity']}) {alert['kind']} at "
                  f"{alert['subject']}", alert["message"], f"First seen: {alert['first_seen']}"
                  + (f"; cleared: {alert['cleared']}" if alert.get("cleared") else ""), ""]
    lines.append(f"-- rockd on {socket.gethostname()}")
    return "\n".join(lines)


# -- email ---------------------------------------------------------------------------------------

def email_sender(config: dict[str, Any]) -> Send:
    """Mail each batch of changes to `config["to"]` through the configured SMTP server."""
    async def send(changes: list[Change]) -> None:
        await send_mail(config, subject_line(changes), body_text(changes))
    return send


async def send_mail(config: dict[str, Any], subject: str, text: str) -> None:
    message = EmailMessage()
    message["From"], message["To"] = config["from"], ", ".join(config["to"])
    message["Subject"] = subject
    message.set_content(text)
    security = config.get("security", "starttls")
    try:
        await aiosmtplib.send(
            message, hostname=config["host"], port=config["port"],
            username=config.get("username") or None, password=config.get("password") or None,
            use_tls=security == "tls", start_tls=security == "starttls",
            tls_context=ssl.create_default_context(), timeout=TIMEOUT)
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"mail to {config['host']}:{config['port']} failed: "
                            f"{exc.__class__.__name__}: {exc}") from None


# -- webhooks ------------------------------------------------------------------------------------

def sign(secret: str, body: bytes) -> str:
    """The signature header's value: the body's HMAC-SHA256 under `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_sender(hook: dict[str, Any], backoff: tuple[float, ...] = BACKOFF) -> Send:
    """POST each batch of changes to the hook as JSON, tried again after each of `backoff`."""
    async def send(changes: list[Change]) -> None:
        event = changes[0]["change"] if len(changes) == 1 else "digest"
        await post(hook, {"event": event, "host": socket.gethostname(),
                          "changes": changes}, backoff)
    return send


async def post(hook: dict[str, Any], payload: dict[str, Any],
               backoff: tuple[float, ...] = BACKOFF) -> None:
    body = orjson.dumps(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "rockd"}
    if hook.get("secret"):
        headers[SIGNATURE_HEADER] = sign(hook["secret"], body)
    error = ""
    for delay in (*backoff, None):
        try:
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session, \
                    session.post(hook["url"], data=body, headers=headers) as answer:
                if answer.status < 300:
                    return
                error = f"answered {answer.status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        if delay is not None:
            await asyncio.sleep(delay)
    raise DeliveryError(f"webhook {hook['url']} failed: {error}")


# -- the outbox: one message now, the rest of the window in one digest ---------------------------

class Outbox:
    """One channel's rate limit and digest."""

    def __init__(self, name: str, send: Send, window: float, config: Any = None,
                 clock: Callable[[], float] = time.monotonic):
        self.name, self.send, self.window, self.clock = name, send, window, clock
        self.config = config  # the channel's settings, to know when they change
        self.last_sent: dict[tuple[str, str], float] = {}
        self.pending: list[Change] = []
        self.timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def offer(self, change: Change) -> None:
        alert, now = change["alert"], self.clock()
        key = (alert["kind"], alert["subject"])
        last = self.last_sent.get(key)
        if last is None or now - last >= self.window:
            self.last_sent[key] = now
            self._go([change])
            return
        self.pending.append(change)
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(
                last + self.window - now, self.flush)

    def flush(self) -> None:
        """Send what was kept, as one digest."""
        self.timer = None
        batch, self.pending = self.pending, []
        if not batch:
            return
        now = self.clock()
        for change in batch:
            self.last_sent[(change["alert"]["kind"], change["alert"]["subject"])] = now
        self._go(batch)

    def _go(self, batch: list[Change]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, batch: list[Change]) -> None:
        try:
            await self.send(batch)
            log.info("alerts: %s sent %d change(s)", self.name, len(batch))
        except DeliveryError as exc:
            log.warning("alerts: %s", exc)

    async def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
