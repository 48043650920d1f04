"""The web UI: the SPA shell (a jinja2 template with a CSP nonce) and its static files."""

from __future__ import annotations

import secrets
from pathlib import Path

import jinja2
import orjson
from aiohttp import web

from rockd import __version__
from rockd.handlers.context import CONTEXT
from rockd.handlers.middleware import SESSION_COOKIE

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("rockd", "templates"),
    autoescape=True,
)

# bare module names the UI imports, resolved to the npm packages that web/ installed
IMPORTS = {
    "lit": "/web/node_modules/lit/index.js",
    "lit/": "/web/node_modules/lit/",
    "lit-html": "/web/node_modules/lit-html/lit-html.js",
    "lit-html/": "/web/node_modules/lit-html/",
    "lit-element/": "/web/node_modules/lit-element/",
    "@lit/reactive-element": "/web/node_modules/@lit/reactive-element/reactive-element.js",
    "@lit/reactive-element/": "/web/node_modules/@lit/reactive-element/",
    "uplot": "/web/node_modules/uplot/dist/uPlot.esm.js",
    "cronstrue": "/web/node_modules/cronstrue/dist/cronstrue.min.js",
}


def default_web_root() -> Path:
    return Path(__file__).resolve().parents[2] / "web"


async def shell(request: web.Request) -> web.Response:
    """The one HTML page; every screen is drawn by the ES modules it loads."""
    nonce = secrets.token_urlsafe(16)
    auth = request.app[CONTEXT].auth
    # a signed-in browser gets its CSRF token with the page, so it starts with the stream alone
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = auth.by_session(cookie) if cookie else None
    html = TEMPLATES.get_template("index.html").render(
        nonce=nonce,
        version=__version__,
        import_map=orjson.dumps({"imports": IMPORTS}).decode(),
        needs_setup=not auth.has_users,
        user=principal.user if principal else "",
        csrf=principal.csrf if principal else "",
    )
    response = web.Response(text=html, content_type="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def install(app: web.Application, web_root: Path) -> None:
    app.router.add_get("/", shell)
    app.router.add_static("/web/", web_root, follow_symlinks=False)
