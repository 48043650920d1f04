"""The Host check: a browser-facing request must name this machine (against DNS rebinding).

A page on another site can point its own DNS name at this machine, and the browser then
treats rockd as that site: it could create the administrator of a fresh box, or try
passwords. Such a request always carries the attacker's name in `Host`. So a request without
an `Authorization: Bearer` token (a browser's) is answered only when its Host, port left off,
is an IP address, `localhost`, one of this machine's own names (short, fully qualified and
NAME.local) or a name in the `allowed_hosts` setting; otherwise 403 `host_not_allowed`.
A request with no Host at all comes from no browser, and the health check answers every
Host, for monitors and load balancers.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from rockd.core.errors import Forbidden

ANY_HOST = frozenset({"/api/v1/health"})


def host_of(header: str) -> str | None:
    """The name or address in a Host header, lower case, without port, brackets or a final
    dot; None if it is not a valid `host[:port]`."""
    if header.startswith("["):
        name, sep, rest = header[1:].partition("]")
        if not sep or _ip_version(name) != 6 or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    else:
        name, sep, port = header.partition(":")
        port = port if sep else None
    if not name or (port is not None and not port.isdigit()):
        return None
    return name.lower().removesuffix(".")


def _ip_version(text: str) -> int | None:
    """4 or 6 for an IP address literal, None for anything else."""
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None


@lru_cache(maxsize=1)
def own_names(hostname: str) -> frozenset[str]:
    """`localhost` and the machine's names: as given, fully qualified, short, and NAME.local."""
    full = {hostname, socket.getfqdn(hostname)}
    short = {name.split(".", 1)[0] for name in full}
    names = {"localhost", *full, *short, *(f"{name}.local" for name in short)}
    return frozenset(name.lower().removesuffix(".") for name in names if name)


def _has_bearer_token(request: web.Request) -> bool:
    scheme, _, secret = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    return scheme.lower() == "bearer" and bool(secret.strip())


def host_check(allowed: Iterable[str]) -> Middleware:
    """The middleware, with `allowed` (the allowed_hosts setting) as further names."""
    extra = frozenset(name for name in (host_of(str(a)) for a in allowed) if name)
    own_names(socket.gethostname())  # resolve the full name once now, not in a request

    def is_allowed(name: str) -> bool:
        return (_ip_version(name) is not None or name in extra
                or name in own_names(socket.gethostname()))

    @web.middleware
    async def allowed_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get(hdrs.HOST)
        if header is not None and request.path not in ANY_HOST and not _has_bearer_token(request):
            name = host_of(header)
            if name is None or not is_allowed(name):
                raise Forbidden(f"this server does not answer to the host {header!r}; a name "
                                "it should answer to goes in --allowed-hosts",
                                code="host_not_allowed")
        return await handler(request)

    return allowed_host
