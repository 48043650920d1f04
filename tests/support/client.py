"""A small client of rockd's REST API and stream, as an integrator would write one."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import aiohttp
import orjson

PASSWORD = "correct horse battery staple"


def free_port(span: int = 1) -> int:
    """A port on 127.0.0.1 that is free, with the `span - 1` ports after it (replication
    listens on its port and the next)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + span <= 65536 and all(_free(p) for p in range(port + 1, port + span)):
            return port


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Api:
    """REST calls against one rockd, with either a session (cookie + CSRF) or a token."""

    def __init__(self, base: str, token: str | None = None, source: str | None = None):
        self.base = base
        self.token = token
        self.csrf = ""
        # over HTTPS, any certificate: the TLS tests check rockd's with clients of their own
        tls = base.startswith("https:")
        connector = aiohttp.TCPConnector(local_addr=(source, 0) if source else None,
                                         ssl=not tls) if source or tls else None
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             connector=connector)

    async def close(self) -> None:
        await self.session.close()

    def headers(self, method: str) -> dict[str, str]:
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.csrf and method not in ("GET", "HEAD"):
            headers["X-CSRF-Token"] = self.csrf
        return headers

    async def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                   headers: dict | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        all_headers = {**self.headers(method), **(headers or {})}
        async with self.session.request(method, self.base + path, data=data,
                                        headers=all_headers) as response:
            text = await response.read()
            value = orjson.loads(text) if text else None
            if isinstance(value, dict) and isinstance(value.get("csrf"), str):
                self.csrf = value["csrf"]
            return response.status, value

    async def login(self, username: str = "admin", password: str = PASSWORD) -> None:
        status, body = await self.call("POST", "/api/v1/auth/login",
                                       {"username": username, "password": password})
        assert status == 200, body

    async def state(self, path: str = "") -> dict:
        status, body = await self.call("GET", f"/api/v1/state?path={path}")
        assert status == 200, body
        return body

    async def stream(self, **kwargs) -> aiohttp.ClientWebSocketResponse:
        return await self.session.ws_connect(self.base + "/api/v1/stream",
                                             headers=self.headers("GET"), **kwargs)

    async def ended_job(self, job_id: str, timeout: float = 120.0) -> dict:
        """The job's entry once it has ended (tests may poll; rockd does not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, job = await self.call("GET", f"/api/v1/jobs/{job_id}")
            assert status == 200, job
            if job["state"] not in ("queued", "running", "paused"):
                return job
            await asyncio.sleep(0.05)
        raise AssertionError(f"job {job_id} did not end within {timeout:.0f} s")

    async def make_token(self, scopes: list[str], name: str = "t") -> str:
        status, body = await self.call("POST", "/api/v1/tokens", {"name": name, "scopes": scopes})
        assert status == 201, body
        return body["token"]


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> dict:
    """The next JSON message of a stream."""
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
    return orjson.loads(msg.data)
