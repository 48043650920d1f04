"""The web UI's shell and files as rockd serves them."""

import re

import aiohttp


async def test_shell_has_a_strict_csp_with_a_fresh_nonce(rockd):
    box = await rockd(login=False)
    async with aiohttp.ClientSession() as session:
        pages = []
        for _ in range(2):
            async with session.get(box.url + "/") as response:
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


async def test_ui_modules_and_their_npm_libraries_are_served(rockd):
    box = await rockd(login=False)
    async with aiohttp.ClientSession() as session:
        for path in ("/web/app.js", "/web/lib/store.js", "/web/lib/api.js", "/web/style.css",
                     "/web/views/dashboard.js", "/web/node_modules/lit/index.js",
                     "/web/node_modules/uplot/dist/uPlot.esm.js",
                     "/web/node_modules/@lit/reactive-element/reactive-element.js"):
            async with session.get(box.url + path) as response:
                assert response.status == 200, path
                assert len(await response.read()) > 100
        async with session.get(box.url + "/web/../rockd.sqlite3") as response:
            assert response.status == 404


async def test_a_signed_in_page_carries_its_user_and_csrf_token(rockd):
    box = await rockd()
    api = box.api
    async with api.session.get(box.url + "/") as response:
        html = await response.text()
    assert '<meta name="rockd-user" content="admin">' in html
    assert f'<meta name="rockd-csrf" content="{api.csrf}">' in html
    # a write with the token the page carried is accepted; the cookie alone is not enough
    status, _ = await api.call("POST", "/api/v1/tokens", {"name": "page", "scopes": ["read"]})
    assert status == 201
    api.csrf = ""
    status, body = await api.call("POST", "/api/v1/tokens", {"name": "page2", "scopes": ["read"]})
    assert status == 403, body
    async with aiohttp.ClientSession() as stranger, stranger.get(box.url + "/") as response:
        html = await response.text()
    assert "rockd-csrf" not in html and "rockd-user" not in html
