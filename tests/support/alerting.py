"""What alerts are delivered to in tests: a real SMTP server (aiosmtpd, in its own thread, with
STARTTLS and AUTH on a self-signed certificate made here) and a webhook receiver (aiohttp, on
the test's loop). Both keep what they received, with the time it arrived."""

from __future__ import annotations

import datetime
import email
import ipaddress
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.client import free_port

USER, PASSWORD = "rockd-alerts", "s3cret-Mail"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key: (cert, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@dataclass
class Mailbox:
    """What the SMTP server received: each message with the monotonic time it arrived."""

    messages: list[tuple[float, Message]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((time.monotonic(),
                                  email.message_from_bytes(envelope.content)))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login.decode(),
                                                data.password.decode()) == (USER, PASSWORD):
            self.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def received(self) -> list[tuple[float, Message]]:
        with self.lock:
            return list(self.messages)


class SmtpServer:
    """aiosmtpd on 127.0.0.1: STARTTLS required and AUTH (USER, PASSWORD) where `tls`."""

    def __init__(self, folder: Path | None = None):
        self.mailbox = Mailbox()
        self.port = free_port()
        options: dict[str, Any] = {}
        self.cert: Path | None = None
        if folder is not None:
            self.cert, key = self_signed(folder)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert, key)
            options = {"tls_context": context, "require_starttls": True,
                       "authenticator": self.mailbox.authenticate, "auth_required": True}
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port,
                                     **options)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def settings(self, to: str = "owner@example.org") -> dict[str, Any]:
        """The `email` of PUT /api/v1/alerts/settings for this server."""
        if self.cert is None:
            return {"host": "127.0.0.1", "port": self.port, "security": "none",
                    "from": "rockd@example.org", "to": [to]}
        return {"host": "127.0.0.1", "port": self.port, "security": "starttls",
                "username": USER, "password": PASSWORD, "from": "rockd@example.org",
                "to": [to]}


def text_of(message: Message) -> str:
    """A received message's subject and plain text."""
    body = message.get_payload(decode=True) if not message.is_multipart() else b""
    return f"{message['Subject']}\n{(body or b'').decode()}"


class Receiver:
    """A webhook endpoint on 127.0.0.1: each POST kept as (time, headers, raw body, JSON)."""

    def __init__(self, fail_first: int = 0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.posts: list[tuple[float, dict[str, str], bytes, Any]] = []
        self.fail_first = fail_first
        self.runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503)
        self.posts.append((time.monotonic(), dict(request.headers), body, orjson.loads(body)))
        return web.Response(status=204)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
