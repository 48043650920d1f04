"""HTTPS on real `rockd serve` processes: the self-signed certificate made at first start and
kept, HSTS, the Secure cookie, the HTTP redirect, and certificates uploaded (served at once)
or refused in words (the old one served still)."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess

import aiohttp
from cryptography import x509

from tests.support.certs import Authority, fingerprint, presented
from tests.support.client import PASSWORD, free_port
from tests.support.process import serve_argv, settings_for
from tests.support.rig import clean_under


async def _login_cookie(url: str) -> str:
    """The Set-Cookie header of a fresh login."""
    async with (aiohttp.ClientSession() as session,
                session.post(f"{url}/api/v1/auth/login", ssl=False,
                             json={"username": "admin", "password": PASSWORD}) as response):
        assert response.status == 200, await response.text()
        return response.headers["Set-Cookie"]


async def _hsts(url: str) -> str | None:
    async with (aiohttp.ClientSession() as session,
                session.get(f"{url}/api/v1/health", ssl=False) as response):
        return response.headers.get("Strict-Transport-Security")


async def test_self_signed_made_at_first_start_kept_and_served_with_hsts(rockd):
    redirect = free_port()
    box = await rockd(process=True, tls="self-signed", http_redirect=redirect)
    folder = box.settings.state_dir / "tls"
    cert_file = folder / "self-signed.crt"
    assert stat.S_IMODE((folder / "self-signed.key").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert socket.gethostname() in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(a) for a in names.get_values_for_type(x509.IPAddress)]
    port = box.settings.port
    # a real TLS client trusting that certificate verifies rockd, by address and by name
    served = await asyncio.to_thread(presented, port, cert_file)
    assert served == await asyncio.to_thread(presented, port, cert_file, socket.gethostname())

    status, info = await box.api.call("GET", "/api/v1/system/tls")
    assert status == 200, info
    assert info["enabled"] and info["self_signed"] and info["source"] == "self-signed"
    assert info["fingerprint"] == fingerprint(served)
    assert (await box.api.state("/system/tls"))["value"]["not_after"] == info["not_after"]

    cookie = await _login_cookie(box.url)
    assert "rockd_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert await _hsts(box.url) == "max-age=31536000"

    async with (aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{redirect}/pools?x=1",
                            allow_redirects=False) as response):
        assert response.status == 308
        assert response.headers["Location"] == f"https://127.0.0.1:{port}/pools?x=1"

    await box.restart()  # the same certificate, not a new one
    assert await asyncio.to_thread(presented, port, cert_file) == served
    status, again = await box.api.call("GET", "/api/v1/system/tls")
    assert again["fingerprint"] == info["fingerprint"]


async def test_plain_http_has_no_hsts_and_no_secure_cookie(rockd):
    box = await rockd(process=True)
    assert box.url.startswith("http://")
    assert await _hsts(box.url) is None
    cookie = await _login_cookie(box.url)
    assert "rockd_session=" in cookie and "Secure" not in cookie
    assert (await box.api.state("/system/tls"))["value"] == {"enabled": False}
    status, body = await box.api.call("PUT", "/api/v1/system/tls", {"cert": "x", "key": "y"})
    assert status == 422 and body["error"]["code"] == "tls_off", body


async def test_upload_is_served_at_once_and_bad_ones_are_refused_in_words(rockd, tmp_path):
    box = await rockd(process=True, tls="self-signed")
    port, pid = box.settings.port, box.proc.proc.pid
    authority = Authority()
    leaf, key, _ = authority.issue(["nas.example.test", "127.0.0.1"])
    chain = leaf + authority.mid_pem
    ca = tmp_path / "root.pem"
    ca.write_text(authority.root_pem)

    status, info = await box.api.call("PUT", "/api/v1/system/tls", {"cert": chain, "key": key})
    assert status == 200, info
    assert info["source"] == "uploaded" and not info["self_signed"]
    assert info["names"] == ["nas.example.test", "127.0.0.1"] and info["chain_length"] == 2
    # the next handshake presents it, verified up to the test's root; rockd did not restart
    served = await asyncio.to_thread(presented, port, ca, "nas.example.test")
    assert fingerprint(served) == info["fingerprint"] and box.proc.proc.pid == pid
    assert (await box.api.state("/system/tls"))["value"]["not_after"] == info["not_after"]

    _, other_key, _ = authority.issue(["other.example.test"])
    expired, expired_key, _ = authority.issue(["old.example.test"], days=(-30, -1))
    refusals = [
        ({"cert": chain, "key": other_key}, 422, "key_mismatch", "key"),
        ({"cert": leaf + authority.root_pem, "key": key}, 422, "broken_chain", "cert"),
        ({"cert": authority.mid_pem + leaf, "key": key}, 422, "broken_chain", "cert"),
        ({"cert": expired + authority.mid_pem, "key": expired_key}, 422, "certificate_expired",
         "cert"),
        ({"cert": "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n",
          "key": key}, 400, "invalid_certificate", "cert"),
        ({"cert": chain, "key": "not a key"}, 400, "invalid_key", "key"),
    ]
    for body, want_status, code, field in refusals:
        status, answer = await box.api.call("PUT", "/api/v1/system/tls", body)
        assert (status, answer["error"]["code"]) == (want_status, code), answer
        assert answer["error"]["detail"]["field"] == field and answer["error"]["message"]
        assert fingerprint(await asyncio.to_thread(presented, port)) == info["fingerprint"]
    status, now = await box.api.call("GET", "/api/v1/system/tls")
    assert now == info

    await box.restart()  # the upload is kept
    assert fingerprint(await asyncio.to_thread(presented, port, ca, "nas.example.test")) \
        == info["fingerprint"]


async def test_certificate_files_from_the_command_line(rockd, tmp_path):
    authority = Authority()
    leaf, key, _ = authority.issue(["localhost", "127.0.0.1"])
    (tmp_path / "chain.pem").write_text(leaf + authority.mid_pem)
    (tmp_path / "key.pem").write_text(key)
    ca = tmp_path / "root.pem"
    ca.write_text(authority.root_pem)
    box = await rockd(process=True, tls_cert=tmp_path / "chain.pem", tls_key=tmp_path / "key.pem")
    served = await asyncio.to_thread(presented, box.settings.port, ca, "localhost")
    status, info = await box.api.call("GET", "/api/v1/system/tls")
    assert info["source"] == "files" and info["fingerprint"] == fingerprint(served)
    other, other_key, _ = authority.issue(["nas.example.test"])
    status, body = await box.api.call("PUT", "/api/v1/system/tls",
                                      {"cert": other, "key": other_key})
    assert status == 409 and body["error"]["code"] == "tls_from_files", body


def test_certificate_files_that_do_not_serve_stop_rockd_in_words(tmp_path):
    authority = Authority()
    leaf, _, _ = authority.issue(["localhost"])
    _, other_key, _ = authority.issue(["other.example.test"])
    (tmp_path / "chain.pem").write_text(leaf)
    (tmp_path / "key.pem").write_text(other_key)
    settings = settings_for(tmp_path / "box", tls_cert=tmp_path / "chain.pem",
                            tls_key=tmp_path / "key.pem")
    try:
        done = subprocess.run(serve_argv(settings), capture_output=True, text=True, timeout=60,
                              env={**os.environ, "ROCKD_ADMIN_PASSWORD": ""})
    finally:
        clean_under(tmp_path / "box")
    assert done.returncode == 2, done.stderr
    assert f"rockd: cannot serve the certificate {tmp_path / 'chain.pem'}" in done.stderr
