"""HTTP and websocket calls to one rockd, with its API token as a bearer token."""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from rockctl import __version__
from rockctl.config import Config

TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=60)


class ApiError(Exception):
    """An error answer of rockd: its status, code, message (in words) and detail."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail

    @classmethod
    def of(cls, status: int, reason: str, text: bytes) -> ApiError:
        """The error an answer carries (the contract's `{"error": {...}}`), else its status."""
        try:
            body = orjson.loads(text) if text else None
        except orjson.JSONDecodeError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return cls(status, str(error.get("code", "error")), error["message"],
                       error.get("detail"))
        return cls(status, f"http_{status}", f"rockd answered {status} {reason}".strip())


class Unreachable(Exception):
    """rockd could not be reached (or the connection broke)."""


class Client:
    """An open connection pool to one rockd; use as `async with Client(config) as client`."""

    def __init__(self, config: Config):
        self.config = config
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        context = ssl.create_default_context(cafile=self.config.ca) \
            if self.config.url.startswith("https://") else None
        connector = aiohttp.TCPConnector(ssl=context) if context else None
        # a session cookie (`rockctl login`) from an address such as 127.0.0.1 is kept too
        self.session = aiohttp.ClientSession(timeout=TIMEOUT, connector=connector,
                                             headers=self._headers(),
                                             cookie_jar=aiohttp.CookieJar(unsafe=True))
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self.session is not None:
            await self.session.close()

    def _headers(self) -> dict[str, str]:
        return {"User-Agent": f"rockctl/{__version__}", "Accept": "application/json"}

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.token}"} if self.config.token else {}

    async def call(self, method: str, path: str, body: Any = None,
                   query: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> Any:
        """The decoded answer of `method path`; ApiError for an error status."""
        assert self.session is not None, "use the client in `async with`"
        data = orjson.dumps(body) if body is not None else None
        headers = {**self._auth(), **(headers or {}),
                   **({"Content-Type": "application/json"} if data is not None else {})}
        try:
            async with self.session.request(method, self.config.url + path, data=data,
                                            params=query, headers=headers) as response:
                text = await response.read()
                if response.status >= 400:
                    raise ApiError.of(response.status, response.reason or "", text)
                if not text:
                    return None
                if response.content_type == "application/json":
                    return orjson.loads(text)
                return text.decode(errors="replace")
        except aiohttp.ClientError as exc:
            raise Unreachable(self._unreachable(exc)) from None

    async def stream(self) -> aiohttp.ClientWebSocketResponse:
        """The state stream's websocket."""
        assert self.session is not None, "use the client in `async with`"
        try:
            return await self.session.ws_connect(self.config.url + "/api/v1/stream",
                                                 heartbeat=20.0, headers=self._auth())
        except aiohttp.WSServerHandshakeError as exc:
            raise ApiError(exc.status, f"http_{exc.status}",
                           f"the stream was refused: {exc.status} {exc.message}") from None
        except aiohttp.ClientError as exc:
            raise Unreachable(self._unreachable(exc)) from None

    def _unreachable(self, exc: aiohttp.ClientError) -> str:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            reason = (f"its certificate is not trusted ({exc.certificate_error}); give the "
                      "certificate to trust with --ca, $ROCKCTL_CA or ca = in the config file")
        return f"cannot reach rockd at {self.config.url}: {reason}"
