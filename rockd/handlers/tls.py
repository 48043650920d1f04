"""HTTPS: the certificate's routes, the HSTS header on TLS answers, and the plain HTTP
listener (`--http-redirect PORT`) that sends browsers to the HTTPS port with a 308."""

from __future__ import annotations

import logging
import ssl
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from pydantic import Field

from rockd.config import Settings
from rockd.core.auth import Principal
from rockd.core.errors import BadRequest
from rockd.core.models import Model
from rockd.core.resources import Tls
from rockd.handlers.hosts import host_of
from rockd.handlers.routes import Routes, json_response
from rockd.tls.certs import Pair
from rockd.tls.keeper import Certificates

log = logging.getLogger(__name__)
routes = Routes()

CERTIFICATES = web.AppKey("certificates", Certificates)
ANY_ADDRESS = ("0.0.0.0", "::")  # noqa: S104 (a listen address, not a host to redirect to)
HSTS = "max-age=31536000"
"""A year; not includeSubDomains: other hosts of the owner's domain are none of rockd's."""


class TlsUpload(Model):
    cert: str = Field(min_length=1, max_length=256 << 10,
                      description="the PEM certificate chain: the server's first, then each "
                      "issuer")
    key: str = Field(min_length=1, max_length=64 << 10,
                     description="the PEM private key of the first certificate, unencrypted")


@routes.get("/api/v1/system/tls", summary="The certificate rockd serves (also /system/tls)",
            response=Tls)
async def get_tls(request: web.Request, principal: Principal) -> dict[str, Any]:
    return request.app[CERTIFICATES].info


@routes.route("PUT", "/api/v1/system/tls", summary="Serve another certificate, from the next "
              "connection on: its chain and key are checked first", body=TlsUpload,
              response=Tls)
async def put_tls(request: web.Request, principal: Principal,
                  body: TlsUpload) -> dict[str, Any]:
    return request.app[CERTIFICATES].replace(Pair(body.cert.encode(), body.key.encode()))


@web.middleware
async def hsts(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Strict-Transport-Security on every answer over TLS (and never over plain HTTP, where
    browsers ignore it)."""
    response = await handler(request)
    if request.secure:
        response.headers.setdefault(hdrs.STRICT_TRANSPORT_SECURITY, HSTS)
    return response


def redirect_app(settings: Settings) -> web.Application:
    """An app answering every request with a permanent redirect to the same path on the
    HTTPS port, at the host the browser asked for."""

    async def redirect(request: web.Request) -> web.StreamResponse:
        name = host_of(request.headers.get(hdrs.HOST, "")) or host_of(settings.host)
        if name is None or name in ANY_ADDRESS:
            error = BadRequest("a request to rockd's HTTP port must name a host; use https://")
            return json_response(error.body(), status=error.status)
        host = f"[{name}]" if ":" in name else name
        port = "" if settings.port == 443 else f":{settings.port}"
        raise web.HTTPPermanentRedirect(f"https://{host}{port}{request.rel_url}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    return app


async def listen(runner: web.AppRunner, settings: Settings,
                 context: ssl.SSLContext | None) -> web.AppRunner | None:
    """Serve `runner` on the listen address (HTTPS when there is a context), and start the
    redirecting listener when HTTPS and --http-redirect ask for it; answer its runner."""
    await web.TCPSite(runner, settings.host, settings.port, ssl_context=context).start()
    if settings.http_redirect is None:
        return None
    if context is None:
        log.warning("--http-redirect is for HTTPS; rockd serves plain HTTP, so it is ignored")
        return None
    plain = web.AppRunner(redirect_app(settings), access_log=None)
    await plain.setup()
    await web.TCPSite(plain, settings.host, settings.http_redirect).start()
    return plain
