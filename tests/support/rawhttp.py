"""HTTP/1.1 as raw bytes on a socket, for requests no well-behaved client would send: an
over-long URL or header, a malformed request line, TLS on the HTTP port."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def exchange(url: str, request: bytes, timeout: float = 10.0) -> Answer:
    """Send `request` as it is to the server at `url`; answer its (first) response."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        async with asyncio.timeout(timeout):
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in filter(None, lines):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            return Answer(int(status_line.split()[1]), headers, body)
    finally:
        writer.close()
