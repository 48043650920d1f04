"""The HTTP server under the app: the API's error shape, and a few log lines a minute, for the
requests that aiohttp's parser refuses before any route or middleware sees them (an over-long
URL or header, too many headers, a malformed request line, TLS on the HTTP port).

aiohttp answers those from its connection handler's `handle_error`, with no hook for an app
(aio-libs/aiohttp#3287), so rockd's runner makes connections with a subclass of that handler.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, ContentEncodingError, LineTooLong
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from rockd.core.errors import BadRequest, RockdError
from rockd.core.loglimit import LimitedLog
from rockd.handlers.middleware import secure
from rockd.handlers.routes import json_response

log = logging.getLogger(__name__)

MAX_URL = 8192
"""Bytes of a request's URL; over it, 414."""
MAX_FIELD = 8190
"""Bytes of one header, name and value; over it, 431. (It differs from MAX_URL so that the
parser's LineTooLong, which carries only its limit, tells which of the two was exceeded.)"""
MAX_HEADERS = 128
HANDLER_OPTIONS: dict[str, Any] = {"access_log": None, "max_line_size": MAX_URL,
                                   "max_field_size": MAX_FIELD, "max_headers": MAX_HEADERS,
                                   # bodies are inflated by the route that reads them, and
                                   # only to the size limit (rockd.handlers.routes.read_json):
                                   # one left unread is drained as the bytes it is
                                   "auto_decompress": False}

_refused = LimitedLog(log, logging.INFO, "bad HTTP requests refused")
_failed = LimitedLog(log, logging.ERROR, "requests failed outside the app")


def _with_status(error: RockdError, status: int) -> RockdError:
    error.status = status
    return error


def refusal(exc: BaseException | None, status: int, max_url: int) -> RockdError:
    """What the API answers for a request the parser refused with `exc` (or, for `status`
    500, that failed outside the app's middleware)."""
    if status >= 500:
        return RockdError("internal error; see the daemon's log")
    if isinstance(exc, LineTooLong):
        limit = exc.args[1]
        if limit == max_url:
            return _with_status(RockdError(f"the URL is longer than {limit} bytes",
                                           code="uri_too_long",
                                           detail={"max_size": limit}), 414)
        return _with_status(RockdError(f"a header is longer than {limit} bytes",
                                       code="headers_too_large",
                                       detail={"max_size": limit}), 431)
    if isinstance(exc, BadHttpMessage) and exc.message.startswith("Too many headers"):
        return _with_status(RockdError(f"the request has more than {MAX_HEADERS} headers",
                                       code="headers_too_large",
                                       detail={"max_headers": MAX_HEADERS}), 431)
    if isinstance(exc, ContentEncodingError):
        return BadRequest("rockd cannot decode the body's Content-Encoding",
                          code="malformed_body")
    return BadRequest("the request is not valid HTTP/1.1", code="malformed_request")


class ApiRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering what it refuses in the API's error shape."""

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("a response was partly sent; no error can follow it")
        error = refusal(exc, status, self.max_line_size)
        if error.status >= 500:
            _failed("unhandled error in %s %s", request.method, request.raw_path, exc_info=exc)
        else:
            _refused("refused a bad HTTP request from %s: %d %s (%s)", request.remote,
                     error.status, error.code, type(exc).__name__)
        response = json_response(error.body(), status=error.status)
        secure(response, api=True)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        """aiohttp's own error lines, a few a minute. A body that does not decode, found
        while the connection drains what its route did not read, is the client's doing."""
        exc = kwargs.get("exc_info")
        if isinstance(exc, RequestPayloadError):
            peer = self.transport.get_extra_info("peername") if self.transport else None
            _refused("refused a malformed request body from %s (%s)",
                     peer[0] if peer else "?", type(exc.__cause__ or exc).__name__)
        else:
            _failed(*args, exc_info=exc)


class ApiServer(web.Server):
    """aiohttp's low-level server, making `ApiRequestHandler` connections."""

    def __init__(self, handler: Any, *, loop: asyncio.AbstractEventLoop, **kwargs: Any):
        super().__init__(handler, loop=loop, **kwargs)
        self.loop = loop

    def __call__(self) -> RequestHandler:
        return ApiRequestHandler(self, loop=self.loop, **HANDLER_OPTIONS)


class ApiRunner(web.AppRunner):
    """An AppRunner whose server is an `ApiServer` (with rockd's limits on requests)."""

    def __init__(self, app: web.Application, *, shutdown_timeout: float):
        super().__init__(app, handle_signals=False, shutdown_timeout=shutdown_timeout)

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # starts the app up and freezes it
        return ApiServer(made.request_handler, request_factory=made.request_factory,
                         handler_cancellation=made.handler_cancellation,
                         loop=asyncio.get_running_loop())
