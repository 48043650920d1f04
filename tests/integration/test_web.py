"""The web UI's shell and files as rockd serves them."""

import re

import aiohttp


async def test_shell_has_a_strict_csp_with_a_fresh_nonce(daemon):
    async with aiohttp.ClientSession() as session:
        pages = []
        for _ in range(2):
            async with session.get(daemon.url + "/") as response:
                assert response.status == 200
                assert response.content_type == "text/html"
                pages.append((response.headers["Content-Security-Policy"], await response.text()))
    nonces = []
    for csp, html in pages:
        nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
        nonces.append(nonce)
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp
        scripts = re.findall(r"<script[^>]*>", html)
        assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts)
        assert '"lit":"/web/node_modules/lit/index.js"' in html
        assert 'name="rockd-setup" content="done"' in html  # ROCKD_ADMIN_PASSWORD made admin
    assert nonces[0] != nonces[1]


async def test_ui_modules_and_their_npm_libraries_are_served(daemon):
    async with aiohttp.ClientSession() as session:
        for path in ("/web/app.js", "/web/store.js", "/web/api.js", "/web/style.css",
                     "/web/node_modules/lit/index.js",
                     "/web/node_modules/@lit/reactive-element/reactive-element.js"):
            async with session.get(daemon.url + path) as response:
                assert response.status == 200, path
                assert len(await response.read()) > 100
        async with session.get(daemon.url + "/web/../rockd.sqlite3") as response:
            assert response.status == 404
